"""Baseline of the people service database.

The people service's tables arrive with its own migrations; this revision
exists so a new workspace records that its people database is under Alembic.

Revision ID: p0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

revision = "p0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to create yet."""


def downgrade() -> None:
    """Nothing to drop."""
