"""Workflow outcomes: `accepted` runs that report how their workflow ended, or time out.

Revision ID: 0008
Revises: 0007
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0008_outcomes", after="0007")
