CREATE TABLE order_status_history (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id BINARY(16) NOT NULL,
    from_status VARCHAR(20) NULL,
    to_status VARCHAR(20) NOT NULL,
    actor VARCHAR(60) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_order_status_history_order (order_id, id)
) ENGINE = InnoDB;
