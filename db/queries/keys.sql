-- name: tenant_key_insert_if_none
-- A tenant's first key, created with the tenant (its first API token). The unique index on
-- the current key makes concurrent first tokens of one tenant create one key.
INSERT INTO tenant_signing_keys (tenant, secret)
VALUES (%(tenant)s, %(secret)s)
ON CONFLICT (tenant) WHERE expires_at IS NULL DO NOTHING;

-- name: tenant_key_retire
-- A rotation: the current key (and any still in its grace period) signs until `expires_at`;
-- a shorter grace than one already running shortens it. Keys already expired are forgotten.
WITH forgotten AS (
    DELETE FROM tenant_signing_keys
    WHERE tenant = %(tenant)s AND expires_at <= clock_timestamp()
)
UPDATE tenant_signing_keys
SET expires_at = least(coalesce(expires_at, 'infinity'),
                       clock_timestamp() + make_interval(secs => %(grace_seconds)s))
WHERE tenant = %(tenant)s AND (expires_at IS NULL OR expires_at > clock_timestamp());

-- name: tenant_key_insert
INSERT INTO tenant_signing_keys (tenant, secret) VALUES (%(tenant)s, %(secret)s);

-- name: tenant_key_list
-- The keys that sign now, newest (the current one) first.
SELECT id, tenant, secret, created_at, expires_at FROM tenant_signing_keys
WHERE tenant = %(tenant)s AND (expires_at IS NULL OR expires_at > clock_timestamp())
ORDER BY created_at DESC;
