-- Data keys move to the key service: a wrapped key stored beside the data it seals would
-- survive its erasure in every backup. `key_version` records which key-encryption key version
-- wraps the row's data key (for `pola keys rotate`), `blind_version` which blind-index key the
-- indexes were made with (for re-indexing after a blind-index key rotation). An erased row keeps
-- its id and `erased_at` only; its email can register again.
ALTER TABLE customers
    DROP COLUMN data_key,
    ADD COLUMN nic_index BINARY(32) NULL AFTER phone_index,
    ADD COLUMN key_version INT UNSIGNED NOT NULL DEFAULT 0 AFTER nic_index,
    ADD COLUMN blind_version INT UNSIGNED NOT NULL DEFAULT 1 AFTER key_version,
    ADD COLUMN nic_sealed VARBINARY(256) NULL AFTER phone_sealed,
    ADD COLUMN erased_at DATETIME(6) NULL,
    MODIFY email_index BINARY(32) NULL,
    MODIFY email_sealed VARBINARY(1024) NULL,
    MODIFY name_sealed VARBINARY(1024) NULL,
    MODIFY password_hash VARCHAR(255) NULL,
    ADD KEY ix_customers_nic (nic_index),
    ADD KEY ix_customers_key_version (key_version),
    ADD KEY ix_customers_blind_version (blind_version);
