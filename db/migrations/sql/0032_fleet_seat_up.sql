-- A worker process's seat in the fleet in a column of its own (docs/architecture.md, "The
-- fleet seat"). The seat was the process's `health.report` row younger than half its stale
-- time, so a report could not be written without taking the seat: a report whose join waited
-- past its lock timeout (a start without the per-tenant lock held open, a frozen process)
-- failed whole, and the process looked silent although it worked. Now the report is written
-- either way and only `seated_at` waits for the join: a process refused its seat reports its
-- loops and starts its runs under the tenants' locks. `seated_at` is set only together with
-- `reported_at`, to the same instant, so a seated process is counted alive by every other.
-- Existing rows start unseated: each process's next report takes its seat under the lock.
ALTER TABLE worker_loop_health ADD COLUMN seated_at timestamptz;

-- The seat's test, in one place for the three statements that read it (db/queries/health.sql
-- `fleet_join`, `fleet_seat_held`; db/queries/executions.sql `execution_running_by_tenant`).
-- Seated: its seat taken or kept less than half its stale time before `at`, so every other
-- process's count finds it alive for at least that half again.
CREATE FUNCTION wfs_fleet_seated(process uuid, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1 FROM worker_loop_health h
        -- The parameters by the function's name: a column named like one cannot shadow it.
        WHERE h.process_id = wfs_fleet_seated.process AND h.loop = 'health.report'
          AND h.seated_at > wfs_fleet_seated.at - make_interval(secs => h.stale_after_seconds / 2))
$$;
