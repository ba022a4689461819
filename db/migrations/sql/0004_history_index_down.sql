CREATE INDEX workflow_schedule_executions_trigger_recent_idx
    ON workflow_schedule_executions (trigger_id, scheduled_at DESC, id DESC);
