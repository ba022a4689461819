-- name: migration_version
SELECT version_num FROM alembic_version;
