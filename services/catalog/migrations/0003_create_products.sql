CREATE TABLE products (
    id BINARY(16) NOT NULL PRIMARY KEY,
    product_type_id BINARY(16) NOT NULL,
    category_id BINARY(16) NOT NULL,
    kind ENUM('product', 'service', 'bundle') NOT NULL,
    name VARCHAR(200) NOT NULL,
    description TEXT NOT NULL,
    status ENUM('active', 'archived') NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    KEY ix_products_status (status, id),
    KEY ix_products_category (category_id, status, id),
    FULLTEXT KEY ft_products_text (name, description)
) ENGINE = InnoDB;
