"""Alerts: incidents opened and resolved from the run ledger, per-tenant channels, and an
outbox of deliveries sent by the workers.

Revision ID: 0009
Revises: 0008
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0009_alerts", after="0008")
