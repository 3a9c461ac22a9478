-- Every staff write in payments and fulfilment: who, what, which order, with what, and why.
-- Written before the action, its result after: an action without a row never happens.
CREATE TABLE staff_actions (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    staff_id BINARY(16) NOT NULL,
    action VARCHAR(40) NOT NULL,
    order_id BINARY(16) NULL,
    detail JSON NOT NULL,
    reason VARCHAR(300) NULL,
    result VARCHAR(300) NULL,
    request_id VARCHAR(64) NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_staff_actions_order (order_id, id),
    KEY ix_staff_actions_staff (staff_id, id)
) ENGINE = InnoDB;
