-- The result may be written once, after the action; nothing else ever changes.
CREATE TRIGGER staff_actions_result_once BEFORE UPDATE ON staff_actions FOR EACH ROW
    IF OLD.result IS NOT NULL OR NEW.staff_id <> OLD.staff_id OR NEW.action <> OLD.action
        OR NOT (NEW.order_id <=> OLD.order_id) OR NEW.detail <> OLD.detail OR NOT (NEW.reason <=> OLD.reason)
        OR NEW.created_at <> OLD.created_at THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_actions is append-only';
    END IF;
