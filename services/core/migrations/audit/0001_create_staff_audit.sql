-- The audit trail of staff writes to a service's records (see pola_core::audit), in every
-- service's database (applied before the service's own migrations): written in the same
-- transaction as the change. Append-only: the triggers refuse UPDATE and DELETE from
-- any user, this service's own included.
CREATE TABLE staff_audit (
    id BINARY(16) NOT NULL PRIMARY KEY,
    staff_id BINARY(16) NOT NULL,
    action VARCHAR(64) NOT NULL,
    entity VARCHAR(32) NOT NULL,
    entity_id VARCHAR(64) NOT NULL,
    before_state JSON NULL,
    after_state JSON NULL,
    client_ip VARCHAR(45) NOT NULL,
    request_id VARCHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_staff_audit_time (created_at),
    KEY ix_staff_audit_entity (entity, entity_id, created_at),
    KEY ix_staff_audit_staff (staff_id, created_at)
) ENGINE = InnoDB;

CREATE TRIGGER staff_audit_append_only_update BEFORE UPDATE ON staff_audit FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_audit is append-only';

CREATE TRIGGER staff_audit_append_only_delete BEFORE DELETE ON staff_audit FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_audit is append-only';
