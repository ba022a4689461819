-- name: execution_prune_batch
-- One bounded batch of expired history (SPEC §6) in the DEFAULT partition: the range
-- partitions are retired whole (history_partitions.sql), so rows are deleted one by one only
-- where no range partition covers their slot (far backfills, runs kept back by a retirement).
-- Finished runs only, oldest first; deleted through the parent table, so the statistics
-- trigger counts them; matched on the full primary key, so only the DEFAULT partition is read.
-- SKIP LOCKED and a small LIMIT keep each transaction short, so pruning never holds up firing.
WITH gone AS (
    DELETE FROM workflow_schedule_executions AS e
    USING (
        SELECT id, scheduled_at FROM workflow_schedule_executions_default
        WHERE created_at < coalesce(%(now)s::timestamptz, clock_timestamp())
                           - make_interval(days => %(days)s)
          AND status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled')
        ORDER BY created_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS d
    WHERE e.id = d.id AND e.scheduled_at = d.scheduled_at
    RETURNING 1
)
SELECT count(*) AS n FROM gone;

-- name: job_prune_batch
-- Procrastinate's finished jobs: the execution table is the durable history. Their events go
-- with them (ON DELETE CASCADE).
WITH gone AS (
    DELETE FROM procrastinate_jobs WHERE id IN (
        SELECT id FROM procrastinate_jobs
        WHERE status IN ('succeeded', 'failed', 'cancelled', 'aborted')
        ORDER BY id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING 1
)
SELECT count(*) AS n FROM gone;
