-- Every order priced here (an order that stands makes its customer's next one no first order),
-- and what it used. An order's uses are recorded once (its row is the
-- idempotency of checkout's call) and given back once (`released_at`).
CREATE TABLE priced_orders (
    order_id BINARY(16) NOT NULL PRIMARY KEY,
    customer_id BINARY(16) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    released_at DATETIME(6) NULL,
    KEY ix_priced_orders_customer (customer_id, released_at)
) ENGINE = InnoDB;

CREATE TABLE redemptions (
    order_id BINARY(16) NOT NULL,
    promotion_id BINARY(16) NOT NULL,
    code VARCHAR(40) NULL,
    customer_id BINARY(16) NOT NULL,
    amount_minor BIGINT NOT NULL,
    -- Whether the promotion's counters (and the code's) were moved, so release moves them back.
    counted BOOLEAN NOT NULL,
    code_counted BOOLEAN NOT NULL,
    customer_counted BOOLEAN NOT NULL,
    created_at DATETIME(6) NOT NULL,
    released_at DATETIME(6) NULL,
    PRIMARY KEY (order_id, promotion_id),
    KEY ix_redemptions_promotion (promotion_id, created_at)
) ENGINE = InnoDB;

-- Live uses per customer of promotions with a per-customer limit.
CREATE TABLE customer_uses (
    promotion_id BINARY(16) NOT NULL,
    customer_id BINARY(16) NOT NULL,
    uses BIGINT NOT NULL,
    PRIMARY KEY (promotion_id, customer_id),
    CONSTRAINT ck_customer_uses CHECK (uses >= 0)
) ENGINE = InnoDB;

-- One row per customer who checked out with a first-order promotion: their checks of "first
-- order" queue on it, so that two checkouts at once cannot both be the first.
CREATE TABLE customer_locks (
    customer_id BINARY(16) NOT NULL PRIMARY KEY
) ENGINE = InnoDB;
