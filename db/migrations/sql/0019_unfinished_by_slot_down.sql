-- The partial index of unfinished runs keyed by schedule only, as in 0010.
DROP INDEX workflow_schedule_executions_unfinished_idx;
CREATE INDEX workflow_schedule_executions_unfinished_idx
    ON workflow_schedule_executions (trigger_id)
    WHERE status IN ('pending', 'running', 'retrying', 'accepted');
