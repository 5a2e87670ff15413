"""A token per hashing scheme that changes with every write of its reconciliation keys.

Columnar copies of the keys (see ``campaign.stored_keys``) are named after the
token they were read under, so a copy is used only while no key of its scheme
has changed since. Random rather than a counter: a database restored from a
backup can never meet a copy made from a later state under the same token.

Revision ID: c0010
Revises: c0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "c0010"
down_revision = "c0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column and give every scheme in use a token."""
    op.add_column("key_schemes", sa.Column("keys_token", sa.String(32)))
    schemes = sa.table("key_schemes", sa.column("scheme"), sa.column("keys_token"))
    connection = op.get_bind()
    for (scheme,) in connection.execute(sa.select(schemes.c.scheme)).all():
        connection.execute(
            schemes.update()
            .where(schemes.c.scheme == scheme)
            .values(keys_token=secrets.token_hex(16))
        )


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("key_schemes") as batch:
        batch.drop_column("keys_token")
