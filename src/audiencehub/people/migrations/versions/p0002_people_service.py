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

# This first revision of the people tables creates the tables it names from the
# Core metadata; later revisions create and alter tables explicitly, and a test
# checks that a migrated database matches the metadata.
_NAMES = frozenset(
    {
        "people_data_sources",
        "people_users",
        "people_id_links",
        "people_opt_outs",
        "people_traits",
        "people_user_traits",
        "people_user_signals",
        "people_segments",
        "people_destinations",
        "people_published",
        "people_ingested_files",
    }
)
_TABLES = [table for table in metadata.sorted_tables if table.name in _NAMES]


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
