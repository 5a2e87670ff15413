"""API clients carry a role: a partner (the shared-audience routes, as before), a viewer
of the administration API, or its admin.

Existing clients are partners, so nothing they could do changes.

Revision ID: p0010
Revises: p0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0010"
down_revision = "p0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the role, partner for every client there is."""
    with op.batch_alter_table("people_api_clients") as table:
        table.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="partner"))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("people_api_clients") as table:
        table.drop_column("role")
