CREATE TABLE categories (
    id BINARY(16) NOT NULL PRIMARY KEY,
    slug VARCHAR(80) NOT NULL,
    name VARCHAR(100) NOT NULL,
    parent_id BINARY(16) NULL,
    UNIQUE KEY uq_categories_slug (slug),
    KEY ix_categories_parent (parent_id)
) ENGINE = InnoDB;
