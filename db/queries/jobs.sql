-- name: job_claim_local
-- Takes jobs deferred in this same transaction for the dispatching process itself (see
-- worker/local.py). Nobody else has seen them yet; they become `doing`, owned by its worker
-- identity, so Procrastinate's stalled-job detection covers them like any other job.
UPDATE procrastinate_jobs SET status = 'doing', worker_id = %(worker_id)s
WHERE id = ANY(%(ids)s::bigint[]) AND status = 'todo'
RETURNING id;
