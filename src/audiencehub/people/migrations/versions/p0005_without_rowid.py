"""Trait realisations and published state stored in key order (WITHOUT ROWID on SQLite).

Both tables are looked up and written by their composite primary key only. As
rowid tables SQLite kept each twice: the table and an index of the key. Stored
in key order they are one B-tree, and a publication's or an ingest's inserts
write half the pages (measured: 2 M trait rows 7.0 s -> 5.4 s). PostgreSQL has
no such distinction; nothing changes there.

Revision ID: p0005
Revises: p0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "p0005"
down_revision = "p0004"
branch_labels = None
depends_on = None


def _columns(table: str) -> list[sa.Column[Any]]:
    if table == "people_user_traits":
        return [
            sa.Column("user_id", ID, sa.ForeignKey("people_users.id"), primary_key=True),
            sa.Column("trait_id", sa.Integer, sa.ForeignKey("people_traits.id"), primary_key=True),
            sa.Column("realized_at", sa.DateTime(timezone=True), nullable=False),
        ]
    return [
        sa.Column("destination_id", sa.Integer, primary_key=True),
        sa.Column("segment_id", sa.Integer, primary_key=True),
        sa.Column("member", sa.String(512), primary_key=True),
    ]


def _rebuild(table: str, *, rowid: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    sql = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if ("WITHOUT ROWID" not in sql.upper()) == rowid:
        return  # already as wanted (a database created after the schema changed)
    op.rename_table(table, f"{table}_old")
    op.create_table(table, *_columns(table), sqlite_with_rowid=rowid)
    op.execute(f"INSERT INTO {table} SELECT * FROM {table}_old")
    op.drop_table(f"{table}_old")
    if table == "people_user_traits":
        op.create_index("ix_people_user_traits_trait", table, ["trait_id"])


def upgrade() -> None:
    """Store both tables in key order."""
    for table in ("people_user_traits", "people_published"):
        _rebuild(table, rowid=False)


def downgrade() -> None:
    """Back to rowid tables."""
    for table in ("people_user_traits", "people_published"):
        _rebuild(table, rowid=True)
