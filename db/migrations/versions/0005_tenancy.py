"""Tenancy: run specs (input and retry limits once per schedule version), schedule ids owned by
one tenant, signing keys per tenant.

Revision ID: 0005
Revises: 0004
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0005_tenancy", after="0004")
