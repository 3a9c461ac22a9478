-- The number customers, staff and messages name an order by (the last eight hex digits of its
-- id, see model::order_number), kept beside it and indexed so that staff find an order by it.
ALTER TABLE orders
    ADD COLUMN number CHAR(8) AS (RIGHT(HEX(id), 8)) PERSISTENT,
    ADD KEY ix_orders_number (number),
    ADD KEY ix_orders_created (created_at);
