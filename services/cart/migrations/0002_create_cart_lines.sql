-- One line per variant. A line's id is also the id of the inventory reservation that holds its
-- stock.
CREATE TABLE cart_lines (
    id BINARY(16) NOT NULL PRIMARY KEY,
    cart_id BINARY(16) NOT NULL,
    variant_id BINARY(16) NOT NULL,
    quantity INT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_cart_lines_variant (cart_id, variant_id),
    CONSTRAINT ck_cart_lines_quantity CHECK (quantity > 0)
) ENGINE = InnoDB;
