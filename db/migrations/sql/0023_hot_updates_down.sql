ALTER TABLE workflow_schedules RESET (fillfactor);
ALTER TABLE workflow_schedule_stat_values RESET (fillfactor);
