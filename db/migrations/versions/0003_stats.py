"""Statistics: per-statement deltas from triggers, folded into values; psql views.

Revision ID: 0003
Revises: 0002
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0003_stats", after="0002")
