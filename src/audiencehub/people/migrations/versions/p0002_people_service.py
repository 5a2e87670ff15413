"""The people service: data sources, users and ID graph, traits, segments, destinations.

The tables are written out as they were when this revision was made: a
migration must not change when the schema module does. Later revisions change
them explicitly, and a test checks that a migrated database matches the
metadata.

Revision ID: p0002
Revises: p0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "p0002"
down_revision = "p0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every people table."""
    op.create_table(
        "people_data_sources",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("integration_code", sa.String(length=255), nullable=True),
        sa.Column("id_type", sa.String(length=16), nullable=False),
        sa.Column("inbound_id_type", sa.String(length=16), nullable=False),
        sa.Column("authenticated_profile", sa.Boolean(), nullable=False),
        sa.Column("share_enabled", sa.Boolean(), nullable=False),
        sa.Column("export_controls", sa.JSON(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_code"),
    )
    op.create_table(
        "people_destinations",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("drop_url", sa.Text(), nullable=False),
        sa.Column("id_type", sa.String(length=16), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=True),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("export_labels", sa.JSON(), nullable=False),
        sa.Column("split_rows", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "people_ingested_files",
        sa.Column("batch", sa.String(length=1024), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch"),
    )
    op.create_table(
        "people_published",
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("destination_id", "segment_id", "member"),
    )
    op.create_table(
        "people_segments",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("merge_rule", sa.String(length=32), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "people_users",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("data_source_id", "external_id", name="uq_people_users_external"),
    )
    op.create_table(
        "people_id_links",
        sa.Column("device_user_id", ID, nullable=False),
        sa.Column("customer_user_id", ID, nullable=False),
        sa.Column("auth_state", sa.Integer(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_user_id"],
            ["people_users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["device_user_id"],
            ["people_users.id"],
        ),
        sa.PrimaryKeyConstraint("device_user_id", "customer_user_id"),
    )
    op.create_index(
        "ix_people_id_links_customer", "people_id_links", ["customer_user_id"], unique=False
    )
    op.create_table(
        "people_opt_outs",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["people_users.id"],
        ),
        sa.PrimaryKeyConstraint("user_id", "data_source_id"),
    )
    op.create_table(
        "people_traits",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.Column("integration_code", sa.String(length=255), nullable=True),
        sa.Column("rule", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["people_data_sources.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("data_source_id", "integration_code", name="uq_people_traits_code"),
    )
    op.create_table(
        "people_user_signals",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["people_users.id"],
        ),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )
    op.create_table(
        "people_user_traits",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("trait_id", sa.Integer(), nullable=False),
        sa.Column("realized_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trait_id"],
            ["people_traits.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["people_users.id"],
        ),
        sa.PrimaryKeyConstraint("user_id", "trait_id"),
    )
    op.create_index("ix_people_user_traits_trait", "people_user_traits", ["trait_id"], unique=False)


def downgrade() -> None:
    """Drop every people table."""
    op.drop_index("ix_people_user_traits_trait", table_name="people_user_traits")
    op.drop_table("people_user_traits")
    op.drop_table("people_user_signals")
    op.drop_table("people_traits")
    op.drop_table("people_opt_outs")
    op.drop_index("ix_people_id_links_customer", table_name="people_id_links")
    op.drop_table("people_id_links")
    op.drop_table("people_users")
    op.drop_table("people_segments")
    op.drop_table("people_published")
    op.drop_table("people_ingested_files")
    op.drop_table("people_destinations")
    op.drop_table("people_data_sources")
