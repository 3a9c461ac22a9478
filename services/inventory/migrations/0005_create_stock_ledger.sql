-- Every change to on_hand, with why: staff adjustments, sales and returns.
CREATE TABLE stock_ledger (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    variant_id BINARY(16) NOT NULL,
    location VARCHAR(40) NOT NULL,
    kind ENUM('adjustment', 'sale', 'return') NOT NULL,
    delta INT NOT NULL,
    on_hand_after INT NOT NULL,
    reason VARCHAR(200) NOT NULL,
    order_id BINARY(16) NULL,
    staff_id BINARY(16) NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_stock_ledger_variant (variant_id, id)
) ENGINE = InnoDB;
