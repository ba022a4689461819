-- The history's own index duplicated the slot key (trigger_id, scheduled_at), which already
-- serves "newest first" backwards: one index less to maintain on every fire.
DROP INDEX IF EXISTS workflow_schedule_executions_trigger_recent_idx;
