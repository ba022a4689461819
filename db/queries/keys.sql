-- name: tenant_key_insert_if_none
-- A tenant's first key, created with the tenant (its first API token). The unique index on
-- the current key makes concurrent first tokens of one tenant create one key.
INSERT INTO tenant_signing_keys (tenant, secret)
VALUES (%(tenant)s, %(secret)s)
ON CONFLICT (tenant) WHERE expires_at IS NULL DO NOTHING;

-- name: tenant_key_retire
-- A rotation: the current key (and any still in its grace period) signs until `expires_at`;
-- a shorter grace than one already running shortens it. Keys already expired are forgotten.
WITH t AS (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now),
forgotten AS (
    DELETE FROM tenant_signing_keys
    WHERE tenant = %(tenant)s AND expires_at <= (SELECT now FROM t)
)
UPDATE tenant_signing_keys
SET expires_at = least(coalesce(expires_at, 'infinity'),
                       t.now + make_interval(secs => %(grace_seconds)s))
FROM t
WHERE tenant = %(tenant)s AND (expires_at IS NULL OR expires_at > t.now);

-- name: tenant_key_insert
INSERT INTO tenant_signing_keys (tenant, secret) VALUES (%(tenant)s, %(secret)s);

-- name: tenant_key_list
-- The keys that sign now, newest (the current one) first.
SELECT id, tenant, secret, created_at, expires_at FROM tenant_signing_keys
WHERE tenant = %(tenant)s
  AND (expires_at IS NULL OR expires_at > coalesce(%(now)s::timestamptz, clock_timestamp()))
ORDER BY created_at DESC;
