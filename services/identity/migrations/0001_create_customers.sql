-- Customers' personal data is never stored in clear: each row has its own data key, wrapped by
-- the key service (`data_key`), that seals the fields (`*_sealed`, AES-256-GCM with the table,
-- column and id as associated data). Look-ups go through blind indexes (`*_index`, keyed HMACs
-- of the normalised value). Destroying `data_key` makes the row's personal data unreadable.
CREATE TABLE customers (
    id BINARY(16) NOT NULL PRIMARY KEY,
    email_index BINARY(32) NOT NULL,
    phone_index BINARY(32) NULL,
    data_key VARCHAR(255) NOT NULL,
    email_sealed VARBINARY(1024) NOT NULL,
    name_sealed VARBINARY(1024) NOT NULL,
    phone_sealed VARBINARY(256) NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_customers_email (email_index),
    KEY ix_customers_phone (phone_index)
) ENGINE = InnoDB;
