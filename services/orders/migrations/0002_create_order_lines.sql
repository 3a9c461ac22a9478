-- What was bought, at the price of the moment: later catalog changes do not touch an order.
CREATE TABLE order_lines (
    order_id BINARY(16) NOT NULL,
    line_no INT NOT NULL,
    variant_id BINARY(16) NOT NULL,
    product_id BINARY(16) NOT NULL,
    sku VARCHAR(64) NOT NULL,
    title VARCHAR(300) NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    quantity INT NOT NULL,
    line_total_minor BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no)
) ENGINE = InnoDB;
