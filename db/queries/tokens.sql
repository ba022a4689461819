-- name: token_insert
INSERT INTO api_tokens (id, tenant, name, secret_sha256)
VALUES (%(id)s, %(tenant)s, %(name)s, %(secret_sha256)s)
RETURNING id, tenant, name, created_at, revoked_at, last_used_at;

-- name: token_get
SELECT id, tenant, name, secret_sha256, created_at, revoked_at, last_used_at
FROM api_tokens WHERE id = %(id)s;

-- name: token_list
SELECT id, tenant, name, created_at, revoked_at, last_used_at
FROM api_tokens
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
ORDER BY tenant, created_at;

-- name: token_revoke
-- A second revoke keeps the first instant (the row lock orders concurrent revokes).
UPDATE api_tokens
SET revoked_at = coalesce(revoked_at, coalesce(%(now)s::timestamptz, clock_timestamp()))
WHERE id = %(id)s
RETURNING id, tenant, name, created_at, revoked_at, last_used_at;

-- name: token_touch
-- Recorded at most once a minute per token, so authentication does not write on every request.
-- The condition is re-checked on the locked row, so concurrent requests write it once.
WITH t AS (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now)
UPDATE api_tokens SET last_used_at = t.now
FROM t
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < t.now - interval '1 minute');
