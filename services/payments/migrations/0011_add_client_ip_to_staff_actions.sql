-- The address the staff member acted from (as the edge saw it), for the audit trail.
ALTER TABLE staff_actions ADD COLUMN client_ip VARCHAR(45) NULL AFTER request_id;
