DROP FUNCTION wfs_run_id(timestamptz);
