-- One row per (customer, Idempotency-Key): the order the key stands for, and a hash of the
-- request, so that the same key with another body is refused.
CREATE TABLE idempotency_keys (
    customer_id BINARY(16) NOT NULL,
    idem_key VARCHAR(100) NOT NULL,
    request_hash BINARY(32) NOT NULL,
    order_id BINARY(16) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (customer_id, idem_key)
) ENGINE = InnoDB;
