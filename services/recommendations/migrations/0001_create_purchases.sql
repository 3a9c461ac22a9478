-- The products of every purchase (an order paid, or accepted for cash on delivery, and not
-- undone), as orders reported them: what the counts below are made of, and what a rebuild
-- checks against orders. Ids only: no people, no prices.
CREATE TABLE purchases (
    order_id BINARY(16) NOT NULL,
    product_id BINARY(16) NOT NULL,
    placed_at DATETIME(6) NOT NULL,
    recorded_at DATETIME(6) NOT NULL,
    PRIMARY KEY (order_id, product_id),
    KEY ix_purchases_recorded (recorded_at)
) ENGINE = InnoDB;
