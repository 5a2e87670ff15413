"""Runs of campaign's technical jobs, recorded like the people service's.

The scheduler decides what is due from this history (a restart neither skips
nor repeats a run), and operators read it with `audiencehub jobs history`.

Revision ID: c0012
Revises: c0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0012"
down_revision = "c0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the job run table."""
    op.create_table(
        "campaign_job_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index("ix_campaign_job_runs_job", "campaign_job_runs", ["job"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_campaign_job_runs_job", table_name="campaign_job_runs")
    op.drop_table("campaign_job_runs")
