-- name: migration_version
SELECT version_num FROM alembic_version;

-- name: loop_health_report
-- One worker process's supervised loops, in one statement every report interval (the
-- heartbeat's). Ages are seconds on the process's monotonic clock, made instants here on the
-- database clock (or %(now)s): the worker's wall clock plays no part. `seat`: what the
-- report's `fleet_join` did (app/domain/loop_health.py Seat). The `health.report` row records
-- a seat taken (the fleet lock is held to commit) at the report's instant; a seat kept, only
-- if it is still held at that instant (a report stalled past it between the join's check and
-- this statement lets it lapse: the next report takes it under the lock); a seat refused
-- leaves the earlier, lapsed one. Returns whether the seat is the report's own instant.
INSERT INTO worker_loop_health AS h (
    process_id, loop, host, pid, stale_after_seconds, started_at, last_success_at, failures,
    last_error, reported_at, seated_at
)
SELECT %(process_id)s, u.loop, %(host)s, %(pid)s, u.stale_after,
       t.now - make_interval(secs => u.started_age),
       t.now - make_interval(secs => u.success_age),  -- NULL age (never succeeded): NULL
       u.failures, u.last_error, t.now,
       CASE WHEN u.loop = 'health.report'
                 AND (%(seat)s = 'taken'
                      OR (%(seat)s = 'kept' AND wfs_fleet_seated(%(process_id)s, t.now)))
            THEN t.now END
FROM unnest(
    %(loops)s::text[], %(stale_afters)s::float8[], %(started_ages)s::float8[],
    %(success_ages)s::float8[], %(failures)s::integer[], %(last_errors)s::text[]
) AS u(loop, stale_after, started_age, success_age, failures, last_error),
    (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now) AS t
ON CONFLICT (process_id, loop) DO UPDATE SET
    stale_after_seconds = excluded.stale_after_seconds,
    last_success_at = excluded.last_success_at,
    failures = excluded.failures,
    last_error = excluded.last_error,
    reported_at = excluded.reported_at,
    seated_at = coalesce(excluded.seated_at, h.seated_at)
RETURNING loop = 'health.report' AND coalesce(seated_at = reported_at, false) AS seated;

-- name: fleet_lock_timeout
-- How long a report or a stop waits for the fleet lock (below), in milliseconds: the
-- lock-free starts it waits for last one batch's start or one dispatcher pass; longer means
-- something is wrong (a report then goes without its seat, a stop leaves its rows).
SELECT set_config('lock_timeout', %(milliseconds)s::text, true);

-- name: fleet_join
-- The fleet lock, exclusively, until commit, for a worker process's report that takes its seat
-- (docs/architecture.md, "The fleet seat"): one whose seat has lapsed (never taken, or its
-- reports failed or were refused their seat; the test is migration 0032's wfs_fleet_seated,
-- which the lock-free starts read too). A report comes a period (plus its own pass) after the
-- last, and the stale time is at least three periods (app/supervised.py), so a process
-- reporting on time does not join again. The join waits for the lock-free starts in flight,
-- which hold the lock shared (db/queries/quotas.sql `quota_in_flight_share`): each of them
-- committed before this report, or counts its process. Waiting here holds new lock-free
-- starts back (they only try; a waiting exclusive request makes a try fail), so a stream of
-- them cannot starve a join. A row: this report joined. Without a FROM the test is a
-- one-time filter: the lock is asked for only when the seat has lapsed.
SELECT pg_advisory_xact_lock(hashtextextended('worker-fleet', 0)) AS joined
WHERE NOT wfs_fleet_seated(%(process_id)s, coalesce(%(now)s::timestamptz, clock_timestamp()));

-- name: fleet_seat_held
-- Whether the process holds its seat now (the test of execution_running_by_tenant `seated`):
-- run last in a transaction that started runs without the per-tenant lock, just before it
-- commits (app/services/attempts.py `keep_seat`).
SELECT wfs_fleet_seated(%(process_id)s, coalesce(%(now)s::timestamptz, clock_timestamp()))
    AS seated;

-- name: fleet_leave
-- The fleet lock, exclusively, until commit: a stopping process's rows are deleted once the
-- lock-free starts in flight have committed (its own are over by then: it deletes them after
-- its local runner closed, worker/runtime.py; a start cut by that close may still be
-- committing).
SELECT pg_advisory_xact_lock(hashtextextended('worker-fleet', 0));

-- name: loop_health_forget
-- Rows nobody will update again: processes silent for `forget_after` seconds, or for their
-- stale time if longer (killed: a stopping worker deletes its own rows), and an earlier process
-- with this host and pid (a restarted container has the same hostname and, again, pid 1) once
-- its rows are stale: containers on the host's network share a hostname and pid 1 while all
-- alive, and a live process's rows are what the lock-free starts count.
DELETE FROM worker_loop_health
WHERE reported_at < coalesce(%(now)s::timestamptz, clock_timestamp())
                    - make_interval(secs => greatest(%(forget_after)s, stale_after_seconds))
   OR (host = %(host)s AND pid = %(pid)s AND process_id <> %(process_id)s
       AND reported_at < coalesce(%(now)s::timestamptz, clock_timestamp())
                         - make_interval(secs => stale_after_seconds));

-- name: loop_health_remove
DELETE FROM worker_loop_health WHERE process_id = %(process_id)s;

-- name: loop_health_list
-- Every reported loop (of one host, or of all), with the seconds since its last successful
-- pass (since its process started, before the first), on the database clock (or %(now)s).
SELECT h.process_id, h.host, h.pid, h.loop, h.stale_after_seconds, h.last_success_at,
       h.failures, h.last_error, h.reported_at,
       extract(epoch FROM t.now - coalesce(h.last_success_at, h.started_at))::float8
           AS silent_seconds
FROM worker_loop_health AS h,
     (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now) AS t
WHERE %(host)s::text IS NULL OR h.host = %(host)s
ORDER BY h.host, h.pid, h.process_id, h.loop
LIMIT %(limit)s;

-- name: migration_lock_holders
-- The sessions a migration's lock likely waited for (db/migrate.py): those of this database
-- whose transaction has been open longer than `wait` seconds, oldest first: pid, role,
-- application, state, age; never their query, which may hold a secret. What another role's
-- session does shows only to a superuser or a member of pg_read_all_stats: such a session
-- (its state NULL) is listed too, as hidden.
SELECT pid, usename, application_name, state,
       round(extract(epoch FROM now() - xact_start))::bigint AS seconds
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND (xact_start < now() - make_interval(secs => %(wait)s) OR state IS NULL)
ORDER BY xact_start NULLS LAST
LIMIT 10;
