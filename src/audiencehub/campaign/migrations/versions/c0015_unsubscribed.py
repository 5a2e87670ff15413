"""When a person opted out through an unsubscribe link, per channel.

An import whose row says the person is not opted out no longer undoes an
opt-out the person made; it takes ``--resubscribe`` (renewed consent) to do so.

Revision ID: c0015
Revises: c0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0015"
down_revision = "c0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two timestamps."""
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("email_unsubscribed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("sms_unsubscribed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("sms_unsubscribed_at")
        batch.drop_column("email_unsubscribed_at")
