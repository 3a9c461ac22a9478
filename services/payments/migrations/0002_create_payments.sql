-- Money received (or on its way): one row per gateway payment, bank transfer or cash collected.
-- Never a card number.
CREATE TABLE payments (
    id BINARY(16) NOT NULL PRIMARY KEY,
    order_id BINARY(16) NOT NULL,
    customer_id BINARY(16) NOT NULL,
    method ENUM('payhere', 'cod', 'bank_transfer') NOT NULL,
    -- PayHere's payment_id, the bank slip's reference, or the waybill cash was collected on.
    reference VARCHAR(64) NOT NULL,
    status ENUM('pending', 'cancelled', 'failed', 'succeeded', 'charged_back') NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency CHAR(3) NOT NULL,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    outcome ENUM('open', 'applied', 'refunded') NOT NULL DEFAULT 'open',
    instrument VARCHAR(20) NULL,
    -- Why finance must look at it.
    flag VARCHAR(200) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_payments_reference (method, reference),
    KEY ix_payments_order (order_id),
    KEY ix_payments_open (status, outcome)
) ENGINE = InnoDB;
