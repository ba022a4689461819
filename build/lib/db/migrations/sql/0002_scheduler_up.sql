-- The scheduler's own tables. Names and columns of workflow_schedule_executions are those of the
-- replaced system (SPEC §6), so its psql queries keep working.

CREATE TABLE workflow_schedules (
    id                      uuid PRIMARY KEY,
    tenant                  text NOT NULL,
    workflow_id             text NOT NULL CHECK (length(workflow_id) BETWEEN 1 AND 200),
    cron_expression         text NOT NULL CHECK (length(cron_expression) BETWEEN 1 AND 200),
    timezone                text NOT NULL DEFAULT 'UTC',
    enabled                 boolean NOT NULL DEFAULT true,
    state                   text NOT NULL DEFAULT 'active'
                            CHECK (state IN ('active', 'paused', 'ended')),
    pause_note              text CHECK (length(pause_note) <= 500),
    overlap_policy          text NOT NULL DEFAULT 'skip'
                            CHECK (overlap_policy IN ('skip', 'buffer_one', 'allow_all')),
    misfire_policy          text NOT NULL DEFAULT 'fire_once'
                            CHECK (misfire_policy IN ('skip', 'fire_once', 'fire_all')),
    misfire_grace_seconds   integer NOT NULL DEFAULT 60 CHECK (misfire_grace_seconds >= 0),
    catchup_window_seconds  integer NOT NULL DEFAULT 86400 CHECK (catchup_window_seconds >= 0),
    max_attempts            integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    retry_backoff_seconds   double precision NOT NULL DEFAULT 10 CHECK (retry_backoff_seconds >= 0),
    timeout_seconds         double precision NOT NULL DEFAULT 30 CHECK (timeout_seconds > 0),
    jitter_seconds          integer NOT NULL DEFAULT 0 CHECK (jitter_seconds >= 0),
    start_at                timestamptz,
    end_at                  timestamptz,
    remaining_runs          integer CHECK (remaining_runs >= 0),
    pause_after_failures    integer CHECK (pause_after_failures >= 1),
    input                   jsonb NOT NULL DEFAULT '{}'::jsonb,
    target_url              text,
    -- The next slot's nominal instant (what the API shows) and the instant it fires
    -- (nominal + the schedule's deterministic jitter): the dispatcher orders by the latter.
    next_run_at             timestamptz,
    next_fire_at            timestamptz,
    last_run_at             timestamptz,
    last_status             text,
    consecutive_failures    integer NOT NULL DEFAULT 0,
    missed_uncounted        bigint NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    version                 integer NOT NULL DEFAULT 1,
    -- An active schedule always has its next slot; the others never do.
    CONSTRAINT workflow_schedules_next_slot_matches_state CHECK (
        (state = 'active') = (next_run_at IS NOT NULL AND next_fire_at IS NOT NULL)
    ),
    CONSTRAINT workflow_schedules_enabled_matches_state CHECK (
        enabled = (state <> 'paused')
    )
);

-- The dispatcher's question is "which active schedules are due?": a partial index answers it
-- without looking at paused or ended ones, however many there are.
CREATE INDEX workflow_schedules_due_idx ON workflow_schedules (next_fire_at)
    WHERE state = 'active';
-- Listing a tenant's schedules in a stable order (cursor pagination).
CREATE INDEX workflow_schedules_tenant_list_idx ON workflow_schedules (tenant, created_at, id);
CREATE INDEX workflow_schedules_tenant_workflow_idx ON workflow_schedules (tenant, workflow_id);

CREATE TABLE workflow_schedule_executions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trigger_id       uuid NOT NULL,
    workflow_id      text NOT NULL,
    tenant           text NOT NULL,
    scheduled_at     timestamptz NOT NULL,
    executed_at      timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN (
                        'pending', 'running', 'retrying', 'succeeded', 'failed',
                        'skipped', 'missed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    trigger          text NOT NULL DEFAULT 'schedule'
                     CHECK (trigger IN ('schedule', 'catchup', 'manual', 'backfill')),
    duration_ms      integer,
    http_status      integer,
    workflow_run_id  text,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Engine bookkeeping (not in the replaced system): when the slot was due to fire (slot +
    -- jitter, for the fire-lag metric), the Procrastinate job now responsible for the run,
    -- when the next attempt may start, and whether a pending run waits for the previous run
    -- of its schedule to finish (overlap policy buffer_one).
    fire_at          timestamptz,
    job_id           bigint,
    next_attempt_at  timestamptz,
    buffered         boolean NOT NULL DEFAULT false,
    -- The schedule's input when the slot fired: a later change of the schedule does not alter
    -- a run already started, retries included (SPEC §2).
    input            jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Exactly once per slot, whatever the number of workers, restarts or crashes (SPEC §4.1):
    -- concurrent dispatchers race on this key and the loser's INSERT ... ON CONFLICT does nothing.
    CONSTRAINT workflow_schedule_executions_slot_key UNIQUE (trigger_id, scheduled_at)
);
-- History of one schedule, newest first (the executions list, statistics, the dashboard).
CREATE INDEX workflow_schedule_executions_trigger_recent_idx
    ON workflow_schedule_executions (trigger_id, scheduled_at DESC, id DESC);
-- Runs not finished yet, per schedule: the overlap policy and the recovery sweep ask for them.
CREATE INDEX workflow_schedule_executions_unfinished_idx
    ON workflow_schedule_executions (trigger_id)
    WHERE status IN ('pending', 'running', 'retrying');
-- Retention prunes by age.
CREATE INDEX workflow_schedule_executions_created_idx
    ON workflow_schedule_executions (created_at);

CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    tenant        text NOT NULL CHECK (length(tenant) BETWEEN 1 AND 100),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- SHA-256 of the token's secret part; the token itself is shown once and never stored.
    secret_sha256 bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
CREATE INDEX api_tokens_tenant_idx ON api_tokens (tenant, created_at);

-- Schedule changes wake the dispatchers (SPEC §4.2) so a new or moved slot is not missed while
-- they sleep until the previously earliest one.
CREATE FUNCTION workflow_schedules_notify_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('workflow_schedules_changed', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER workflow_schedules_notify_change
    AFTER INSERT OR UPDATE OF next_fire_at, state OR DELETE ON workflow_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_schedules_notify_change();
