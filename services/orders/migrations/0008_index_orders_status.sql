-- Unpaid orders past their payment window are found by status, oldest (smallest id) first.
CREATE INDEX ix_orders_status ON orders (status, id);
