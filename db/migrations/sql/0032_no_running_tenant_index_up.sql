-- The history keeps no index of the running runs by tenant (issue 13).
--
-- Its only readers counted a tenant's running runs for the cap of runs in flight; since
-- migration 0030 they read the statistics' counts (wfs_tenant_runs). Every run that starts
-- still added an entry (at its insert, for a run dispatched ahead and started there), left
-- behind when it ended until a vacuum (a finish is not a HOT update).
-- Dropping a partitioned index takes an ACCESS EXCLUSIVE lock on the history and its
-- partitions for the moment of the catalog change (SCHEDULER_MIGRATION_LOCK_TIMEOUT bounds
-- the wait for it); nothing is rewritten.
DROP INDEX workflow_schedule_executions_running_tenant_idx;
