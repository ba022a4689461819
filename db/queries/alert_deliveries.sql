-- The alerts outbox (issue 12): rows are written with the event that caused them (incidents,
-- app/services/incidents.py) or by POST /api/alert-channels/{id}/test; every worker's sender
-- (worker/alerts.py) claims, sends and records them. At least once: a row leaves `pending`
-- only after a send that is known to have worked, or for good after its give-up bound.

-- name: alert_delivery_insert_test
INSERT INTO alert_deliveries (tenant, channel_id, event_type, payload, next_attempt_at)
VALUES (%(tenant)s, %(channel_id)s, 'channel.test', %(payload)s,
        coalesce(%(now)s::timestamptz, clock_timestamp()))
RETURNING id;

-- name: alert_delivery_claim_due
-- SKIP LOCKED: senders in several workers each take different rows. The claim is a lease,
-- not a held lock: it moves next_attempt_at past the send (the transaction ends before any
-- I/O) and counts the attempt, so a sender that dies mid-send leaves a row that another one
-- takes again when the lease runs out, and a sender whose lease ran out cannot record over
-- the newer claim (alert_delivery_record checks `attempts`).
WITH due AS (
    SELECT id
    FROM alert_deliveries
    WHERE status = 'pending'
      AND next_attempt_at <= coalesce(%(now)s::timestamptz, clock_timestamp())
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE alert_deliveries d
    SET attempts = d.attempts + 1,
        next_attempt_at = coalesce(%(now)s::timestamptz, clock_timestamp())
                          + make_interval(secs => %(lease_seconds)s)
    FROM due
    WHERE d.id = due.id
    RETURNING d.id, d.tenant, d.channel_id, d.event_type, d.payload, d.attempts, d.created_at
)
SELECT claimed.id, claimed.tenant, claimed.channel_id, claimed.event_type, claimed.payload,
       claimed.attempts, claimed.created_at, c.kind, c.url, c.address, c.secret,
       coalesce(%(now)s::timestamptz, clock_timestamp()) AS claimed_at
FROM claimed
JOIN alert_channels c ON c.id = claimed.channel_id
ORDER BY claimed.created_at;

-- name: alert_delivery_record
-- Only the current claim records (same `attempts`); `delay_seconds` NULL keeps the lease.
UPDATE alert_deliveries
SET status = %(status)s,
    delivered_at = CASE WHEN %(status)s = 'delivered'
                        THEN coalesce(%(now)s::timestamptz, clock_timestamp()) END,
    next_attempt_at = CASE WHEN %(delay_seconds)s::float8 IS NULL THEN next_attempt_at
                           ELSE coalesce(%(now)s::timestamptz, clock_timestamp())
                                + make_interval(secs => %(delay_seconds)s::float8) END,
    last_error = %(error)s
WHERE id = %(id)s AND status = 'pending' AND attempts = %(attempts)s
RETURNING id;

-- name: alert_delivery_get
SELECT id, tenant, channel_id, incident_id, event_type, payload, status, attempts,
       next_attempt_at, last_error, created_at, delivered_at
FROM alert_deliveries
WHERE tenant = %(tenant)s AND id = %(id)s;

-- name: alert_delivery_metrics
-- /metrics: pending deliveries (at most `cap` counted, a range of the partial index
-- alert_deliveries_due_idx) and how far the most overdue one is past its next attempt (one
-- entry of that index): 0 while the senders keep up; it grows when no worker sends (all down,
-- or the sender loop failing), not while a receiver is down (those wait for their backoff).
SELECT
    (SELECT count(*) FROM (
        SELECT 1 FROM alert_deliveries WHERE status = 'pending' LIMIT %(cap)s
    ) AS pending)::bigint AS pending,
    coalesce(extract(epoch FROM coalesce(%(now)s::timestamptz, clock_timestamp()) - (
        SELECT next_attempt_at FROM alert_deliveries
        WHERE status = 'pending' ORDER BY next_attempt_at LIMIT 1
    )), 0)::float8 AS overdue_seconds;

-- name: alert_delivery_insert_many
-- The outbox: one delivery per (announcement, channel of its tenant that wants its kind for
-- its schedule), in the transaction that opened or resolved the incident. Due at once (on the
-- database clock: the senders compare with it).
INSERT INTO alert_deliveries (tenant, channel_id, incident_id, event_type, payload)
SELECT c.tenant, c.id, u.incident_id, u.event_type, u.payload
FROM unnest(
    %(incident_ids)s::uuid[], %(tenants)s::text[], %(trigger_ids)s::uuid[], %(kinds)s::text[],
    %(event_types)s::text[], %(payloads)s::jsonb[]
) AS u(incident_id, tenant, trigger_id, kind, event_type, payload)
JOIN alert_channels c
    ON c.tenant = u.tenant AND u.kind = ANY(c.events)
   AND (c.schedule_ids IS NULL OR u.trigger_id = ANY(c.schedule_ids))
ORDER BY u.incident_id, c.id
RETURNING id;
