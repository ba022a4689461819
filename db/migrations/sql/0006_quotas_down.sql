DROP INDEX IF EXISTS workflow_schedule_executions_running_tenant_idx;
DROP TABLE IF EXISTS tenant_run_usage;
