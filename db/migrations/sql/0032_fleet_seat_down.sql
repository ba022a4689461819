DROP FUNCTION IF EXISTS wfs_fleet_seated(uuid, timestamptz);
ALTER TABLE worker_loop_health DROP COLUMN IF EXISTS seated_at;
