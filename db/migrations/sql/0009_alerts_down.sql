ALTER TABLE workflow_schedules DROP COLUMN IF EXISTS late_after_seconds;
DROP TABLE IF EXISTS alert_deliveries;
DROP TABLE IF EXISTS alert_channels;
DROP TABLE IF EXISTS alert_incidents;
