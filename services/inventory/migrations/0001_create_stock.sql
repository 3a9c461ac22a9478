-- On-hand stock per variant per location. `reserved` counts units held by live reservations;
-- what can be sold is on_hand - reserved. Both never go below zero.
CREATE TABLE stock (
    variant_id BINARY(16) NOT NULL,
    location VARCHAR(40) NOT NULL,
    on_hand INT NOT NULL,
    reserved INT NOT NULL DEFAULT 0,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (variant_id, location),
    CONSTRAINT ck_stock_on_hand CHECK (on_hand >= 0),
    CONSTRAINT ck_stock_reserved CHECK (reserved >= 0)
) ENGINE = InnoDB;
