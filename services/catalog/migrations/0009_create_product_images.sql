-- Which pictures show a product (or one of its variants), in what order, described in the
-- shop's three languages for those who cannot see them.
CREATE TABLE product_images (
    id BINARY(16) NOT NULL PRIMARY KEY,
    product_id BINARY(16) NOT NULL,
    variant_id BINARY(16) NULL,
    hash CHAR(64) NOT NULL,
    position INT NOT NULL,
    alt_en VARCHAR(200) NOT NULL,
    alt_si VARCHAR(200) NOT NULL,
    alt_ta VARCHAR(200) NOT NULL,
    KEY ix_product_images_product (product_id, position)
) ENGINE = InnoDB;
