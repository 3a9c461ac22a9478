-- Promotions: what they take off, for whom, when, and how often. `uses` and `spent_minor`
-- count the live uses of a promotion with a usage limit or a budget (the row every checkout
-- using it locks); others are counted from `redemptions`.
CREATE TABLE promotions (
    id BINARY(16) NOT NULL PRIMARY KEY,
    name VARCHAR(120) NOT NULL,
    kind VARCHAR(20) NOT NULL,
    value_minor BIGINT NOT NULL,
    applies_to VARCHAR(10) NOT NULL,
    eligibility JSON NOT NULL,
    buy_quantity INT UNSIGNED NOT NULL DEFAULT 0,
    get_quantity INT UNSIGNED NOT NULL DEFAULT 0,
    get_product_ids JSON NOT NULL,
    bundle_quantity INT UNSIGNED NOT NULL DEFAULT 0,
    max_applications INT UNSIGNED NULL,
    priority INT NOT NULL DEFAULT 0,
    exclusive BOOLEAN NOT NULL DEFAULT FALSE,
    automatic BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    starts_at DATETIME(6) NULL,
    ends_at DATETIME(6) NULL,
    usage_limit BIGINT NULL,
    per_customer_limit BIGINT NULL,
    budget_minor BIGINT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    spent_minor BIGINT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    KEY ix_promotions_automatic (automatic, active),
    CONSTRAINT ck_promotions_counters CHECK (uses >= 0 AND spent_minor >= 0)
) ENGINE = InnoDB;
