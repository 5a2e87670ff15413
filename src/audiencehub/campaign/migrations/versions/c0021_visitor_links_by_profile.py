"""Visitor links found by their profile: an index on ``visitor_links.profile_id``.

The links are keyed by visitor ID first, so erasing a profile read every link of
every profile to find its own. Links are written one click at a time, so the
second index costs little.

Revision ID: c0021
Revises: c0020
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "c0021"
down_revision = "c0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index the links by profile."""
    op.create_index("ix_visitor_links_profile_id", "visitor_links", ["profile_id"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_visitor_links_profile_id", "visitor_links")
