"""The people service's audit trail: who read or erased what it holds about an ID.

Revision ID: p0014
Revises: p0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID, UTCDateTime

revision = "p0014"
down_revision = "p0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the trail."""
    op.create_table(
        "people_audit_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_people_audit_log_subject", "people_audit_log", ["subject"])


def downgrade() -> None:
    """Drop it."""
    op.drop_table("people_audit_log")
