-- A customer's one persistent cart, or a guest's (found by the hash of its cart token).
CREATE TABLE carts (
    id BINARY(16) NOT NULL PRIMARY KEY,
    customer_id BINARY(16) NULL,
    guest_token_hash BINARY(32) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_carts_customer (customer_id),
    UNIQUE KEY uq_carts_guest_token (guest_token_hash)
) ENGINE = InnoDB;
