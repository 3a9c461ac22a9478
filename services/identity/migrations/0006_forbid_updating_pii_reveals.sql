CREATE TRIGGER pii_reveals_append_only_update BEFORE UPDATE ON pii_reveals FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'pii_reveals is append-only';
