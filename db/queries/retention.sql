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

-- name: run_spec_prune_batch
-- Retention: specs of older schedule versions (or deleted schedules) that no unfinished run
-- names any more. A spec is read for a run's attempts and for the report of its workflow's
-- result (the view workflow_execution_attempt_specs, execution_lock_for_outcome): never once
-- the run has ended, and no statement makes an ended run unfinished again (migration 0010's
-- floor trigger). So the runs to look at are the schedule's unfinished ones, on the partial
-- index of unfinished runs, above the unfinished floor; the history keeps no index of the
-- specs its runs name (migration 0028: each finish added a second entry to it).
-- Superseded for a minute at least: a run inserted by a transaction that still saw the spec
-- as current (a manual run racing the PATCH) is committed by then.
WITH gone AS (
    DELETE FROM workflow_run_specs WHERE digest IN (
        SELECT p.digest FROM workflow_run_specs p
        WHERE p.superseded_at < coalesce(%(now)s::timestamptz, clock_timestamp())
                                 - interval '1 minute'
          AND NOT EXISTS (SELECT 1 FROM workflow_schedule_executions e
                          WHERE e.trigger_id = p.trigger_id
                            AND e.status IN ('pending', 'running', 'retrying', 'accepted')
                            AND e.scheduled_at >= (SELECT at
                                                   FROM workflow_history_unfinished_floor)
                            AND e.spec_digest = p.digest)
        ORDER BY p.superseded_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING 1
)
SELECT count(*) AS n FROM gone;

-- name: schedule_owner_release_batch
-- Retention: an id whose schedule and whole history (runs, specs, unfolded statistics) are
-- gone is released, with what statistics kept of it, so that nothing of it is left for a
-- later owner to inherit (M1). The owner row's lock keeps a create of that id in progress
-- from losing its claim (see wfs_schedule_claim_id).
WITH released AS (
    DELETE FROM workflow_schedule_owners WHERE id IN (
        -- The ids of deleted schedules only (migration 0014), not every owner.
        SELECT o.id FROM workflow_schedule_ids_deleted g
        JOIN workflow_schedule_owners o ON o.id = g.id
        WHERE NOT EXISTS (SELECT 1 FROM workflow_schedules s WHERE s.id = o.id)
          AND NOT EXISTS (SELECT 1 FROM workflow_schedule_executions e
                          WHERE e.trigger_id = o.id)
          AND NOT EXISTS (SELECT 1 FROM workflow_run_specs p WHERE p.trigger_id = o.id)
          AND NOT EXISTS (SELECT 1 FROM workflow_schedule_stat_deltas d
                          WHERE d.trigger_id = o.id)
          AND NOT EXISTS (SELECT 1 FROM workflow_schedule_outcome_deltas d
                          WHERE d.trigger_id = o.id)
        LIMIT %(limit)s
        FOR UPDATE OF o SKIP LOCKED
    )
    RETURNING id
), forgotten AS (
    DELETE FROM workflow_schedule_stat_values
    WHERE scope IN (SELECT 's:' || id::text FROM released)
), unlisted AS (
    -- Off the list: the released ids, and ids whose owner a release took before (a create
    -- racing a release can leave one; it must not stay listed forever).
    DELETE FROM workflow_schedule_ids_deleted g
    WHERE g.id IN (SELECT id FROM released)
       OR NOT EXISTS (SELECT 1 FROM workflow_schedule_owners o WHERE o.id = g.id)
)
SELECT count(*) AS n FROM released;
