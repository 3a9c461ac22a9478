-- Who a reservation holds stock for, when holds are limited per holder (a keyed hash of a guest's
-- address): every hold of one holder counts against one limit.
ALTER TABLE reservations ADD COLUMN holder BINARY(16) NULL;
