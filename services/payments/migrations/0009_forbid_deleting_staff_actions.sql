CREATE TRIGGER staff_actions_append_only_delete BEFORE DELETE ON staff_actions FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_actions is append-only';
