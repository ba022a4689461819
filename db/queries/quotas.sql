-- name: quota_schedules_lock
-- Serialises the schedule creations of one tenant until commit (a transaction-level advisory
-- lock, released by commit or rollback), so that two creates in two API processes cannot both
-- see room for one more schedule. Other tenants use other keys and never wait.
SELECT pg_advisory_xact_lock(hashtextextended('tenant-schedules:' || %(tenant)s, 0));

-- name: quota_schedules_stored
-- Every schedule the tenant stores, whatever its state (an index-only scan of the tenant's
-- listing index).
SELECT count(*) AS stored FROM workflow_schedules WHERE tenant = %(tenant)s;

-- name: quota_run_usage
-- The tenant's runs in the previous and the current minute (no lock: a first, cheap check
-- that refuses an over-quota request before it does any work).
SELECT
    coalesce(sum(runs) FILTER (WHERE minute = %(minute)s::timestamptz - interval '1 minute'), 0)
        AS previous,
    coalesce(sum(runs) FILTER (WHERE minute = %(minute)s::timestamptz), 0) AS current
FROM tenant_run_usage
WHERE tenant = %(tenant)s AND minute >= %(minute)s::timestamptz - interval '1 minute'
  AND minute <= %(minute)s::timestamptz;

-- name: quota_run_usage_add
-- Adds runs to each tenant's bucket of this minute and returns the new totals. The upsert
-- row-locks the bucket until commit: concurrent charges of one tenant (other API processes,
-- a dispatcher's catch-up) add up one after the other, and a caller that finds the total over
-- the quota rolls its transaction back, charge included. Tenants are taken in order, so two
-- multi-tenant charges cannot deadlock. Buckets older than the previous minute are dropped.
WITH pruned AS (
    DELETE FROM tenant_run_usage
    WHERE tenant = ANY(%(tenants)s::text[])
      AND minute < %(minute)s::timestamptz - interval '1 minute'
)
INSERT INTO tenant_run_usage AS u (tenant, minute, runs)
SELECT c.tenant, %(minute)s::timestamptz, c.runs
FROM unnest(%(tenants)s::text[], %(runs)s::integer[]) AS c(tenant, runs)
ORDER BY c.tenant
ON CONFLICT (tenant, minute) DO UPDATE SET runs = u.runs + excluded.runs
RETURNING u.tenant, u.runs;

-- name: quota_runs_in_flight
-- The tenant's running runs, counted up to %(count_limit)s (its cap: more changes nothing).
SELECT count(*) AS running FROM (
    SELECT 1 FROM workflow_schedule_executions
    WHERE tenant = %(tenant)s AND status = 'running'
    LIMIT %(count_limit)s
) AS r;

-- name: quota_in_flight_waiting
-- Per tenant with runs of the batch waiting to start, those runs. No lock.
SELECT e.tenant, array_agg(e.id) AS ids
FROM workflow_schedule_executions e
WHERE e.id = ANY(%(ids)s::uuid[]) AND e.status IN ('pending', 'retrying')
GROUP BY e.tenant;

-- name: quota_in_flight_share
-- The tenants whose in-flight lock this transaction now holds shared, until commit: a start
-- of runs without the per-tenant lock (app/services/attempts.py `start_without_lock`). A
-- try: it never waits, so lock-free starts cannot deadlock with anything, and a tenant whose
-- lock a locked start holds (exclusively, quota_in_flight_lock) is not returned.
-- The fleet lock is tried shared first (once: an uncorrelated subquery): while a worker process
-- takes its seat or leaves (db/queries/health.sql `fleet_join`, `fleet_leave`), no tenant is
-- returned, and the runs start under the per-tenant lock; this start's count of the processes,
-- in a later statement, sees theirs.
SELECT t.tenant
FROM unnest(%(tenants)s::text[]) AS t(tenant)
WHERE (SELECT pg_try_advisory_xact_lock_shared(hashtextextended('worker-fleet', 0)))
  AND pg_try_advisory_xact_lock_shared(hashtextextended('tenant-in-flight:' || t.tenant, 0));

-- name: quota_in_flight_lock
-- Serialises, per tenant, the starts of batches holding runs of that tenant that wait to start,
-- until commit: two workers starting batches at once cannot both see room under the cap. It
-- also waits for the lock-free starts in flight (they hold it shared), whose runs the count
-- after it then sees.
-- Tenants are locked in order (the subquery's), so batches of several tenants cannot deadlock.
SELECT pg_advisory_xact_lock(hashtextextended('tenant-in-flight:' || t.tenant, 0))
FROM (
    SELECT DISTINCT tenant FROM workflow_schedule_executions
    WHERE id = ANY(%(ids)s::uuid[]) AND status IN ('pending', 'retrying')
    ORDER BY tenant
) AS t;

-- name: quota_in_flight_held
-- The runs of a batch that must wait because their tenant is at its cap of runs in flight:
-- each tenant's waiting runs that execution_start_attempts would start (the same condition),
-- oldest fire instant first, beyond the room its running runs leave; `full` when the tenant
-- had no room at all. Runs already `running` (a job run again after a crash) are in the count
-- already and never held.
WITH waiting AS (
    SELECT e.id, e.tenant,
           row_number() OVER (PARTITION BY e.tenant
                              ORDER BY coalesce(e.fire_at, e.scheduled_at), e.id) AS n
    FROM workflow_schedule_executions e
    WHERE e.id = ANY(%(ids)s::uuid[])
      AND NOT e.buffered
      AND e.status IN ('pending', 'retrying')
      AND (e.next_attempt_at IS NULL
           OR e.next_attempt_at <= coalesce(%(now)s::timestamptz, clock_timestamp())
                                   + interval '200 milliseconds')
),
room AS MATERIALIZED (
    -- One count per tenant of the batch (MATERIALIZED: inlined, it ran once per waiting run).
    SELECT r.tenant, count(*) AS running
    FROM workflow_schedule_executions r
    WHERE r.tenant IN (SELECT tenant FROM waiting) AND r.status = 'running'
    GROUP BY r.tenant
)
SELECT w.id, coalesce(room.running, 0) >= %(cap)s AS full,
       coalesce(%(now)s::timestamptz, clock_timestamp()) AS db_now
FROM waiting w LEFT JOIN room ON room.tenant = w.tenant
WHERE w.n > %(cap)s - coalesce(room.running, 0);
