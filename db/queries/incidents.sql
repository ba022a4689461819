-- Incidents (issue 12). The rules (when an incident opens, reopens, resolves
-- and is announced) are app/domain/incidents.py; these statements read and write what it
-- decides. Every writer holds the row locks of the incidents' schedules (taken in id order by
-- schedule_lock_for_incidents in schedules.sql, or already held: a finisher's
-- schedule_lock_many, the dispatcher's claim, a resume's get_for_update), so one (schedule,
-- kind) is written by one transaction at a time and the partial unique index (one open
-- incident per schedule and kind) is never raced. The outbox rows an announcement writes are
-- alert_delivery_insert_many (alert_deliveries.sql).

-- name: incident_lock_open
-- The open incidents of these (schedule, kind) pairs, locked until the transaction ends. Asked
-- after a finish whose runs may open or resolve one (a failure; a success of a schedule with
-- an incident open, schedule_record_outcomes `resolvable`): the arrays go in binary
-- (db/queries.py).
SELECT i.*
FROM alert_incidents i
JOIN unnest(%(trigger_ids)b::uuid[], %(kinds)b::text[]) AS u(trigger_id, kind)
    ON i.trigger_id = u.trigger_id AND i.kind = u.kind
WHERE i.state = 'open'
ORDER BY i.trigger_id, i.kind
FOR UPDATE OF i;

-- name: incident_latest_resolved
-- For each (schedule, kind) pair, its most recently announced resolved incident (the one a new
-- occurrence may reopen within the flapping bound). No row lock (DISTINCT ON allows none):
-- the caller holds its schedule's lock, which every writer of its incidents takes first.
SELECT DISTINCT ON (i.trigger_id, i.kind) i.*
FROM alert_incidents i
JOIN unnest(%(trigger_ids)b::uuid[], %(kinds)b::text[]) AS u(trigger_id, kind)
    ON i.trigger_id = u.trigger_id AND i.kind = u.kind
WHERE i.state = 'resolved' AND i.last_announced_at IS NOT NULL
ORDER BY i.trigger_id, i.kind, i.last_announced_at DESC;

-- name: incident_write_many
-- The new state of existing incidents, as the domain computed it.
UPDATE alert_incidents AS i SET
    state = u.state,
    opened_at = u.opened_at,
    resolved_at = u.resolved_at,
    occurrences = u.occurrences,
    last_execution_id = u.last_execution_id,
    last_announced_at = u.last_announced_at,
    updated_at = u.updated_at
FROM unnest(
    %(ids)s::uuid[], %(states)s::text[], %(opened_ats)s::timestamptz[],
    %(resolved_ats)s::timestamptz[], %(occurrences)s::integer[],
    %(last_execution_ids)s::uuid[], %(last_announced_ats)s::timestamptz[],
    %(updated_ats)s::timestamptz[]
) AS u(id, state, opened_at, resolved_at, occurrences, last_execution_id, last_announced_at,
       updated_at)
WHERE i.id = u.id
RETURNING i.*;

-- name: incident_insert_many
-- New incidents (the domain decided no open one and none to reopen exists).
INSERT INTO alert_incidents (
    tenant, trigger_id, workflow_id, kind, opened_at, occurrences, last_execution_id, summary,
    last_announced_at, updated_at
)
SELECT * FROM unnest(
    %(tenants)s::text[], %(trigger_ids)s::uuid[], %(workflow_ids)s::text[], %(kinds)s::text[],
    %(opened_ats)s::timestamptz[], %(occurrences)s::integer[], %(last_execution_ids)s::uuid[],
    %(summaries)s::text[], %(last_announced_ats)s::timestamptz[], %(opened_ats)s::timestamptz[]
)
RETURNING *;

-- name: incident_stat_deltas_insert
-- /metrics' incident counters, through the statistics deltas (folded like the runs' counts):
-- `incident_opened` per kind (+1 per new incident), `incident_open` per kind (+1 on opening or
-- reopening, -1 on resolving). /metrics then reads a few folded rows, not the incidents table.
INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
SELECT * FROM unnest(
    %(trigger_ids)s::uuid[], %(tenants)s::text[], %(metrics)s::text[], %(keys)s::text[],
    %(values)s::bigint[]
);

-- name: incident_find_late
-- run.late, from the database alone (the API's watcher: it must see it with every worker
-- stopped): schedules whose next fire instant is more than their late_after_seconds ago (the
-- dispatcher has not fired them), and runs still pending, never attempted, that long after
-- their fire instant (fired, but no worker started them). Buffered runs wait on purpose (the
-- overlap policy), so they are not late. One row per schedule, the late run if there is one.
WITH t AS (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now),
late AS (
    SELECT s.id AS trigger_id, NULL::uuid AS execution_id
    FROM workflow_schedules s, t
    -- The first condition is the indexable one (late_after_seconds is at least 1).
    WHERE s.next_fire_at < t.now - interval '1 second' AND s.state = 'active'
      AND s.next_fire_at + make_interval(secs => s.late_after_seconds) < t.now
    UNION ALL
    SELECT e.trigger_id, e.id
    FROM workflow_schedule_executions e
    JOIN workflow_schedules s ON s.id = e.trigger_id AND s.tenant = e.tenant, t
    WHERE e.status = 'pending' AND NOT e.buffered AND e.attempts = 0
      AND coalesce(e.fire_at, e.scheduled_at) + make_interval(secs => s.late_after_seconds)
          < t.now
)
SELECT DISTINCT ON (trigger_id) trigger_id, execution_id
FROM late
ORDER BY trigger_id, execution_id NULLS LAST
LIMIT %(limit)s;

-- name: incident_list_open_of_kind
SELECT * FROM alert_incidents
WHERE kind = %(kind)s AND state = 'open'
ORDER BY trigger_id
LIMIT %(limit)s;

-- name: incident_lock_unannounced
-- Open incidents whose (re)opening was not announced and whose flapping interval has passed:
-- the watcher announces them. SKIP LOCKED: a writer busy with one announces it itself.
WITH t AS (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now)
SELECT i.*
FROM alert_incidents i, t
WHERE i.state = 'open'
  AND (i.last_announced_at IS NULL OR i.last_announced_at < i.opened_at)
  AND (i.last_announced_at IS NULL
       OR i.last_announced_at + make_interval(secs => %(min_interval)s) <= t.now)
ORDER BY i.opened_at
LIMIT %(limit)s
FOR UPDATE OF i SKIP LOCKED;

-- name: incident_watch_lock
-- One watcher at a time among the API processes (the key is arbitrary, fixed: 'alerts' in
-- ASCII); released when the pass's transaction ends.
SELECT pg_try_advisory_xact_lock(1634493810) AS taken;

-- name: incident_watch_lock_timeout
-- The watcher waits at most this long for a row lock, then its pass fails and is tried again
-- (a writer frozen in the middle of its transaction must not hang it).
SET LOCAL lock_timeout = '5s';

-- name: incident_list
-- GET /api/incidents: a tenant's incidents, newest opening first, keyset-paginated.
SELECT * FROM alert_incidents
WHERE tenant = %(tenant)s
  AND (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(trigger_id)s::uuid IS NULL OR trigger_id = %(trigger_id)s)
  AND (%(after_opened_at)s::timestamptz IS NULL
       OR (opened_at, id) < (%(after_opened_at)s, %(after_id)s::uuid))
ORDER BY opened_at DESC, id DESC
LIMIT %(limit)s;

-- name: incident_get
SELECT * FROM alert_incidents WHERE id = %(id)s AND tenant = %(tenant)s;

-- name: incident_list_admin
SELECT * FROM alert_incidents
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
  AND (%(state)s::text IS NULL OR state = %(state)s)
ORDER BY opened_at DESC, id DESC
LIMIT %(limit)s;

-- name: incident_count_open
-- The tenant's open incidents (the dashboard's badge).
SELECT count(*) AS open FROM alert_incidents WHERE tenant = %(tenant)s AND state = 'open';
