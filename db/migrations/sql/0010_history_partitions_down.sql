-- Back to 0009: one plain table again, with every row of every partition (the DEFAULT one
-- included), its old primary key (id), the same indexes, triggers, grants and view.
DROP VIEW recent_executions;

ALTER TABLE workflow_schedule_executions RENAME TO workflow_schedule_executions_partitioned;
ALTER INDEX workflow_schedule_executions_pkey
    RENAME TO workflow_schedule_executions_partitioned_pkey;
ALTER INDEX workflow_schedule_executions_slot_key
    RENAME TO workflow_schedule_executions_partitioned_slot_key;
ALTER INDEX workflow_schedule_executions_unfinished_idx
    RENAME TO workflow_schedule_executions_partitioned_unfinished_idx;
ALTER INDEX workflow_schedule_executions_created_idx
    RENAME TO workflow_schedule_executions_partitioned_created_idx;
ALTER INDEX workflow_schedule_executions_spec_idx
    RENAME TO workflow_schedule_executions_partitioned_spec_idx;
ALTER INDEX workflow_schedule_executions_running_tenant_idx
    RENAME TO workflow_schedule_executions_partitioned_running_tenant_idx;
ALTER INDEX workflow_schedule_executions_awaiting_idx
    RENAME TO workflow_schedule_executions_partitioned_awaiting_idx;

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
);
INSERT INTO workflow_schedule_executions SELECT * FROM workflow_schedule_executions_partitioned;

DO $$
DECLARE
    grant_ record;
BEGIN
    FOR grant_ IN
        SELECT a.privilege_type, a.grantee, a.is_grantable
        FROM pg_class c, aclexplode(c.relacl) AS a
        WHERE c.oid = 'workflow_schedule_executions_partitioned'::regclass
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

DROP TABLE workflow_schedule_executions_partitioned;  -- its partitions with it
DROP FUNCTION wfs_history_floor_raise();
DROP FUNCTION wfs_history_floor_on_reopen();
DROP FUNCTION wfs_history_floor_on_insert();
DROP FUNCTION wfs_history_floor_lower(timestamptz);
DROP TABLE workflow_history_unfinished_floor;
DROP FUNCTION wfs_history_partition_retire(text, timestamptz, uuid[]);
DROP FUNCTION wfs_stats_delete_samples(uuid, text, text, integer);
DROP TABLE workflow_history_retired_stats;
DROP FUNCTION wfs_history_partition_create(timestamptz, timestamptz);
DROP FUNCTION wfs_history_partitions();

ALTER TABLE workflow_schedule_executions
    ADD CONSTRAINT workflow_schedule_executions_pkey PRIMARY KEY (id);
ALTER TABLE workflow_schedule_executions
    ADD CONSTRAINT workflow_schedule_executions_slot_key UNIQUE (trigger_id, scheduled_at);
CREATE INDEX workflow_schedule_executions_unfinished_idx
    ON workflow_schedule_executions (trigger_id)
    WHERE status IN ('pending', 'running', 'retrying', 'accepted');
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

CREATE VIEW recent_executions AS
SELECT e.id, e.trigger_id, e.workflow_id, e.tenant, e.scheduled_at, e.executed_at,
       e.finished_at, e.status, e.trigger, e.attempts, e.duration_ms, e.http_status,
       e.workflow_run_id, left(e.error, 200) AS error, e.accepted_at, e.completion_deadline
FROM workflow_schedule_executions e
WHERE e.scheduled_at > now() - interval '1 day'
ORDER BY e.scheduled_at DESC;
