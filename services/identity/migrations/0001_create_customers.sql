CREATE TABLE customers (
    id BINARY(16) NOT NULL PRIMARY KEY,
    email VARCHAR(254) NOT NULL,
    name VARCHAR(100) NOT NULL,
    phone VARCHAR(16) NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_customers_email (email)
) ENGINE = InnoDB;
