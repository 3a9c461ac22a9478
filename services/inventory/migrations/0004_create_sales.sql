-- Units sold to an order, per location. The key makes committing an order idempotent, and lets
-- a cancellation return exactly what was taken.
CREATE TABLE sales (
    order_id BINARY(16) NOT NULL,
    variant_id BINARY(16) NOT NULL,
    location VARCHAR(40) NOT NULL,
    quantity INT NOT NULL,
    returned_at DATETIME(6) NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (order_id, variant_id, location)
) ENGINE = InnoDB;
