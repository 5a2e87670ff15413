"""Migrated databases match the Core metadata the code uses, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from audiencehub.campaign.schema import metadata as campaign_metadata
from audiencehub.db import System
from audiencehub.people.schema import metadata as people_metadata


def _differences(engine, metadata, system):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": system.version_table, "compare_type": False}
        )
        diff = compare_metadata(context, metadata)
    own = {table.name for table in metadata.tables.values()}

    def table_of(difference):
        subject = difference[1]
        return subject.name if difference[0] == "remove_table" else subject.table.name

    # each system's database may hold the other's tables when both share one
    return [d for d in diff if table_of(d) in own]


def test_campaign_migrations_match_the_schema(workspace):
    """No table, column or index differs between migrations and campaign/schema.py."""
    assert _differences(workspace.campaign, campaign_metadata, System.CAMPAIGN) == []


def test_people_migrations_match_the_schema(workspace):
    """No table, column or index differs between migrations and people/schema.py."""
    assert _differences(workspace.people, people_metadata, System.PEOPLE) == []
