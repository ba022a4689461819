-- What belongs to a tenant stays the tenant's (issue 10: M1, L4, H3's storage, H5).

-- 1. Run specs: what one run sends and how it retries, stored once per schedule version.
--
-- A run keeps the input, target and retry limits its schedule had when the run was created:
-- a later PATCH does not redirect runs already started, retries included (SPEC §2, L4). The
-- input used to be copied into every execution row, also into `skipped` and `missed` rows that
-- never send it (H3): ~64 KiB per row. Now a row names its spec by digest; every run of one
-- schedule version shares one spec row, and skipped/missed rows name none.
-- The digest covers the owner (trigger id and tenant), so two schedules never share a spec and
-- a spec can be deleted with its schedule's history.
--
-- Triggers on workflow_schedules keep each schedule's current spec (superseded_at NULL) as the
-- schedule is written, so firing only looks it up: the dispatcher's hot path computes no digest.
CREATE FUNCTION wfs_run_spec_digest(
    trigger_id uuid, tenant text, input jsonb, target_url text, timeout_seconds double precision,
    max_attempts integer, retry_backoff_seconds double precision
) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- jsonb's text form is canonical (keys sorted, one spelling per number), so equal
    -- content always gives one digest.
    SELECT sha256(convert_to(jsonb_build_array(trigger_id, tenant, input, target_url,
                                               timeout_seconds, max_attempts,
                                               retry_backoff_seconds)::text, 'UTF8'))
$$;

CREATE TABLE workflow_run_specs (
    digest                  bytea PRIMARY KEY,
    trigger_id              uuid NOT NULL,
    tenant                  text NOT NULL,
    input                   jsonb NOT NULL,
    target_url              text,
    timeout_seconds         double precision NOT NULL,
    max_attempts            integer NOT NULL,
    retry_backoff_seconds   double precision NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    -- NULL: the schedule's current spec. Set when the schedule moved to another content or
    -- was deleted: retention removes the spec once no run names it any more.
    superseded_at           timestamptz
);
-- The dispatcher's lookup, and at most one current spec per schedule.
CREATE UNIQUE INDEX workflow_run_specs_current_idx ON workflow_run_specs (trigger_id)
    WHERE superseded_at IS NULL;
CREATE INDEX workflow_run_specs_trigger_idx ON workflow_run_specs (trigger_id);
CREATE INDEX workflow_run_specs_superseded_idx ON workflow_run_specs (superseded_at)
    WHERE superseded_at IS NOT NULL;

-- Make the given schedules' current content their current spec (the previous one, if other,
-- is superseded). A content seen before becomes current again.
CREATE FUNCTION wfs_run_specs_sync(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- First the supersede, then the insert: one current spec per schedule at every moment.
    UPDATE workflow_run_specs p SET superseded_at = clock_timestamp()
    FROM workflow_schedules s
    WHERE s.id = ANY(ids) AND p.trigger_id = s.id AND p.superseded_at IS NULL
      AND p.digest <> wfs_run_spec_digest(s.id, s.tenant, s.input, s.target_url,
                                          s.timeout_seconds, s.max_attempts,
                                          s.retry_backoff_seconds);
    INSERT INTO workflow_run_specs (digest, trigger_id, tenant, input, target_url,
                                    timeout_seconds, max_attempts, retry_backoff_seconds)
    SELECT wfs_run_spec_digest(s.id, s.tenant, s.input, s.target_url, s.timeout_seconds,
                               s.max_attempts, s.retry_backoff_seconds),
           s.id, s.tenant, s.input, s.target_url, s.timeout_seconds, s.max_attempts,
           s.retry_backoff_seconds
    FROM workflow_schedules s WHERE s.id = ANY(ids)
    ORDER BY 1
    ON CONFLICT (digest) DO UPDATE SET superseded_at = NULL
        WHERE workflow_run_specs.superseded_at IS NOT NULL;
END;
$$;

CREATE FUNCTION wfs_schedules_specs_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A new schedule has no current spec (a deleted one's were superseded by its delete), so
    -- this is wfs_run_specs_sync without the supersede, straight from the inserted rows.
    INSERT INTO workflow_run_specs (digest, trigger_id, tenant, input, target_url,
                                    timeout_seconds, max_attempts, retry_backoff_seconds)
    SELECT wfs_run_spec_digest(n.id, n.tenant, n.input, n.target_url, n.timeout_seconds,
                               n.max_attempts, n.retry_backoff_seconds),
           n.id, n.tenant, n.input, n.target_url, n.timeout_seconds, n.max_attempts,
           n.retry_backoff_seconds
    FROM new_rows n
    ORDER BY 1
    ON CONFLICT (digest) DO UPDATE SET superseded_at = NULL
        WHERE workflow_run_specs.superseded_at IS NOT NULL;
    RETURN NULL;
END;
$$;
CREATE FUNCTION wfs_schedules_specs_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wfs_run_specs_sync(ARRAY[NEW.id]);
    RETURN NULL;
END;
$$;
CREATE FUNCTION wfs_schedules_specs_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflow_run_specs SET superseded_at = clock_timestamp()
    WHERE trigger_id IN (SELECT id FROM old_rows) AND superseded_at IS NULL;
    RETURN NULL;
END;
$$;
-- Statement level for inserts and deletes (bulk inserts of schedules stay one statement);
-- row level with a column list for updates, because a statement-level trigger with transition
-- tables cannot have one and would then run on every dispatcher pass's advance of schedules.
CREATE TRIGGER wfs_schedules_specs_insert AFTER INSERT ON workflow_schedules
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wfs_schedules_specs_on_insert();
CREATE TRIGGER wfs_schedules_specs_update
    AFTER UPDATE OF tenant, input, target_url, timeout_seconds, max_attempts,
                    retry_backoff_seconds ON workflow_schedules
    FOR EACH ROW
    WHEN (OLD.tenant IS DISTINCT FROM NEW.tenant OR OLD.input IS DISTINCT FROM NEW.input
          OR OLD.target_url IS DISTINCT FROM NEW.target_url
          OR OLD.timeout_seconds IS DISTINCT FROM NEW.timeout_seconds
          OR OLD.max_attempts IS DISTINCT FROM NEW.max_attempts
          OR OLD.retry_backoff_seconds IS DISTINCT FROM NEW.retry_backoff_seconds)
    EXECUTE FUNCTION wfs_schedules_specs_on_update();
CREATE TRIGGER wfs_schedules_specs_delete AFTER DELETE ON workflow_schedules
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wfs_schedules_specs_on_delete();

ALTER TABLE workflow_schedule_executions ADD COLUMN spec_digest bytea;

-- Existing schedules: their current spec. Existing runs: each distinct (schedule, input) gets
-- its spec, with the schedule's current target and limits (what their retries would have
-- read), or the defaults when the schedule is gone (those runs are only history, or are
-- cancelled at their next start); one that differs from the schedule's current content is
-- superseded. Skipped and missed rows never send anything: they keep no spec.
SELECT wfs_run_specs_sync(array(SELECT id FROM workflow_schedules));
INSERT INTO workflow_run_specs (digest, trigger_id, tenant, input, target_url, timeout_seconds,
                                max_attempts, retry_backoff_seconds, superseded_at)
SELECT wfs_run_spec_digest(x.trigger_id, x.tenant, x.input, s.target_url,
                           coalesce(s.timeout_seconds, 30), coalesce(s.max_attempts, 3),
                           coalesce(s.retry_backoff_seconds, 10)),
       x.trigger_id, x.tenant, x.input, s.target_url, coalesce(s.timeout_seconds, 30),
       coalesce(s.max_attempts, 3), coalesce(s.retry_backoff_seconds, 10), now()
FROM (SELECT DISTINCT trigger_id, tenant, input FROM workflow_schedule_executions
      WHERE status NOT IN ('skipped', 'missed')) x
LEFT JOIN workflow_schedules s ON s.id = x.trigger_id AND s.tenant = x.tenant
ON CONFLICT (digest) DO NOTHING;

UPDATE workflow_schedule_executions e SET spec_digest = p.digest
FROM workflow_run_specs p
WHERE p.trigger_id = e.trigger_id AND p.tenant = e.tenant AND p.input = e.input
  AND e.status NOT IN ('skipped', 'missed');

ALTER TABLE workflow_schedule_executions DROP COLUMN input;

-- Which runs still use a spec: retention deletes a spec no run names any more.
CREATE INDEX workflow_schedule_executions_spec_idx
    ON workflow_schedule_executions (spec_digest);

-- 2. Schedule ids belong to one tenant (M1).
--
-- History, statistics, the slot key and the Idempotency-Key are keyed by the schedule id. An
-- id is therefore owned by the first tenant that used it for as long as anything of it is
-- stored: another tenant's create or register with that id inserts nothing and is answered 409
-- (the same answer as an id in use), so it can inherit no history, statistics, slot or pending
-- run. Retention releases an id once its schedule and its whole history are gone.
CREATE TABLE workflow_schedule_owners (
    id          uuid PRIMARY KEY,
    tenant      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Existing ids: a live schedule's tenant first, then the tenant of its history.
INSERT INTO workflow_schedule_owners (id, tenant)
SELECT id, tenant FROM workflow_schedules;
INSERT INTO workflow_schedule_owners (id, tenant)
SELECT DISTINCT ON (trigger_id) trigger_id, tenant FROM workflow_schedule_executions
ORDER BY trigger_id, created_at
ON CONFLICT (id) DO NOTHING;

-- A trigger, not the services, so that no path that inserts schedules (API, register, SQL by
-- hand, benchmarks) can skip the check. Returning NULL makes the INSERT ... ON CONFLICT DO
-- NOTHING RETURNING * of schedule_insert return nothing, which the service answers 409.
-- Concurrent first uses of one id serialize on the owners' primary key. An id already owned
-- is locked by the no-op DO UPDATE until the transaction ends, so retention cannot release it
-- under a create in progress (and a release that committed first leaves no conflict: the id
-- is claimed afresh).
CREATE FUNCTION wfs_schedule_claim_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner text;
BEGIN
    INSERT INTO workflow_schedule_owners AS o (id, tenant) VALUES (NEW.id, NEW.tenant)
    ON CONFLICT (id) DO UPDATE SET tenant = o.tenant
    RETURNING o.tenant INTO owner;
    IF owner = NEW.tenant THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER wfs_schedule_claim_id BEFORE INSERT ON workflow_schedules
    FOR EACH ROW EXECUTE FUNCTION wfs_schedule_claim_id();

-- 3. Signing keys per tenant (H5).
--
-- Deliveries to a schedule's own targetUrl are signed with its tenant's key, never with the
-- deployment secret. The worker must compute HMACs with it, so the key is stored as it is
-- (like every Standard Webhooks sender); see docs/webhooks.md for why it is not encrypted with
-- the deployment secret. A rotation gives the old key an expiry: until then both sign.
CREATE TABLE tenant_signing_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant      text NOT NULL CHECK (length(tenant) BETWEEN 1 AND 100),
    secret      text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- NULL: the current key. Set by a rotation: the key still signs until then.
    expires_at  timestamptz
);
-- One current key per tenant; concurrent rotations serialize on it.
CREATE UNIQUE INDEX tenant_signing_keys_current_idx ON tenant_signing_keys (tenant)
    WHERE expires_at IS NULL;
CREATE INDEX tenant_signing_keys_tenant_idx ON tenant_signing_keys (tenant, created_at);

-- Existing tenants get a key: 32 random bytes (two v4 UUIDs' randomness, 244 bits; the core
-- server has no gen_random_bytes without pgcrypto).
INSERT INTO tenant_signing_keys (tenant, secret)
SELECT tenant, 'whsec_' || encode(decode(
           replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'),
       'base64')
FROM (SELECT tenant FROM api_tokens UNION SELECT tenant FROM workflow_schedules) t;
