-- name: schedule_claim_due
-- The dispatcher's claim (SPEC §4.1): active schedules due within `lookahead` seconds, oldest
-- fire instant first (their runs wait for the exact instant in the executor). SKIP
-- LOCKED lets any number of dispatchers run at once without waiting on each other: a row
-- another dispatcher holds is simply not seen. The database clock decides what is due.
-- The unfinished-run counts feed the overlap policy (allow_all does not need them); a run
-- `accepted` by its target is unfinished until its workflow reports (issue 11). No unfinished
-- run is older than the unfinished floor (migration 0010): with it, only the history's
-- partitions from the floor on are read, not every partition's index.
SELECT s.*,
       clock_timestamp() AS db_now,
       CASE WHEN s.overlap_policy = 'allow_all' THEN 0 ELSE (
           SELECT count(*) FROM workflow_schedule_executions e
           WHERE e.trigger_id = s.id AND e.tenant = s.tenant
             AND e.status IN ('pending', 'running', 'retrying', 'accepted')
             AND e.scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)
             AND NOT e.buffered) END
           AS active_runs,
       CASE WHEN s.overlap_policy <> 'buffer_one' THEN 0 ELSE (
           SELECT count(*) FROM workflow_schedule_executions e
           WHERE e.trigger_id = s.id AND e.tenant = s.tenant AND e.status = 'pending'
             AND e.scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)
             AND e.buffered) END
           AS buffered_runs
FROM workflow_schedules s
WHERE s.state = 'active'
  -- (SELECT ...) makes the bound a constant of the query, so the partial index on
  -- next_fire_at is used; a bare clock_timestamp() is volatile and would make every pass read
  -- the whole index (1.8 s instead of 1.7 ms with 1,000,000 schedules stored, measured).
  AND s.next_fire_at <= (SELECT coalesce(%(now)s::timestamptz, clock_timestamp())
                                + make_interval(secs => %(lookahead)s))
  -- Ahead of its instant, a schedule whose overlap policy looks at unfinished runs is taken
  -- only when it has none: whether the previous run overlaps is decided at the instant.
  -- (schedule_next_fire repeats this condition, so the dispatcher does not wake for it.)
  AND (s.next_fire_at <= (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()))
       OR s.overlap_policy = 'allow_all'
       OR NOT EXISTS (
           SELECT 1 FROM workflow_schedule_executions e
           WHERE e.trigger_id = s.id
             AND e.status IN ('pending', 'running', 'retrying', 'accepted')
             AND e.scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)))
ORDER BY s.next_fire_at
LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED;

-- name: schedule_next_fire
-- When the dispatcher should wake next, measured on the database clock, and how many slots
-- fall in the second that starts then (counted up to a cap, on the due index), so that a
-- crowded second is dispatched earlier.
-- `first_goes_ahead` is false when every schedule at that instant is one the claim leaves for
-- its instant (see schedule_claim_due: its overlap policy looks at unfinished runs and it has
-- one): waking `lookahead` early for it would find nothing to claim, again and again until the
-- instant (M4: a busy loop, docs/reliability.md). The dispatcher looks again every so often.
WITH t AS (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now),
first AS (SELECT min(next_fire_at) AS at FROM workflow_schedules WHERE state = 'active')
SELECT first.at AS next_fire_at,
       t.now AS db_now,
       (SELECT count(*) FROM (
            SELECT 1 FROM workflow_schedules
            WHERE state = 'active' AND next_fire_at < first.at + interval '1 second'
            LIMIT %(count_limit)s) AS crowd) AS due_in_second,
       -- The same condition as the claim's, on the due index (equality), stopping at the
       -- first schedule that can go ahead.
       first.at <= t.now OR EXISTS (
           SELECT 1 FROM workflow_schedules s
           WHERE s.state = 'active' AND s.next_fire_at = first.at
             AND (s.overlap_policy = 'allow_all' OR NOT EXISTS (
                 SELECT 1 FROM workflow_schedule_executions e
                 WHERE e.trigger_id = s.id
                   AND e.status IN ('pending', 'running', 'retrying', 'accepted')
                   AND e.scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor))))
           AS first_goes_ahead
FROM first, t;

-- name: schedule_advance_many
-- Moves each claimed schedule to its next slot after a pass. Not a user change: `version`
-- stays, so a client's If-Match is not broken by every fire.
UPDATE workflow_schedules AS s SET
    state = u.state,
    next_run_at = u.next_run_at,
    next_fire_at = u.next_fire_at,
    remaining_runs = u.remaining_runs,
    missed_uncounted = s.missed_uncounted + u.missed_uncounted,
    updated_at = clock_timestamp()
FROM unnest(
    %(ids)b::uuid[], %(states)b::text[], %(next_run_ats)b::timestamptz[],
    %(next_fire_ats)b::timestamptz[], %(remaining_runs)b::integer[],
    %(missed_uncounted)b::bigint[]
) AS u(id, state, next_run_at, next_fire_at, remaining_runs, missed_uncounted)
WHERE s.id = u.id;

-- name: schedule_pause_unusable
-- A claimed schedule that cannot be planned any more (a stored zone that a tzdata upgrade
-- removed, a cron expression this version refuses) is paused with a note saying why, in the
-- pass that found it, so that one bad row cannot stop every schedule behind it. A change of
-- the schedule: its version moves.
UPDATE workflow_schedules AS s SET
    enabled = false,
    state = 'paused',
    next_run_at = NULL,
    next_fire_at = NULL,
    pause_note = u.note,
    version = s.version + 1,
    updated_at = clock_timestamp()
FROM unnest(%(ids)s::uuid[], %(notes)s::text[]) AS u(id, note)
WHERE s.id = u.id;
