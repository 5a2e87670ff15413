"""The global data sources: device advertising ID namespaces every people service has.

Adobe documents them ("Global Data Sources"): GAID 20914, IDFA 20915, RIDA
121963, MAID 389146, TIFA 963906, Fire TV 488258, LGUDID 1171485 and Vizio IFA
1171489, named by integration code ``DSID_<id>``. A workspace that already has a
data source of one of these ids keeps its own.

Revision ID: p0008
Revises: p0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "p0008"
down_revision = "p0007"
branch_labels = None
depends_on = None

_GLOBAL = {
    20914: "Google Advertising ID (GAID)",
    20915: "Apple ID for Advertising (IDFA)",
    121963: "Roku ID for Advertising (RIDA)",
    389146: "Microsoft Advertising ID (MAID)",
    963906: "Samsung Tizen ID for Advertising (TIFA)",
    488258: "Amazon Fire TV Advertising ID",
    1171485: "LG webOS TV ID (LGUDID)",
    1171489: "Vizio ID for Advertising (IFA)",
}
_SOURCES = sa.table(
    "people_data_sources",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("integration_code", sa.String),
    sa.column("id_type", sa.String),
    sa.column("inbound_id_type", sa.String),
    sa.column("authenticated_profile", sa.Boolean),
    sa.column("share_enabled", sa.Boolean),
    sa.column("export_controls", sa.JSON),
    sa.column("retention_days", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    """Add the global data sources this database does not have yet."""
    connection = op.get_bind()
    taken = set(connection.execute(sa.select(_SOURCES.c.id)).scalars())
    codes = set(connection.execute(sa.select(_SOURCES.c.integration_code)).scalars())
    rows: list[dict[str, object]] = [
        {
            "id": dpid,
            "name": name,
            "integration_code": f"DSID_{dpid}" if f"DSID_{dpid}" not in codes else None,
            "id_type": "device",
            "inbound_id_type": "customer",  # files and syncs carry the device IDs themselves
            "authenticated_profile": False,
            "share_enabled": True,
            "export_controls": [],
            "retention_days": 120,  # "discards device advertising IDs after 120 days"
            "created_at": datetime.now(UTC),
        }
        for dpid, name in _GLOBAL.items()
        if dpid not in taken
    ]
    if rows:
        op.bulk_insert(_SOURCES, rows)


def downgrade() -> None:
    """Remove the global data sources nothing refers to."""
    connection = op.get_bind()
    for dpid in _GLOBAL:
        try:
            with connection.begin_nested():
                connection.execute(sa.delete(_SOURCES).where(_SOURCES.c.id == dpid))
        except sa.exc.IntegrityError:
            pass  # a trait or user refers to it: it stays
