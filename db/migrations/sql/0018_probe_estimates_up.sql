-- The history's partitions estimate few rows per schedule (issue 13: one tenant's backlog
-- must not slow another's claim).
--
-- The claim, the wake-up and the release of buffered runs ask, for each schedule they look
-- at, whether it has an unfinished run: a probe of the partial index of unfinished runs. The
-- planner sizes that probe by 1 / (distinct schedules of the partition). When a few schedules
-- hold most of a partition's rows (a backfill of one schedule, one tenant's accepted runs
-- awaiting their workflows, a new deployment's first day), that is most of the partition, and
-- a sequential scan of the whole partition looks cheaper than the index, once per schedule
-- probed: 50,000 accepted runs of one schedule in a partition made every claim of anyone's
-- 250 schedules read all of them 250 times (~1.1 s a claim instead of ~1 ms). Or every
-- unfinished run was read once per statement (a hashed subplan): 200,000 of one tenant, ~120 ms.
--
-- Each partition's trigger_id is declared to have about as many distinct values as a twentieth
-- of its rows (n_distinct = -0.05): a probe is sized at ~20 rows whatever the mix, and takes
-- the index. Only the partitions' own statistics change: a join of the whole history with the
-- schedules is estimated with the parent's (inherited) statistics, which stay as measured.
-- The option applies from each partition's next ANALYZE (autovacuum's, or by hand); the
-- DEFAULT partition, kept small, is analyzed here. The maintenance gives it to each partition
-- it makes, in the statement that makes it (db/queries/history_partitions.sql).

CREATE FUNCTION wfs_history_partition_estimates(part text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ALTER COLUMN trigger_id SET (n_distinct = -0.05)', part);
END;
$$;

SELECT wfs_history_partition_estimates(name) FROM wfs_history_partitions();
SELECT wfs_history_partition_estimates('workflow_schedule_executions_default');
ANALYZE workflow_schedule_executions_default;
