-- The partitioned index of 0010 (first made by 0006) again, built on every partition under a
-- SHARE lock: writes wait for it.
CREATE INDEX workflow_schedule_executions_running_tenant_idx
    ON workflow_schedule_executions (tenant)
    WHERE status = 'running';
