-- name: schedule_claim_due
-- The dispatcher's claim (SPEC §4.1): active schedules due within `lookahead` seconds, or in
-- the crowded second [crowd_from, crowd_until) and within `crowd_lookahead` seconds (all NULL:
-- no crowd), oldest fire instant first (their runs wait for the exact instant in the executor). SKIP
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
  AND s.next_fire_at <= (SELECT greatest(t.now + make_interval(secs => %(lookahead)s),
                                         least(t.now + make_interval(secs => %(crowd_lookahead)s),
                                               %(crowd_until)s::timestamptz))
                         FROM (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now) t)
  -- A crowded second is dispatched from far ahead (its lead grows with its slots), but only
  -- its own schedules: one due between the short lead and the crowd keeps the short lead
  -- (an every-second schedule would otherwise be dispatched once per second of the crowd's
  -- lead, each run a committed decision). One ordered range scan with a filter, not an OR of
  -- two ranges: a bitmap of the crowd's 100,000 rows would be sorted again by every pass.
  AND (s.next_fire_at <= (SELECT coalesce(%(now)s::timestamptz, clock_timestamp())
                                 + make_interval(secs => %(lookahead)s))
       OR s.next_fire_at >= %(crowd_from)s::timestamptz)
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
-- When the dispatcher should wake next, measured on the database clock, how many slots fall
-- in the second that starts then (counted up to `count_limit`), so that a crowded second is
-- dispatched earlier, and how many dispatchers share that work (worker processes whose
-- dispatch loop reported within its stale time; at least 1: this one).
-- The count walks the due index from the earliest instant: an index-only scan while the
-- visibility map is current, else one heap visit per slot (EXPLAIN ANALYZE with 100,000 due
-- in one second: see docs/benchmarks.md); `count_limit` bounds it.
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
       greatest(1, (SELECT count(*) FROM worker_loop_health h
                    WHERE h.loop = 'dispatch'
                      AND h.reported_at > t.now - make_interval(secs => h.stale_after_seconds)))
           AS dispatchers,
       -- The planner's idea of the table's size: a crowd larger than it means the statistics
       -- predate the crowd (schedules created in bulk since the last ANALYZE).
       (SELECT reltuples::bigint FROM pg_class WHERE oid = 'workflow_schedules'::regclass)
           AS planned_rows,
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

-- name: schedule_analyze
-- Fresh statistics for the claim's plan. With statistics taken before 100,000 schedules were
-- created, the claim of a crowded second is planned for a few rows: a bitmap scan of the whole
-- crowd, sorted on disk, in every pass of 250 (138 ms instead of 0.5 ms each, EXPLAIN ANALYZE,
-- docs/benchmarks.md). ANALYZE samples a bounded number of rows; a role that does not own
-- the table gets a warning, not an error.
ANALYZE workflow_schedules;

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
