DROP TRIGGER IF EXISTS workflow_schedules_notify_change ON workflow_schedules;
DROP FUNCTION IF EXISTS workflow_schedules_notify_change();
DROP TABLE IF EXISTS api_tokens;
DROP TABLE IF EXISTS workflow_schedule_executions;
DROP TABLE IF EXISTS workflow_schedules;
