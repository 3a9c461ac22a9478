-- How a shipped order travels, as its customer and the messages about it show it.
ALTER TABLE orders ADD COLUMN courier VARCHAR(40) NULL AFTER delivery_sealed, ADD COLUMN waybill VARCHAR(60) NULL AFTER courier, ADD COLUMN tracking_url VARCHAR(500) NULL AFTER waybill;
