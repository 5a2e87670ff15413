"""Reconciliation keys without a foreign key to their profile.

A key row is checked against ``profiles`` as it is written. On PostgreSQL that
check also locks the profile's row, which writes to the row's page again: on a
million-profile import the foreign key cost more than the keys' own index
(measured: 1 M key rows COPY'd in key order, 2.1 s without it, 10.3 s with it).
Keys are written only by the profile store, which writes them for profiles it
has just written or locked, and drops them with the profile (see
``campaign.profiles.key_stage``). That rule replaces the constraint.

Revision ID: c0019
Revises: c0018
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0019"
down_revision = "c0018"
branch_labels = None
depends_on = None

_TABLE = "profile_keys"


def _columns(*, foreign_key: bool) -> list[sa.Column[Any]]:
    owner: list[sa.ForeignKey] = (
        [sa.ForeignKey("profiles.id", ondelete="CASCADE")] if foreign_key else []
    )
    return [
        sa.Column("scheme", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("profile_id", ID, *owner, primary_key=True),
    ]


def _rebuild_sqlite(*, foreign_key: bool) -> None:
    """SQLite cannot drop or add a constraint: the table is copied into a new one."""
    op.rename_table(_TABLE, f"{_TABLE}_old")
    op.create_table(_TABLE, *_columns(foreign_key=foreign_key), sqlite_with_rowid=False)
    op.execute(
        f"INSERT INTO {_TABLE} (scheme, kind, digest, profile_id) "
        f"SELECT scheme, kind, digest, profile_id FROM {_TABLE}_old"
    )
    op.drop_table(f"{_TABLE}_old")


def upgrade() -> None:
    """Drop the foreign key."""
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        _rebuild_sqlite(foreign_key=False)
        return
    for key in sa.inspect(connection).get_foreign_keys(_TABLE):
        if key["referred_table"] == "profiles" and key["name"]:
            op.drop_constraint(key["name"], _TABLE, type_="foreignkey")


def downgrade() -> None:
    """Put the foreign key back, first dropping keys whose profile is gone."""
    op.execute(
        f"DELETE FROM {_TABLE} WHERE NOT EXISTS "
        f"(SELECT 1 FROM profiles p WHERE p.id = {_TABLE}.profile_id)"
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(foreign_key=True)
        return
    op.create_foreign_key(
        "profile_keys_profile_id_fkey",
        _TABLE,
        "profiles",
        ["profile_id"],
        ["id"],
        ondelete="CASCADE",
    )
