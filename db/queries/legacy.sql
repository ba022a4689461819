-- name: legacy_schedule_triggers
-- The replaced system's schedule triggers (`scheduler import table`), run on ITS database, read
-- only. Each row as jsonb, whole: the table's columns differ between that system's versions
-- (schedule_enabled, next_run_at came later), and the mapping picks what it knows
-- (app/domain/importing.py). trigger_type is an enum there: compared as text.
SELECT to_jsonb(t) AS row
FROM workflow_triggers t
WHERE t.trigger_type::text = 'schedule';
