CREATE TABLE refunds (
    id BINARY(16) NOT NULL PRIMARY KEY,
    order_id BINARY(16) NOT NULL,
    payment_id BINARY(16) NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency CHAR(3) NOT NULL,
    reason VARCHAR(300) NOT NULL,
    status ENUM('pending', 'done', 'failed') NOT NULL,
    -- The gateway's refund id, or the reference of a transfer made by hand.
    reference VARCHAR(64) NULL,
    -- staff:<id>, or system.
    requested_by VARCHAR(60) NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    last_error VARCHAR(300) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    KEY ix_refunds_order (order_id),
    KEY ix_refunds_status (status)
) ENGINE = InnoDB;
