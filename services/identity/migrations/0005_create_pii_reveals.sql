-- Every time a staff member revealed a customer's personal data: who, whose, which field, why,
-- when, and the request id. Append-only: the triggers of the next migrations refuse changes.
CREATE TABLE pii_reveals (
    id BINARY(16) NOT NULL PRIMARY KEY,
    staff_id BINARY(16) NOT NULL,
    customer_id BINARY(16) NOT NULL,
    field VARCHAR(16) NOT NULL,
    reason VARCHAR(500) NOT NULL,
    request_id VARCHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_pii_reveals_customer (customer_id, created_at),
    KEY ix_pii_reveals_staff (staff_id, created_at)
) ENGINE = InnoDB;
