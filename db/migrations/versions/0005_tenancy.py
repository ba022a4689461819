"""Tenancy: run specs (input and retry limits once per schedule version), schedule ids owned by
one tenant, signing keys per tenant.

Revision ID: 0005
Revises: 0004
"""

from db.migrate import run_sql_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_tenancy_up.sql")


def downgrade() -> None:
    run_sql_file("0005_tenancy_down.sql")
