"""Per-tenant quotas: run usage per minute, and an index to count a tenant's runs in flight.

Revision ID: 0006
Revises: 0005
"""

from db.migrate import run_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_quotas_up.sql")


def downgrade() -> None:
    run_sql_file("0006_quotas_down.sql")
