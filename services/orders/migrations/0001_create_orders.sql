CREATE TABLE orders (
    id BINARY(16) NOT NULL PRIMARY KEY,
    customer_id BINARY(16) NOT NULL,
    status ENUM('pending_payment', 'paid', 'packed', 'shipped', 'delivered', 'cancelled', 'refunded') NOT NULL,
    currency CHAR(3) NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    KEY ix_orders_customer (customer_id, id)
) ENGINE = InnoDB;
