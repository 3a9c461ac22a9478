-- Memberships: plans staff define, bought as a catalogue variant; a paid order for one makes
-- its customer a member for `months`.
CREATE TABLE plans (
    id BINARY(16) NOT NULL PRIMARY KEY,
    slug VARCHAR(40) NOT NULL,
    name VARCHAR(120) NOT NULL,
    variant_id BINARY(16) NOT NULL,
    months INT UNSIGNED NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_plans_slug (slug),
    UNIQUE KEY uq_plans_variant (variant_id)
) ENGINE = InnoDB;

CREATE TABLE memberships (
    order_id BINARY(16) NOT NULL,
    plan_id BINARY(16) NOT NULL,
    customer_id BINARY(16) NOT NULL,
    starts_at DATETIME(6) NOT NULL,
    ends_at DATETIME(6) NOT NULL,
    revoked_at DATETIME(6) NULL,
    PRIMARY KEY (order_id, plan_id),
    KEY ix_memberships_customer (customer_id, ends_at)
) ENGINE = InnoDB;

-- Groups staff put customers in (`staff`, `wholesale`, …).
CREATE TABLE customer_groups (
    customer_id BINARY(16) NOT NULL,
    group_name VARCHAR(40) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (customer_id, group_name)
) ENGINE = InnoDB;
