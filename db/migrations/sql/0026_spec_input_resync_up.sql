-- Schedules whose current spec has another text than their input (an edit from {"n": 100} to
-- {"n": 100.0} before revision 0025) get their own spec now. Made after 0025 has committed:
-- from then on the trigger keeps every edit's spec, so none drifts after this read. It reads
-- every schedule with its current spec without locking the table (writes go on).
SELECT wfs_run_specs_sync(array_agg(s.id))
FROM workflow_schedules s
JOIN workflow_run_specs p ON p.trigger_id = s.id AND p.superseded_at IS NULL
WHERE p.input::text IS DISTINCT FROM s.input::text;
