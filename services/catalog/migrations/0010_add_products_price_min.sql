-- Each product's lowest active variant price (its "from" price), kept by every variant write,
-- so that a list sorted by price walks an index instead of sorting the catalogue.
ALTER TABLE products
    ADD COLUMN price_min_minor BIGINT NOT NULL DEFAULT 0 AFTER status,
    ADD KEY ix_products_price (price_min_minor, id),
    ADD KEY ix_products_category_price (category_id, price_min_minor, id);
UPDATE products p SET price_min_minor = COALESCE(
    (SELECT MIN(v.price_minor) FROM variants v WHERE v.product_id = p.id AND v.status = 'active'), 0);
