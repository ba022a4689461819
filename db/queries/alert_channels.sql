-- Alert channels (issue 12): a tenant's webhook, Slack and e-mail destinations. Every
-- statement is tenant-scoped: another tenant's id finds nothing (the API answers 404).

-- name: alert_channel_insert
INSERT INTO alert_channels (tenant, name, kind, url, address, secret, events, schedule_ids)
VALUES (%(tenant)s, %(name)s, %(kind)s, %(url)s, %(address)s, %(secret)s, %(events)s,
        %(schedule_ids)s)
RETURNING id, tenant, name, kind, url, address, secret, events, schedule_ids, created_at,
          updated_at;

-- name: alert_channel_count
SELECT count(*) AS channels FROM alert_channels WHERE tenant = %(tenant)s;

-- name: alert_channel_list
SELECT id, tenant, name, kind, url, address, secret, events, schedule_ids, created_at, updated_at
FROM alert_channels
WHERE tenant = %(tenant)s
ORDER BY created_at, id;

-- name: alert_channel_get
SELECT id, tenant, name, kind, url, address, secret, events, schedule_ids, created_at, updated_at
FROM alert_channels
WHERE tenant = %(tenant)s AND id = %(id)s;

-- name: alert_channel_lock
-- A PATCH reads, merges and validates, then writes: the lock keeps two PATCHes of one channel
-- from each writing a merge of a row the other has already changed.
SELECT id, tenant, name, kind, url, address, secret, events, schedule_ids, created_at, updated_at
FROM alert_channels
WHERE tenant = %(tenant)s AND id = %(id)s
FOR UPDATE;

-- name: alert_channel_update
UPDATE alert_channels
SET name = %(name)s, url = %(url)s, address = %(address)s, events = %(events)s,
    schedule_ids = %(schedule_ids)s, updated_at = now()
WHERE tenant = %(tenant)s AND id = %(id)s
RETURNING id, tenant, name, kind, url, address, secret, events, schedule_ids, created_at,
          updated_at;

-- name: alert_channel_delete
-- Its pending deliveries go with it (ON DELETE CASCADE): nobody is left to receive them.
DELETE FROM alert_channels WHERE tenant = %(tenant)s AND id = %(id)s RETURNING id;

-- name: alert_channel_unknown_schedules
-- The ids of a channel's scheduleIds that are not schedules of its tenant.
SELECT wanted.id
FROM unnest(%(ids)s::uuid[]) AS wanted (id)
WHERE NOT EXISTS (
    SELECT 1 FROM workflow_schedules s WHERE s.id = wanted.id AND s.tenant = %(tenant)s
);
