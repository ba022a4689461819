-- name: job_defer_run_batches
-- One `executions.run_batch` job per chunk of `size` runs, in the order of `ids`, as
-- Procrastinate's batch defer makes such a job (procrastinate_defer_jobs_v1, its schema 3.10:
-- priority 0, no lock, args {"execution_ids": [the ids as text]}); returns the jobs' ids in
-- chunk order, and which of them were taken here. Not through Procrastinate's deferrer: it
-- sends the jobs as text, each id's JSON quotes escaped one regular-expression match at a time
-- in the worker (a steady worker's share of that in docs/benchmarks.md); here the ids go in
-- binary and the database builds the arguments.
-- The first `run_here` jobs are inserted `doing`, owned by worker `worker_id`, which runs them
-- itself (worker/local.py): what job_claim_local makes of jobs deferred `todo` in the same
-- transaction, including the identity's heartbeat, and if the identity was pruned (its
-- heartbeat looked stale, as after a database outage) they stay `todo` for any worker. Taken
-- at the insert, they wake no worker: Procrastinate notifies its workers of each job inserted
-- `todo`, at commit, and every worker then looked in vain for a job to fetch. They get no
-- `deferred` and `started` events either (nothing reads them).
-- tests/integration/test_job_deferral.py compares these jobs with Procrastinate's and with
-- job_claim_local's.
WITH runner AS (
    UPDATE procrastinate_workers SET last_heartbeat = now()
    WHERE id = %(worker_id)s AND %(run_here)s > 0
    RETURNING id
), chunks AS (
    SELECT (u.n - 1) / %(size)s AS chunk, array_agg(u.id::text ORDER BY u.n) AS ids
    FROM unnest(%(ids)b::uuid[]) WITH ORDINALITY AS u(id, n)
    GROUP BY 1
)
INSERT INTO procrastinate_jobs
    (queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, status,
     worker_id)
SELECT %(queue)s, %(task)s, 0, NULL, NULL,
       jsonb_build_object('execution_ids', to_jsonb(c.ids)), %(at)s::timestamptz,
       CASE WHEN r.id IS NULL THEN 'todo' ELSE 'doing' END::procrastinate_job_status, r.id
FROM chunks c LEFT JOIN runner r ON c.chunk < %(run_here)s
-- Inserted, and returned, in chunk order (as procrastinate_defer_jobs_v1's callers rely on).
ORDER BY c.chunk
RETURNING id, worker_id IS NOT NULL AS here;

-- name: job_claim_local
-- Takes jobs deferred in this same transaction for the process itself, when a batch hands
-- its runs in flight over to the local runner (worker/local.py `_adopt`; the dispatcher's own
-- jobs are inserted taken, job_defer_run_batches). Nobody else has seen them yet; they become `doing`, owned by its worker
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
