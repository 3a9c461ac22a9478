-- How many purchases hold both products, each pair both ways round (a product's neighbours
-- are one index range).
CREATE TABLE pairs (
    product_id BINARY(16) NOT NULL,
    other_id BINARY(16) NOT NULL,
    together INT NOT NULL,
    PRIMARY KEY (product_id, other_id)
) ENGINE = InnoDB;
