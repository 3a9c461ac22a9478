-- How each order was priced, as it was: its codes, every adjustment and why, the delivery
-- charge, the VAT at the rate of its day. The district (one of 25, not the address) prices
-- delivery and serves reports.
ALTER TABLE orders
    ADD COLUMN pricing JSON NULL,
    ADD COLUMN discount_minor BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN delivery_fee_minor BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN vat_minor BIGINT NULL,
    ADD COLUMN district VARCHAR(40) NULL;
ALTER TABLE order_lines
    ADD COLUMN discount_minor BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN vat_minor BIGINT NULL;
