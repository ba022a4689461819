-- name: job_claim_local
-- Takes jobs deferred in this same transaction for the dispatching process itself (see
-- worker/local.py). Nobody else has seen them yet; they become `doing`, owned by its worker
-- identity, so Procrastinate's stalled-job detection covers them like any other job.
-- The identity's heartbeat is refreshed in the same statement (its row is locked until the
-- pass commits, so no one prunes it meanwhile). If another worker has already pruned it (its
-- heartbeat looked stale, as after a database outage), nothing is claimed and the jobs stay
-- `todo` for any worker, instead of the whole pass failing on the foreign key.
WITH runner AS (
    UPDATE procrastinate_workers SET last_heartbeat = now()
    WHERE id = %(worker_id)s
    RETURNING id
)
UPDATE procrastinate_jobs AS j SET status = 'doing', worker_id = runner.id
FROM runner
WHERE j.id = ANY(%(ids)s::bigint[]) AND j.status = 'todo'
RETURNING j.id;

-- name: job_worker_heartbeat
-- The local runner's heartbeat; no row means its identity was pruned (it registers again).
UPDATE procrastinate_workers SET last_heartbeat = now()
WHERE id = %(worker_id)s
RETURNING id;

-- name: job_worker_register
SELECT worker_id FROM procrastinate_register_worker_v1();

-- name: job_queue_depth
-- /metrics: jobs waiting (todo) or running (doing), at most `cap` of them counted. The endpoint
-- is anonymous by default, so nothing it runs may cost in proportion to a table's size
-- (security review M5): the partial indexes on those statuses serve it, and the LIMIT bounds
-- the work whatever the backlog.
SELECT queue_name, status, count(*)::bigint AS n FROM (
    SELECT queue_name, status::text AS status FROM procrastinate_jobs
    WHERE status IN ('todo', 'doing')
    LIMIT %(cap)s
) AS jobs
GROUP BY 1, 2;
