-- A kind of product and the typed attributes its variants carry, as data: a new kind of product
-- is a new row, not new code.
CREATE TABLE product_types (
    id BINARY(16) NOT NULL PRIMARY KEY,
    code VARCHAR(40) NOT NULL,
    name VARCHAR(100) NOT NULL,
    attributes JSON NOT NULL,
    UNIQUE KEY uq_product_types_code (code)
) ENGINE = InnoDB;
