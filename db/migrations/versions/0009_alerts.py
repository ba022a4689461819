"""Alerts: incidents opened and resolved from the run ledger, per-tenant channels, and an
outbox of deliveries sent by the workers.

Revision ID: 0009
Revises: 0008
"""

from db.migrate import run_sql_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0009_alerts_up.sql")


def downgrade() -> None:
    run_sql_file("0009_alerts_down.sql")
