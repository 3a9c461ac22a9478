-- Codes, upper case: a promotion's own code (no limit of its own), or bulk-generated ones
-- (each usable `max_uses` times).
CREATE TABLE promotion_codes (
    code VARCHAR(40) NOT NULL PRIMARY KEY,
    promotion_id BINARY(16) NOT NULL,
    max_uses BIGINT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    KEY ix_promotion_codes_promotion (promotion_id),
    CONSTRAINT ck_promotion_codes_uses CHECK (uses >= 0)
) ENGINE = InnoDB;
