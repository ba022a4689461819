-- The history partitioned by slot time (issue 13, docs/history-partitions.md): at 5,000 slots/s
-- workflow_schedule_executions grows by 432 M rows a day, which batched DELETEs cannot prune.
-- It becomes a table partitioned by range of `scheduled_at`: retention drops whole partitions.
--
-- Why `scheduled_at`: a unique index of a partitioned table must contain the partition key, and
-- the slot key (trigger_id, scheduled_at) is what makes a slot fire exactly once (SPEC §4.1); it
-- stays a real UNIQUE constraint. The primary key becomes (id, scheduled_at): ids are random v4
-- UUIDs, unique in practice but no longer enforced across partitions.
--
-- The table keeps its name, columns (same order, so `SELECT *` of the replaced system's psql
-- queries is unchanged), defaults, checks, indexes (same names, now partitioned indexes), the
-- statistics triggers (statement level with transition tables: on a partitioned table they see
-- the rows of every partition a statement touches), its grants, and the view that reads it.
-- Existing rows move into one partition per UTC day they occupy; what no partition covers
-- lands in the DEFAULT partition, so no insert can ever fail for want of a partition.

DROP VIEW recent_executions;

ALTER TABLE workflow_schedule_executions RENAME TO workflow_schedule_executions_unpartitioned;
ALTER INDEX workflow_schedule_executions_pkey
    RENAME TO workflow_schedule_executions_unpartitioned_pkey;
ALTER INDEX workflow_schedule_executions_slot_key
    RENAME TO workflow_schedule_executions_unpartitioned_slot_key;
ALTER INDEX workflow_schedule_executions_unfinished_idx
    RENAME TO workflow_schedule_executions_unpartitioned_unfinished_idx;
ALTER INDEX workflow_schedule_executions_created_idx
    RENAME TO workflow_schedule_executions_unpartitioned_created_idx;
ALTER INDEX workflow_schedule_executions_spec_idx
    RENAME TO workflow_schedule_executions_unpartitioned_spec_idx;
ALTER INDEX workflow_schedule_executions_running_tenant_idx
    RENAME TO workflow_schedule_executions_unpartitioned_running_tenant_idx;
ALTER INDEX workflow_schedule_executions_awaiting_idx
    RENAME TO workflow_schedule_executions_unpartitioned_awaiting_idx;

CREATE TABLE workflow_schedule_executions (
    id                   uuid NOT NULL DEFAULT gen_random_uuid(),
    trigger_id           uuid NOT NULL,
    workflow_id          text NOT NULL,
    tenant               text NOT NULL,
    scheduled_at         timestamptz NOT NULL,
    executed_at          timestamptz,
    started_at           timestamptz,
    finished_at          timestamptz,
    status               text NOT NULL DEFAULT 'pending',
    attempts             integer NOT NULL DEFAULT 0,
    trigger              text NOT NULL DEFAULT 'schedule',
    duration_ms          integer,
    http_status          integer,
    workflow_run_id      text,
    error                text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    fire_at              timestamptz,
    job_id               bigint,
    next_attempt_at      timestamptz,
    buffered             boolean NOT NULL DEFAULT false,
    spec_digest          bytea,
    accepted_at          timestamptz,
    output               jsonb,
    completion_deadline  timestamptz,
    CONSTRAINT workflow_schedule_executions_status_check CHECK (status IN (
        'pending', 'running', 'retrying', 'accepted', 'succeeded', 'failed', 'timed_out',
        'skipped', 'missed', 'cancelled')),
    CONSTRAINT workflow_schedule_executions_trigger_check
        CHECK (trigger IN ('schedule', 'catchup', 'manual', 'backfill'))
) PARTITION BY RANGE (scheduled_at);

-- Rows of instants no partition covers: a backfill far in the past, a slot beyond the
-- partitions made ahead while no worker ran, runs kept back when their partition was retired.
-- Kept small (history-partitions.md): attaching a partition scans it.
CREATE TABLE workflow_schedule_executions_default PARTITION OF workflow_schedule_executions
    DEFAULT;

-- Partitions by name and bounds, read from the catalog (the only record of them).
CREATE FUNCTION wfs_history_partitions()
    RETURNS TABLE (name text, lower_bound timestamptz, upper_bound timestamptz)
    LANGUAGE sql STABLE AS $$
    SELECT c.relname::text, b.m[1]::timestamptz, b.m[2]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (
        SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
                            '^FOR VALUES FROM \(''([^'']*)''\) TO \(''([^'']*)''\)$') AS m
    ) AS b
    WHERE i.inhparent = 'workflow_schedule_executions'::regclass AND b.m IS NOT NULL
    ORDER BY 2
$$;

-- A partition for [lower, upper): a table made like the parent, filled with the DEFAULT
-- partition's rows of that range (they could not stay there once the range has a partition),
-- then attached. ATTACH takes SHARE UPDATE EXCLUSIVE on the parent (firing goes on) and ACCESS
-- EXCLUSIVE on the DEFAULT partition while it checks that no row of the range is left in it.
-- Moving rows between partitions directly fires none of the parent's statement triggers: the
-- statistics, which count rows, not places, stay as they are.
CREATE FUNCTION wfs_history_partition_create(lower_bound timestamptz, upper_bound timestamptz)
    RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    part text := 'workflow_schedule_executions_p'
                 || to_char(lower_bound AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24MI');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- An unfinished run of the range in the DEFAULT partition may be updated at any moment (its
    -- start, its outcome): moved (DELETE + INSERT), that UPDATE would find nothing and its
    -- outcome would be lost (measured: 500 runs recovered and sent again, 1,000 slots skipped,
    -- on a fresh database at 1,000 slots/s). The range waits until they have ended; only
    -- finished rows move, and the ATTACH refuses (check violation, the pass is retried) if an
    -- unfinished one arrived meanwhile.
    IF EXISTS (SELECT 1 FROM workflow_schedule_executions_default
               WHERE scheduled_at >= lower_bound AND scheduled_at < upper_bound
                 AND status IN ('pending', 'running', 'retrying', 'accepted')) THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE workflow_schedule_executions'
                   ' INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)', part);
    EXECUTE format('WITH moved AS (DELETE FROM workflow_schedule_executions_default'
                   ' WHERE scheduled_at >= $1 AND scheduled_at < $2'
                   '   AND status NOT IN (''pending'', ''running'', ''retrying'', ''accepted'')'
                   ' RETURNING *)'
                   ' INSERT INTO %I SELECT * FROM moved', part)
        USING lower_bound, upper_bound;
    EXECUTE format('ALTER TABLE workflow_schedule_executions ATTACH PARTITION %I'
                   ' FOR VALUES FROM (%L) TO (%L)', part, lower_bound, upper_bound);
    RETURN part;
END;
$$;

-- Statistics a retirement takes away, staged by the long read that computes them (outside any
-- lock) and moved into workflow_schedule_stat_deltas by the short transaction that drops the
-- partition (wfs_history_partition_retire), so that they change exactly when the rows go.
CREATE TABLE workflow_history_retired_stats (
    partition   text NOT NULL,
    trigger_id  uuid NOT NULL,
    tenant      text NOT NULL,
    metric      text NOT NULL,
    key         text NOT NULL DEFAULT '',
    value       bigint NOT NULL
);
CREATE INDEX workflow_history_retired_stats_partition_idx
    ON workflow_history_retired_stats (partition);

-- What wfs_stats_on_delete records for deleted rows, for rows a retirement drops (dropping a
-- table fires no trigger). Keep the two in step: tests compare them (test_history_retention).
CREATE FUNCTION wfs_stats_delete_samples(
    run_trigger_id uuid, run_tenant text, run_status text, run_duration_ms integer
) RETURNS TABLE (trigger_id uuid, tenant text, metric text, key text, value bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT run_trigger_id, run_tenant, 'status', run_status, -1::bigint
    UNION ALL
    SELECT run_trigger_id, run_tenant, m.metric, m.key, m.value
    FROM wfs_duration_samples(run_duration_ms, -1, false) AS m
    WHERE run_status IN ('succeeded', 'failed') AND run_duration_ms IS NOT NULL
$$;

-- Retire one partition whose slots are all older than the retention: in one transaction,
-- detach it (ACCESS EXCLUSIVE on the parent, for milliseconds: the caller sets lock_timeout),
-- move the rows the DELETE path would have kept (unfinished, or created after `cutoff`) to the
-- DEFAULT partition, take away the statistics of the rows that go (staged earlier, plus those
-- of `late_ids`: runs that were unfinished when the stage was computed and have ended since),
-- and drop it. Returns how many rows were kept.
CREATE FUNCTION wfs_history_partition_retire(part text, cutoff timestamptz, late_ids uuid[])
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    kept bigint;
BEGIN
    EXECUTE format('ALTER TABLE workflow_schedule_executions DETACH PARTITION %I', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE status IN (''pending'', ''running'', ''retrying'','
        ' ''accepted'') OR created_at >= $1 RETURNING *)'
        ' INSERT INTO workflow_schedule_executions_default SELECT * FROM moved', part)
        USING cutoff;
    GET DIAGNOSTICS kept = ROW_COUNT;
    EXECUTE format(
        'INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)'
        ' SELECT trigger_id, tenant, metric, key, sum(value) FROM ('
        '   SELECT trigger_id, tenant, metric, key, value FROM workflow_history_retired_stats'
        '   WHERE partition = $1'
        '   UNION ALL'
        '   SELECT s.* FROM %I e,'
        '     LATERAL wfs_stats_delete_samples(e.trigger_id, e.tenant, e.status, e.duration_ms) s'
        '   WHERE e.id = ANY($2)'
        ' ) AS gone GROUP BY 1, 2, 3, 4', part)
        USING part, late_ids;
    DELETE FROM workflow_history_retired_stats WHERE partition = part;
    EXECUTE format('DROP TABLE %I', part);
    RETURN kept;
END;
$$;

-- One partition per UTC day that holds rows, and today's and the next three days' (so that
-- the runs of a fresh database never start in the DEFAULT partition, from which only
-- finished rows can move), then the rows (no trigger is on the new table yet: they are
-- counted already).
DO $$
DECLARE
    day timestamptz;
BEGIN
    FOR day IN
        SELECT date_trunc('day', scheduled_at, 'UTC')
        FROM workflow_schedule_executions_unpartitioned
        UNION
        SELECT date_trunc('day', clock_timestamp(), 'UTC') + make_interval(days => n)
        FROM generate_series(0, 3) AS n
        ORDER BY 1
    LOOP
        PERFORM wfs_history_partition_create(day, day + interval '1 day');
    END LOOP;
END;
$$;
INSERT INTO workflow_schedule_executions SELECT * FROM workflow_schedule_executions_unpartitioned;

-- Grants made on the table (by an operator, for a read-only psql role) carry over.
DO $$
DECLARE
    grant_ record;
BEGIN
    FOR grant_ IN
        SELECT a.privilege_type, a.grantee, a.is_grantable
        FROM pg_class c, aclexplode(c.relacl) AS a
        WHERE c.oid = 'workflow_schedule_executions_unpartitioned'::regclass
          AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON workflow_schedule_executions TO %s%s',
                       grant_.privilege_type,
                       CASE WHEN grant_.grantee = 0 THEN 'PUBLIC'
                            ELSE quote_ident(pg_get_userbyid(grant_.grantee)) END,
                       CASE WHEN grant_.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END;
$$;

DROP TABLE workflow_schedule_executions_unpartitioned;

ALTER TABLE workflow_schedule_executions
    ADD CONSTRAINT workflow_schedule_executions_pkey PRIMARY KEY (id, scheduled_at);
-- Exactly once per slot (SPEC §4.1): the slot key contains the partition key, so each
-- partition's unique index enforces it for the whole table.
ALTER TABLE workflow_schedule_executions
    ADD CONSTRAINT workflow_schedule_executions_slot_key UNIQUE (trigger_id, scheduled_at);
CREATE INDEX workflow_schedule_executions_unfinished_idx
    ON workflow_schedule_executions (trigger_id)
    WHERE status IN ('pending', 'running', 'retrying', 'accepted');
-- The DELETE path of the DEFAULT partition, and retirement's check for rows created late.
CREATE INDEX workflow_schedule_executions_created_idx
    ON workflow_schedule_executions (created_at);
CREATE INDEX workflow_schedule_executions_spec_idx
    ON workflow_schedule_executions (spec_digest);
CREATE INDEX workflow_schedule_executions_running_tenant_idx
    ON workflow_schedule_executions (tenant)
    WHERE status = 'running';
CREATE INDEX workflow_schedule_executions_awaiting_idx
    ON workflow_schedule_executions (completion_deadline)
    WHERE status = 'accepted';

CREATE TRIGGER wfs_stats_insert AFTER INSERT ON workflow_schedule_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wfs_stats_on_insert();
CREATE TRIGGER wfs_stats_update AFTER UPDATE ON workflow_schedule_executions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wfs_stats_on_update();
CREATE TRIGGER wfs_stats_delete AFTER DELETE ON workflow_schedule_executions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wfs_stats_on_delete();

-- The unfinished floor: an instant no unfinished run's slot is older than. Questions about
-- unfinished runs of a schedule (the dispatcher's overlap counts) add `scheduled_at >= floor`,
-- so that PostgreSQL reads the partitions from the floor on instead of every partition's
-- index (unfinished runs may be anywhere in time: a backfill, an accepted run waiting days).
-- Lowered by the statement that makes a run unfinished below it (triggers below), raised by
-- the partition maintenance to the oldest unfinished slot (wfs_history_floor_raise). The
-- shared advisory lock each lowering statement holds to its commit lets a raise wait for
-- every transaction that may hold an unfinished row it cannot see yet.
CREATE TABLE workflow_history_unfinished_floor (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    at        timestamptz NOT NULL
);
INSERT INTO workflow_history_unfinished_floor (at)
SELECT coalesce(min(scheduled_at), 'infinity') FROM workflow_schedule_executions
WHERE status IN ('pending', 'running', 'retrying', 'accepted');

-- `slot`: the oldest slot the statement made unfinished (NULL: none, nothing to hold).
CREATE FUNCTION wfs_history_floor_lower(slot timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF slot IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock_shared(hashtext('workflow_schedule_executions floor'));
        UPDATE workflow_history_unfinished_floor SET at = slot WHERE at > slot;
    END IF;
END;
$$;
CREATE FUNCTION wfs_history_floor_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wfs_history_floor_lower((SELECT min(scheduled_at) FROM new_rows
                                     WHERE status IN ('pending', 'running', 'retrying',
                                                      'accepted')));
    RETURN NULL;
END;
$$;
CREATE FUNCTION wfs_history_floor_on_reopen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wfs_history_floor_lower(NEW.scheduled_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER wfs_history_floor_insert AFTER INSERT ON workflow_schedule_executions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wfs_history_floor_on_insert();
-- No statement of today makes a finished run unfinished again; should one come, the floor
-- follows (a row trigger whose condition costs one comparison per updated row).
CREATE TRIGGER wfs_history_floor_reopen AFTER UPDATE OF status ON workflow_schedule_executions
    FOR EACH ROW
    WHEN (OLD.status NOT IN ('pending', 'running', 'retrying', 'accepted')
          AND NEW.status IN ('pending', 'running', 'retrying', 'accepted'))
    EXECUTE FUNCTION wfs_history_floor_on_reopen();

-- The floor raised to the oldest unfinished slot ('infinity' when none), once no transaction
-- that may have made a run unfinished is in flight (it waits for them: the caller bounds the
-- wait with lock_timeout). Returns the new floor.
CREATE FUNCTION wfs_history_floor_raise() RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    lowest timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('workflow_schedule_executions floor'));
    SELECT coalesce(min(scheduled_at), 'infinity') INTO lowest
    FROM workflow_schedule_executions
    WHERE status IN ('pending', 'running', 'retrying', 'accepted');
    UPDATE workflow_history_unfinished_floor SET at = lowest;
    RETURN lowest;
END;
$$;

CREATE VIEW recent_executions AS
SELECT e.id, e.trigger_id, e.workflow_id, e.tenant, e.scheduled_at, e.executed_at,
       e.finished_at, e.status, e.trigger, e.attempts, e.duration_ms, e.http_status,
       e.workflow_run_id, left(e.error, 200) AS error, e.accepted_at, e.completion_deadline
FROM workflow_schedule_executions e
WHERE e.scheduled_at > now() - interval '1 day'
ORDER BY e.scheduled_at DESC;
