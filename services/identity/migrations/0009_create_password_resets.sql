-- Password resets: a link by email or a six-digit code by SMS. The secret is kept twice: hashed
-- (with the reset's id) to check what comes back, and sealed with the customer's data key for
-- the notification worker to send; both go when it is used or expires.
CREATE TABLE password_resets (
    id BINARY(16) NOT NULL PRIMARY KEY,
    customer_id BINARY(16) NOT NULL,
    channel VARCHAR(8) NOT NULL,
    secret_hash BINARY(32) NOT NULL,
    secret_sealed VARBINARY(255) NULL,
    attempts INT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at DATETIME(6) NULL,
    KEY password_resets_customer (customer_id, created_at)
) ENGINE = InnoDB;
