-- The partitions' estimates back to what ANALYZE measures.
DO $$
DECLARE
    part text;
BEGIN
    FOR part IN SELECT name FROM wfs_history_partitions()
                UNION ALL SELECT 'workflow_schedule_executions_default' LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN trigger_id RESET (n_distinct)', part);
    END LOOP;
END;
$$;
DROP FUNCTION wfs_history_partition_estimates(text);
