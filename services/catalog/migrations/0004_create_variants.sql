CREATE TABLE variants (
    id BINARY(16) NOT NULL PRIMARY KEY,
    product_id BINARY(16) NOT NULL,
    sku VARCHAR(64) NOT NULL,
    price_minor BIGINT NOT NULL,
    currency CHAR(3) NOT NULL,
    attributes JSON NOT NULL,
    status ENUM('active', 'archived') NOT NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_variants_sku (sku),
    KEY ix_variants_product (product_id, status, price_minor),
    CONSTRAINT ck_variants_price CHECK (price_minor >= 0)
) ENGINE = InnoDB;
