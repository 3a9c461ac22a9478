-- How many purchases each product is in, and its category (a slug, as the catalog had it when
-- last bought): the bestsellers that fill suggestions, per category for new products.
CREATE TABLE products (
    product_id BINARY(16) NOT NULL PRIMARY KEY,
    category VARCHAR(64) NULL,
    orders INT NOT NULL,
    KEY ix_products_category (category, orders),
    KEY ix_products_orders (orders)
) ENGINE = InnoDB;
