-- The delivery address, sealed with the customer's data key (kept by the key service) and the
-- order's place as associated data: erasing the customer makes it unreadable, while the order's
-- amounts and items stay for accounting.
ALTER TABLE orders ADD COLUMN delivery_sealed VARBINARY(2048) NULL AFTER total_minor;
