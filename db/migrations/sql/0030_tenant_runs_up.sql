-- A tenant's runs of one unfinished status, from the statistics' counts (issue 13).
--
-- The cap of runs in flight (SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT) compares a tenant's running
-- runs with it: at every dispatcher pass that starts runs ahead, at every batch start that
-- holds pending runs, and under the per-tenant lock that holds runs back. Each counted the
-- rows, up to the cap, on the partial index of running runs: all the tenant's runs in flight,
-- plus the entries of runs finished since the last vacuum, which an index-only scan checks in
-- the heap. At 5,000 slots a second that was ~2 ms a pass (docs/benchmarks.md); a tenant
-- with 20,000 runs in flight read 20,000 entries at every batch start.
--
-- The statistics triggers already count those runs (migration 0013): every statement that
-- changes runs appends, in its own transaction, its change of each tenant's unfinished runs
-- per status to workflow_stat_tenant_deltas, and the fold moves them into the tenant's value
-- ('t:' scope) in one transaction. The value plus the deltas not folded yet, read in one
-- snapshot, is the count of the rows in that snapshot: a few rows of the tenant's deltas
-- since the last fold, whatever the number of runs. Inlined where it is called (a
-- set-returning SQL function: the planner substitutes its query), so each statement plans
-- the lookups with its own values.
--
-- The deltas are found by tenant, metric and key: by tenant alone, a lookup of the running
-- runs read every delta of the tenant since the last fold, one per report of an accepted run
-- among them (6,208 of them on a scratch cluster: 700 us, more than the count of 5,000 runs
-- it replaces). The tenant's statistics read the same index by its first column. The table
-- holds the deltas of a few seconds (the fold empties it), so the index is built at once.
CREATE INDEX workflow_stat_tenant_deltas_key_idx
    ON workflow_stat_tenant_deltas (tenant, metric, key);
DROP INDEX workflow_stat_tenant_deltas_tenant_idx;

CREATE FUNCTION wfs_tenant_runs(run_tenant text, run_status text)
RETURNS TABLE (runs bigint)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1 AS $$
    SELECT (coalesce((SELECT v.value FROM workflow_schedule_stat_values v
                      WHERE v.scope = 't:' || run_tenant AND v.metric = 'status'
                        AND v.key = run_status), 0)
            + coalesce((SELECT sum(d.value) FROM workflow_stat_tenant_deltas d
                        WHERE d.tenant = run_tenant AND d.metric = 'status'
                          AND d.key = run_status), 0))::bigint
$$;
