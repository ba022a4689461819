-- name: schedule_insert
INSERT INTO workflow_schedules (
    id, tenant, workflow_id, cron_expression, timezone, enabled, state, pause_note,
    overlap_policy, misfire_policy, misfire_grace_seconds, catchup_window_seconds, max_attempts,
    retry_backoff_seconds, timeout_seconds, jitter_seconds, start_at, end_at, remaining_runs,
    pause_after_failures, input, target_url, next_run_at, next_fire_at, created_at, updated_at,
    completion_timeout_seconds, late_after_seconds
) VALUES (
    %(id)s, %(tenant)s, %(workflow_id)s, %(cron_expression)s, %(timezone)s, %(enabled)s,
    %(state)s, %(pause_note)s, %(overlap_policy)s, %(misfire_policy)s,
    %(misfire_grace_seconds)s, %(catchup_window_seconds)s, %(max_attempts)s,
    %(retry_backoff_seconds)s, %(timeout_seconds)s, %(jitter_seconds)s, %(start_at)s,
    %(end_at)s, %(remaining_runs)s, %(pause_after_failures)s, %(input)s, %(target_url)s,
    %(next_run_at)s, %(next_fire_at)s, %(now)s, %(now)s, %(completion_timeout_seconds)s,
    %(late_after_seconds)s
)
-- A client-chosen id already taken (by anyone) inserts nothing; the service answers 409.
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: schedule_get
SELECT * FROM workflow_schedules WHERE id = %(id)s AND tenant = %(tenant)s;

-- name: schedule_get_for_update
-- Row lock so that two concurrent changes of one schedule serialize instead of one
-- overwriting the other's recomputed next slot. The tenant is part of the condition, so it is
-- checked before the lock: another tenant's request locks nothing (a row it names is filtered
-- out before FOR UPDATE applies), so it can neither delay the owner nor hide the row from the
-- dispatcher's SKIP LOCKED claim.
SELECT * FROM workflow_schedules WHERE id = %(id)s AND tenant = %(tenant)s FOR UPDATE;

-- name: schedule_id_taken
-- Whether any tenant has a schedule with this id; reads without locking anything.
SELECT EXISTS (SELECT 1 FROM workflow_schedules WHERE id = %(id)s) AS taken;

-- name: schedule_update
-- Writes every mutable column; `version` guards against lost updates (optimistic concurrency):
-- the caller passes the version it read, and no row comes back if someone changed it since.
UPDATE workflow_schedules SET
    workflow_id = %(workflow_id)s,
    cron_expression = %(cron_expression)s,
    timezone = %(timezone)s,
    enabled = %(enabled)s,
    state = %(state)s,
    pause_note = %(pause_note)s,
    overlap_policy = %(overlap_policy)s,
    misfire_policy = %(misfire_policy)s,
    misfire_grace_seconds = %(misfire_grace_seconds)s,
    catchup_window_seconds = %(catchup_window_seconds)s,
    max_attempts = %(max_attempts)s,
    retry_backoff_seconds = %(retry_backoff_seconds)s,
    timeout_seconds = %(timeout_seconds)s,
    completion_timeout_seconds = %(completion_timeout_seconds)s,
    late_after_seconds = %(late_after_seconds)s,
    jitter_seconds = %(jitter_seconds)s,
    start_at = %(start_at)s,
    end_at = %(end_at)s,
    remaining_runs = %(remaining_runs)s,
    pause_after_failures = %(pause_after_failures)s,
    input = %(input)s,
    target_url = %(target_url)s,
    next_run_at = %(next_run_at)s,
    next_fire_at = %(next_fire_at)s,
    updated_at = %(now)s,
    version = version + 1
WHERE id = %(id)s AND tenant = %(tenant)s AND version = %(version)s
RETURNING *;

-- name: schedule_delete
DELETE FROM workflow_schedules WHERE id = %(id)s AND tenant = %(tenant)s RETURNING id;

-- name: schedule_list
-- Keyset pagination in (created_at, id) order: stable under inserts, no OFFSET scans.
SELECT * FROM workflow_schedules
WHERE tenant = %(tenant)s
  AND (%(workflow_id)s::text IS NULL OR workflow_id = %(workflow_id)s)
  AND (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (created_at, id) > (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: schedule_list_admin
-- The operator's view (`scheduler status`): every tenant, or one.
SELECT * FROM workflow_schedules
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
ORDER BY tenant, next_fire_at NULLS LAST, created_at
LIMIT %(limit)s;

-- name: schedule_get_any
SELECT * FROM workflow_schedules WHERE id = %(id)s;

-- name: schedule_counts_by_state
-- The tenant's schedules by state (GET /api/stats): a range of the tenant's listing index.
SELECT state, count(*)::bigint AS n FROM workflow_schedules
WHERE tenant = %(tenant)s GROUP BY state;

-- name: schedule_lock_for_incidents
-- The schedules an incident is about to open for, locked in id order (like schedule_lock_many:
-- concurrent writers never deadlock), with what a new incident copies from them.
SELECT id, tenant, workflow_id, late_after_seconds
FROM workflow_schedules
WHERE id = ANY(%(ids)s::uuid[])
ORDER BY id
FOR NO KEY UPDATE;

-- name: schedule_try_lock_for_incidents
-- The watcher's variant: the schedules among these that no other transaction holds, locked
-- (SKIP LOCKED). A worker frozen (SIGSTOP) in the middle of a dispatch pass holds its
-- schedules' locks until it continues; the watcher goes on with every other schedule.
SELECT id, tenant, workflow_id, late_after_seconds
FROM workflow_schedules
WHERE id = ANY(%(ids)s::uuid[])
ORDER BY id
FOR NO KEY UPDATE SKIP LOCKED;

-- name: schedule_due_backlog
-- /metrics (bounded, see metrics.sql): active schedules whose fire instant passed more than a
-- second ago, work the dispatchers have not caught up with (0 in a healthy system). A range of the partial index
-- workflow_schedules_due_idx, at most `cap` entries of it.
SELECT count(*)::bigint AS n FROM (
    SELECT 1 FROM workflow_schedules
    WHERE state = 'active'
      AND next_fire_at < coalesce(%(now)s::timestamptz, clock_timestamp()) - interval '1 second'
    LIMIT %(cap)s
) AS due;

-- name: schedule_table_bytes
-- /metrics: the size of the schedules table's main fork (no TOAST), whether an exact count by
-- state is cheap.
SELECT pg_relation_size('workflow_schedules'::regclass) AS bytes;

-- name: schedule_counts_all_by_state
-- /metrics: exact, by a scan; only used while the table is small (see schedule_table_bytes).
SELECT state, count(*)::bigint AS n FROM workflow_schedules GROUP BY state;

-- name: schedule_counts_all_by_state_estimate
-- /metrics: the planner's estimate, reading no row of the table: its row count (pg_class.reltuples, kept by
-- VACUUM/ANALYZE) times the frequency of each state among ANALYZE's sample (pg_stats). Nothing
-- comes back before the table's first ANALYZE (autovacuum runs one after a bulk load).
SELECT mcv.state, round(c.reltuples * mcv.freq)::bigint AS n
FROM pg_class AS c
CROSS JOIN LATERAL (
    SELECT unnest(s.most_common_vals::text::text[]) AS state,
           unnest(s.most_common_freqs) AS freq
    FROM pg_stats AS s
    WHERE s.schemaname = current_schema()
      AND s.tablename = 'workflow_schedules'
      AND s.attname = 'state'
) AS mcv
WHERE c.oid = 'workflow_schedules'::regclass AND c.reltuples >= 0;

-- name: schedule_get_many_for_update
-- The tenant's schedules among %(ids)s, locked until the transaction ends. One primary-key
-- lookup per id (LATERAL): with `id = ANY(...) AND tenant = ...` the planner may walk the
-- tenant's listing index instead, which a tenant bulk-loading its schedules makes longer with
-- every batch (seconds per batch at 50,000 rows before ANALYZE). The caller passes the ids
-- sorted, so two batches naming the same schedules lock them in the same order (no deadlock).
-- As in schedule_get_for_update, another tenant's row is filtered out before the lock.
SELECT s.*
FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS wanted(id, n)
CROSS JOIN LATERAL (
    SELECT * FROM workflow_schedules w
    WHERE w.id = wanted.id AND w.tenant = %(tenant)s
    FOR UPDATE
) AS s
ORDER BY wanted.n;

-- name: schedule_ids_owned_elsewhere
-- Which of %(ids)s another tenant owns (a live schedule or its history, migration 0005): a
-- create with such an id would insert nothing.
SELECT id FROM workflow_schedule_owners
WHERE id = ANY(%(ids)s::uuid[]) AND tenant <> %(tenant)s;

-- name: schedule_insert_many
-- schedule_insert for many rows in one statement (a batch: one round trip, and the statement
-- triggers, run specs and NOTIFY, run once). Callers pass the rows in id order, so concurrent
-- batches that insert the same new ids wait on each other in the same order. An id already
-- taken, or owned by another tenant (the claim trigger drops the row), inserts nothing and is
-- missing from the ids returned.
INSERT INTO workflow_schedules (
    id, tenant, workflow_id, cron_expression, timezone, enabled, state, pause_note,
    overlap_policy, misfire_policy, misfire_grace_seconds, catchup_window_seconds, max_attempts,
    retry_backoff_seconds, timeout_seconds, jitter_seconds, start_at, end_at, remaining_runs,
    pause_after_failures, input, target_url, next_run_at, next_fire_at,
    completion_timeout_seconds, late_after_seconds, created_at, updated_at
)
SELECT r.*, %(now)s::timestamptz, %(now)s::timestamptz
FROM unnest(
    %(id)s::uuid[], %(tenant)s::text[], %(workflow_id)s::text[], %(cron_expression)s::text[],
    %(timezone)s::text[], %(enabled)s::boolean[], %(state)s::text[], %(pause_note)s::text[],
    %(overlap_policy)s::text[], %(misfire_policy)s::text[],
    %(misfire_grace_seconds)s::integer[], %(catchup_window_seconds)s::integer[],
    %(max_attempts)s::integer[], %(retry_backoff_seconds)s::double precision[],
    %(timeout_seconds)s::double precision[], %(jitter_seconds)s::integer[],
    %(start_at)s::timestamptz[], %(end_at)s::timestamptz[], %(remaining_runs)s::integer[],
    %(pause_after_failures)s::integer[], %(input)s::jsonb[], %(target_url)s::text[],
    %(next_run_at)s::timestamptz[], %(next_fire_at)s::timestamptz[],
    %(completion_timeout_seconds)s::integer[], %(late_after_seconds)s::integer[]
) AS r
ON CONFLICT (id) DO NOTHING
RETURNING id;
