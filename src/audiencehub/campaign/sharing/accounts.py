"""External accounts: the two drop locations campaign shares files through.

``importSharedAudience`` (people -> campaign) and ``exportSharedAudience``
(campaign -> people), each a local folder (the embedded default, under the
workspace) or an S3 prefix. An S3 account may carry its own access key id and
secret (the secret sealed with the workspace key, never shown); without them
it uses the standard AWS environment, so a server with an instance role needs
no stored secret at all.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

from sqlalchemy import Connection, delete, select
from typing_extensions import TypedDict

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import audit_log, external_accounts
from audiencehub.db.audit_trail import record_change
from audiencehub.db.bulk import upsert
from audiencehub.drops import DropLocation, check_location, open_drop
from audiencehub.errors import ConfigurationError, InvalidInput

__all__ = [
    "Account",
    "AccountSettings",
    "account_drop",
    "check_account",
    "get_account",
    "reset_account",
    "set_account",
]


class Account(enum.StrEnum):
    """The two external accounts of the integration."""

    IMPORT = "importSharedAudience"
    EXPORT = "exportSharedAudience"


class AccountSettings(TypedDict):
    """An account as shown: where it points, never its secret; ``credentials`` says where
    S3 credentials come from (``stored (sealed)`` or ``AWS environment``; None for folders)."""

    name: str
    url: str
    endpoint_url: str | None
    region: str | None
    server_side_encryption: bool
    access_key_id: str | None
    credentials: str | None


def set_account(
    connection: Connection,
    vault: KeyVault,
    name: Account,
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    server_side_encryption: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    actor: str | None = None,
) -> AccountSettings:
    """Point an account at a folder or an S3 prefix (with credentials, or the environment's;
    ``actor``: who, for the audit trail, which says a secret was given, never the secret)."""
    check_location(url)
    current = get_account(connection, name, Path())
    if (access_key_id is None) != (secret_access_key is None):
        raise InvalidInput(
            "give both an access key id and its secret access key, or neither",
            hint="Without them the account uses the AWS environment's credentials.",
        )
    if access_key_id is not None and not url.startswith("s3://"):
        raise InvalidInput("credentials are for S3 accounts; a folder needs none")
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
                "access_key_id": access_key_id,
                "secret": (
                    None
                    if secret_access_key is None
                    else vault.seal({"secret_access_key": secret_access_key})
                ),
            }
        ],
        keys=("name",),
        update=(
            "url",
            "endpoint_url",
            "region",
            "server_side_encryption",
            "access_key_id",
            "secret",
        ),
    )
    changed = get_account(connection, name, Path())
    new = {**changed, "secret": "replaced"} if secret_access_key is not None else changed
    record_change(
        connection, audit_log, "account set", actor=actor, before=current, after=new, account=name
    )
    return changed


def _settings(
    connection: Connection, name: Account, workspace: Path
) -> tuple[AccountSettings, bytes | None]:
    """An account's settings as shown (never the secret), and its sealed secret."""
    row = (
        connection.execute(select(external_accounts).where(external_accounts.c.name == name.value))
        .mappings()
        .first()
    )
    if row is None:
        default = AccountSettings(
            name=name.value,
            url=str(workspace / "drops" / name.value),
            endpoint_url=None,
            region=None,
            server_side_encryption=False,
            access_key_id=None,
            credentials=None,
        )
        return default, None
    credentials = None
    if row["url"].startswith("s3://"):
        credentials = "stored (sealed)" if row["secret"] else "AWS environment"
    shown = AccountSettings(
        name=row["name"],
        url=row["url"],
        endpoint_url=row["endpoint_url"],
        region=row["region"],
        server_side_encryption=row["server_side_encryption"],
        access_key_id=row["access_key_id"],
        credentials=credentials,
    )
    return shown, row["secret"]


def get_account(connection: Connection, name: Account, workspace: Path) -> AccountSettings:
    """An account's settings, never its secret; unset accounts are folders under
    ``workspace/drops``. ``credentials`` says where S3 credentials come from."""
    return _settings(connection, name, workspace)[0]


def reset_account(connection: Connection, name: Account, *, actor: str | None = None) -> None:
    """Forget an account's settings and sealed secret: it points at its workspace folder
    again (an account always exists, so the jobs always know where to look)."""
    current = get_account(connection, name, Path())
    connection.execute(delete(external_accounts).where(external_accounts.c.name == name.value))
    record_change(connection, audit_log, "account reset", actor=actor, before=current, account=name)


def account_drop(
    connection: Connection, vault: KeyVault, name: Account, workspace: Path
) -> DropLocation:
    """The drop location an account points at, with its credentials."""
    account, sealed = _settings(connection, name, workspace)
    credentials = None
    if sealed is not None:
        secret = vault.open(sealed)["secret_access_key"]
        credentials = (str(account["access_key_id"]), str(secret))
    return open_drop(
        account["url"],
        endpoint_url=account["endpoint_url"],
        region=account["region"],
        server_side_encryption=account["server_side_encryption"],
        credentials=credentials,
    )


def check_account(
    connection: Connection, vault: KeyVault, name: Account, workspace: Path
) -> list[str]:
    """List the location; what is wrong (a missing folder or bucket, bad credentials,
    no permission) raises with the reason and what to do."""
    account = get_account(connection, name, workspace)
    url = account["url"]
    if not url.startswith("s3://"):
        folder = Path(url)
        if not folder.is_dir():
            raise ConfigurationError(
                f"{name}: the folder {folder} does not exist",
                hint=f"Create it (mkdir -p {folder}) or point the account elsewhere with "
                "`audiencehub accounts set`.",
            )
        if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            raise ConfigurationError(
                f"{name}: no permission to read and write the folder {folder}",
                hint="Give the user running audiencehub read and write access to it.",
            )
    return [obj.key for obj in account_drop(connection, vault, name, workspace).list()]
