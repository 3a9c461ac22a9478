-- Opaque refresh tokens, stored as SHA-256 hashes. A login starts a family; each refresh uses
-- one token up and adds the next; presenting a used token again revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash BINARY(32) NOT NULL PRIMARY KEY,
    family_id BINARY(16) NOT NULL,
    realm ENUM('customer', 'staff') NOT NULL,
    subject_id BINARY(16) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at DATETIME(6) NULL,
    revoked_at DATETIME(6) NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_refresh_tokens_family (family_id)
) ENGINE = InnoDB;
