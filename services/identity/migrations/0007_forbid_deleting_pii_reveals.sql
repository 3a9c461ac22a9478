CREATE TRIGGER pii_reveals_append_only_delete BEFORE DELETE ON pii_reveals FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'pii_reveals is append-only';
