"""S3 credentials of an external account: an access key id, and its secret sealed.

Accounts without them keep using the standard AWS environment and configuration
chain, as before.

Revision ID: c0011
Revises: c0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0011"
down_revision = "c0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns (empty: existing accounts use the environment)."""
    op.add_column("external_accounts", sa.Column("access_key_id", sa.String(128)))
    op.add_column("external_accounts", sa.Column("secret", sa.LargeBinary))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("external_accounts") as batch:
        batch.drop_column("secret")
        batch.drop_column("access_key_id")
