"""External accounts: the two drop locations campaign shares files through.

``importSharedAudience`` (people -> campaign) and ``exportSharedAudience``
(campaign -> people), each a local folder (the embedded default, under the
workspace) or an S3 prefix. S3 credentials come from the standard AWS
environment and are never stored here.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from audiencehub.campaign.schema import external_accounts
from audiencehub.db.bulk import upsert
from audiencehub.drops import DropLocation, open_drop

__all__ = ["Account", "account_drop", "get_account", "set_account", "test_account"]


class Account(enum.StrEnum):
    """The two external accounts of the integration."""

    IMPORT = "importSharedAudience"
    EXPORT = "exportSharedAudience"


def set_account(
    connection: Connection,
    name: Account,
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    server_side_encryption: bool = False,
) -> dict[str, Any]:
    """Point an account at a folder or an S3 prefix."""
    upsert(
        connection,
        external_accounts,
        [
            {
                "name": name.value,
                "url": url,
                "endpoint_url": endpoint_url,
                "region": region,
                "server_side_encryption": server_side_encryption,
            }
        ],
        keys=("name",),
        update=("url", "endpoint_url", "region", "server_side_encryption"),
    )
    return get_account(connection, name, Path())


def get_account(connection: Connection, name: Account, workspace: Path) -> dict[str, Any]:
    """An account's settings; unset accounts are folders under ``workspace/drops``."""
    row = (
        connection.execute(select(external_accounts).where(external_accounts.c.name == name.value))
        .mappings()
        .first()
    )
    if row is None:
        return {
            "name": name.value,
            "url": str(workspace / "drops" / name.value),
            "endpoint_url": None,
            "region": None,
            "server_side_encryption": False,
        }
    return dict(row)


def account_drop(connection: Connection, name: Account, workspace: Path) -> DropLocation:
    """The drop location an account points at."""
    account = get_account(connection, name, workspace)
    return open_drop(
        account["url"],
        endpoint_url=account["endpoint_url"],
        region=account["region"],
        server_side_encryption=account["server_side_encryption"],
    )


def test_account(connection: Connection, name: Account, workspace: Path) -> list[str]:
    """List the location; connection, bucket and permission problems raise with the reason."""
    return [obj.key for obj in account_drop(connection, name, workspace).list()]
