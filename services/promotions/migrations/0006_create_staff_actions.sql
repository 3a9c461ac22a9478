-- Every staff write to promotions, plans, groups, delivery fees and VAT rates, in the same
-- transaction as the write. Append-only.
CREATE TABLE staff_actions (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    staff_id BINARY(16) NOT NULL,
    action VARCHAR(40) NOT NULL,
    subject_id BINARY(16) NULL,
    detail JSON NOT NULL,
    request_id VARCHAR(64) NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_staff_actions_subject (subject_id, id)
) ENGINE = InnoDB;
CREATE TRIGGER staff_actions_no_delete BEFORE DELETE ON staff_actions FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_actions is append-only';
CREATE TRIGGER staff_actions_no_update BEFORE UPDATE ON staff_actions FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_actions is append-only';
