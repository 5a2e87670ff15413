"""History of the people service's scheduled jobs.

Revision ID: p0004
Revises: p0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "p0004"
down_revision = "p0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the job run table."""
    op.create_table(
        "people_job_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index("ix_people_job_runs_job", "people_job_runs", ["job"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_people_job_runs_job", table_name="people_job_runs")
    op.drop_table("people_job_runs")
