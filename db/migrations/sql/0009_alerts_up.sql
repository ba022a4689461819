-- Alerts (issue 12): the ledger of slots becomes incidents that reach people.
--
-- An incident is one (schedule, kind) condition: it opens on the first occurrence, collects
-- further occurrences, and resolves on its own when the condition clears. At most one is
-- open per (schedule, kind). Opening or resolving one writes, in the same transaction, one
-- delivery per matching channel of its tenant into the outbox (alert_deliveries); the workers
-- send the outbox, at least once, off the firing path.

CREATE TABLE alert_incidents (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant             text NOT NULL,
    trigger_id         uuid NOT NULL,
    workflow_id        text NOT NULL,
    kind               text NOT NULL
                       CHECK (kind IN ('run.failed', 'schedule.paused', 'slot.missed',
                                       'run.late')),
    state              text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    opened_at          timestamptz NOT NULL,
    resolved_at        timestamptz,
    occurrences        integer NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    last_execution_id  uuid,
    summary            text NOT NULL,
    -- Flapping bound (SCHEDULER_ALERT_MIN_INTERVAL): when the last opened/resolved pair of
    -- this incident was announced; an incident that reopens within the interval is the same
    -- incident again, and is not announced again until the interval has passed.
    last_announced_at  timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alert_incidents_open_idx ON alert_incidents (trigger_id, kind)
    WHERE state = 'open';
-- GET /api/incidents: a tenant's incidents, newest first, keyset-paginated.
CREATE INDEX alert_incidents_tenant_idx ON alert_incidents (tenant, opened_at DESC, id DESC);

CREATE TABLE alert_channels (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant       text NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind         text NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    url          text,       -- webhook, slack
    address      text,       -- email
    -- webhook: the whsec_ key its deliveries are signed with (shown once, at creation).
    secret       text,
    events       text[] NOT NULL,
    schedule_ids uuid[],     -- NULL: every schedule of the tenant
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'email') = (address IS NOT NULL)),
    CHECK ((kind <> 'email') = (url IS NOT NULL))
);
CREATE INDEX alert_channels_tenant_idx ON alert_channels (tenant, created_at, id);

-- The outbox: one row per (event, channel). `id` is the stable `webhook-id` of every attempt.
CREATE TABLE alert_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant           text NOT NULL,
    channel_id       uuid NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    -- NULL only for the delivery of POST /api/alert-channels/{id}/test.
    incident_id      uuid REFERENCES alert_incidents (id) ON DELETE CASCADE,
    event_type       text NOT NULL CHECK (event_type IN ('incident.opened', 'incident.resolved',
                                                         'channel.test')),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    CHECK ((event_type = 'channel.test') = (incident_id IS NULL))
);
-- The senders' claim: due pending deliveries, oldest first (FOR UPDATE SKIP LOCKED).
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX alert_deliveries_incident_idx ON alert_deliveries (incident_id);

-- The schedule field of run.late: a due slot with no started attempt this long after its
-- instant opens a run.late incident.
ALTER TABLE workflow_schedules
    ADD COLUMN late_after_seconds integer NOT NULL DEFAULT 60
        CHECK (late_after_seconds BETWEEN 1 AND 86400);
