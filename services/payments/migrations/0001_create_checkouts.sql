-- How the customer chose to pay each order, and until when (one row per order).
CREATE TABLE checkouts (
    order_id BINARY(16) NOT NULL PRIMARY KEY,
    customer_id BINARY(16) NOT NULL,
    method ENUM('payhere', 'cod', 'bank_transfer') NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency CHAR(3) NOT NULL,
    -- The reference a bank transfer must carry.
    reference VARCHAR(20) NULL,
    -- A bank transfer's deadline; NULL: the payment window from the order's placement.
    pay_by DATETIME(6) NULL,
    -- No longer waiting: paid, confirmed or cancelled.
    settled BOOLEAN NOT NULL DEFAULT FALSE,
    -- When the gateway was last asked about it.
    checked_at DATETIME(6) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_checkouts_reference (reference),
    KEY ix_checkouts_open (settled, method, checked_at)
) ENGINE = InnoDB;
