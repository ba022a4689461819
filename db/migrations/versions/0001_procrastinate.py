"""Procrastinate's schema at the pinned version (3.10.0), vendored as SQL.

Later Procrastinate releases ship their changes as `procrastinate/sql/migrations/*.sql`; each of
those becomes a revision of its own after this one (one transaction each).

Revision ID: 0001
Revises:
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0001_procrastinate", after=None, up="procrastinate_3.10.0_schema.sql")
