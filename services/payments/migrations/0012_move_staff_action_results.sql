-- A staff action's result goes into a table of its own, appended once the action is done, so
-- that neither table is ever updated: both refuse UPDATE and DELETE, for every database user.
CREATE TABLE staff_action_results (
    action_id BIGINT NOT NULL PRIMARY KEY,
    result VARCHAR(300) NOT NULL,
    created_at DATETIME(6) NOT NULL
) ENGINE = InnoDB;
INSERT INTO staff_action_results (action_id, result, created_at)
    SELECT id, result, created_at FROM staff_actions WHERE result IS NOT NULL;
DROP TRIGGER staff_actions_result_once;
ALTER TABLE staff_actions DROP COLUMN result;
CREATE TRIGGER staff_actions_append_only_update BEFORE UPDATE ON staff_actions FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_actions is append-only';
CREATE TRIGGER staff_action_results_append_only_update BEFORE UPDATE ON staff_action_results FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_action_results is append-only';
CREATE TRIGGER staff_action_results_append_only_delete BEFORE DELETE ON staff_action_results FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'staff_action_results is append-only';
