"""A user's key-values keep every value of a key: ``product = tablet, product = phone``.

Adobe's inbound contents page sends one key twice on a line and both values
count. ``people_user_signals`` held one ``value`` per key; it now holds
``value_list``, a JSON array of the values as written. Each stored value becomes
a one-element array, so nothing is lost; a downgrade keeps the first value.

Revision ID: p0009
Revises: p0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "p0009"
down_revision = "p0008"
branch_labels = None
depends_on = None

_TABLE = "people_user_signals"


def _rebuild(column: sa.Column[Any], select_sql: str) -> None:
    op.create_table(
        f"{_TABLE}_new",
        sa.Column("user_id", ID, sa.ForeignKey("people_users.id"), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        column,
        sa.PrimaryKeyConstraint("user_id", "key"),
    )
    op.execute(f"INSERT INTO {_TABLE}_new SELECT user_id, key, {select_sql} FROM {_TABLE}")
    op.drop_table(_TABLE)
    op.rename_table(f"{_TABLE}_new", _TABLE)


def upgrade() -> None:
    """Each stored value becomes a one-element JSON array."""
    postgres = op.get_bind().dialect.name == "postgresql"
    _rebuild(
        sa.Column("value_list", sa.JSON(), nullable=False),
        "json_build_array(value)" if postgres else "json_array(value)",
    )


def downgrade() -> None:
    """Back to one value per key: the first of each array."""
    postgres = op.get_bind().dialect.name == "postgresql"
    _rebuild(
        sa.Column("value", sa.Text(), nullable=False),
        "value_list->>0" if postgres else "json_extract(value_list, '$[0]')",
    )
