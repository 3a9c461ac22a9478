-- What one unit weighs packed, for delivery fees (the first kilogram is charged however light).
ALTER TABLE variants ADD COLUMN weight_grams INT UNSIGNED NOT NULL DEFAULT 0;
