ALTER TABLE workflow_schedules DROP COLUMN dispatched_fire_at;
