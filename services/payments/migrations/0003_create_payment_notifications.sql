-- Every notification a gateway (or anyone) posted, with what Pola made of it: only ids, amounts
-- and statuses, never what the customer typed.
CREATE TABLE payment_notifications (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    method ENUM('payhere', 'cod', 'bank_transfer') NOT NULL,
    order_ref VARCHAR(100) NULL,
    reference VARCHAR(100) NULL,
    status_code VARCHAR(10) NULL,
    amount VARCHAR(30) NULL,
    currency VARCHAR(10) NULL,
    verdict ENUM('accepted', 'ignored', 'refused') NOT NULL,
    reason VARCHAR(200) NULL,
    -- Correctly signed, so real money may be behind it: finance looks at these when refused.
    signed BOOLEAN NOT NULL,
    request_id VARCHAR(64) NULL,
    received_at DATETIME(6) NOT NULL,
    KEY ix_payment_notifications_order (order_ref),
    KEY ix_payment_notifications_verdict (verdict, signed)
) ENGINE = InnoDB;
