CREATE INDEX ix_reservations_holder ON reservations (holder);
