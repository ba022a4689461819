"""Per-tenant quotas: run usage per minute, and an index to count a tenant's runs in flight.

Revision ID: 0006
Revises: 0005
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0006_quotas", after="0005")
