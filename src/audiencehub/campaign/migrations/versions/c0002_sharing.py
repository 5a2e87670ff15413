"""Sharing: shared data sources, audiences, visitor links, accounts, batches, audit.

Revision ID: c0002
Revises: c0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the sharing tables; the built-in visitor-ID source exists from the start."""
    sources = op.create_table(
        "shared_data_sources",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("alias_dpid", sa.Integer),
        sa.Column("destination_id", sa.Integer),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("reconciliation", sa.String(16), nullable=False),
        sa.Column("reconciliation_key", sa.String(32)),
        sa.Column("hashing", sa.String(16)),
        sa.Column("encryption", sa.String(16)),
        sa.Column("channel", sa.String(8)),
        sa.Column("secret", sa.LargeBinary),
        sa.Column("terms_accepted_by", sa.String(255)),
        sa.Column("terms_accepted_at", sa.DateTime(timezone=True)),
        sa.Column("last_file_processed", sa.String(1024)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_shared_data_sources_destination_id", "shared_data_sources", ["destination_id"]
    )
    op.bulk_insert(
        sources,
        [
            {
                "id": "defaultDataSource",
                "label": "Default data source (visitor ID)",
                "priority": 0,
                "reconciliation": "visitor",
                "created_at": datetime.now(UTC),
            }
        ],
    )
    op.create_table(
        "audiences",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("segment_id", sa.Integer),
        sa.Column("data_source_id", sa.String(32), sa.ForeignKey("shared_data_sources.id")),
        sa.Column("force_profile", sa.Boolean, nullable=False),
        sa.Column("last_report", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audience_members",
        sa.Column("audience_id", ID, sa.ForeignKey("audiences.id"), primary_key=True),
        sa.Column("member", sa.String(512), primary_key=True),
        sa.Column("profile_id", ID),
        sa.Column("address", sa.String(320)),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "visitor_links",
        sa.Column("visitor_id", sa.String(38), primary_key=True),
        sa.Column("profile_id", ID, sa.ForeignKey("profiles.id"), primary_key=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "external_accounts",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("endpoint_url", sa.Text),
        sa.Column("region", sa.String(32)),
        sa.Column("server_side_encryption", sa.Boolean, nullable=False),
    )
    op.create_table(
        "processed_batches",
        sa.Column("batch", sa.String(1024), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("data_source_id", sa.String(32)),
        sa.Column("details", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    """Drop the sharing tables."""
    for table in (
        "audit_log",
        "processed_batches",
        "external_accounts",
        "visitor_links",
        "audience_members",
        "audiences",
    ):
        op.drop_table(table)
    op.drop_index("ix_shared_data_sources_destination_id", table_name="shared_data_sources")
    op.drop_table("shared_data_sources")
