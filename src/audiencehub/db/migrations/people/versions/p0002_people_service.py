"""The people service: data sources, users and ID graph, traits, segments, destinations.

Revision ID: p0002
Revises: p0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from audiencehub.people.schema import metadata

revision = "p0002"
down_revision = "p0001"
branch_labels = None
depends_on = None

# This first revision of the people tables creates them from the Core metadata
# in one step; later revisions alter them explicitly, and a test checks that a
# migrated database matches the metadata.
_TABLES = list(metadata.sorted_tables)


def upgrade() -> None:
    """Create every people table."""
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    """Drop every people table."""
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
