-- The trail promotions kept before every service kept this one moves over, row for row.
INSERT INTO staff_audit (id, staff_id, action, entity, entity_id, before_state, after_state, client_ip, request_id, created_at)
SELECT UNHEX(REPLACE(UUID(), '-', '')), staff_id, action, SUBSTRING_INDEX(action, '.', 1),
       COALESCE(LOWER(CONCAT_WS('-', SUBSTR(HEX(subject_id), 1, 8), SUBSTR(HEX(subject_id), 9, 4), SUBSTR(HEX(subject_id), 13, 4),
                                SUBSTR(HEX(subject_id), 17, 4), SUBSTR(HEX(subject_id), 21))), ''),
       NULL, detail, 'unknown', COALESCE(request_id, ''), created_at
FROM staff_actions ORDER BY id;

DROP TABLE staff_actions;
