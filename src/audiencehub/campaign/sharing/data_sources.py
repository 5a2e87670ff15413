"""Campaign's shared data sources: how IDs of a people-service source map to profiles.

``defaultDataSource`` reconciles visitor IDs; ``AMCDS<n>`` sources reconcile
declared IDs through a profile field, compared as a regular, hashed or
encrypted value. Nothing moves through a source whose data-use terms are not
accepted, and no source may carry an email or phone number in clear.
"""

from __future__ import annotations

import enum
import os
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, update
from typing_extensions import TypedDict

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.profiles.store import add_key_schemes
from audiencehub.campaign.schema import audiences, audit_log, shared_data_sources, shares
from audiencehub.campaign.users import Role, User, require
from audiencehub.db.audit_trail import record_change
from audiencehub.errors import ConfigurationError, InUse, InvalidInput, LegalRestriction, NotFound
from audiencehub.identity.ciphers import AesCbcCipher, AesSivCipher, DeclaredIdCipher
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = [
    "DATA_USE_TERMS",
    "DEFAULT_SOURCE",
    "Channel",
    "Encryption",
    "ReconciliationKey",
    "SharedDataSource",
    "accept_terms",
    "add_shared_data_source",
    "cipher_of",
    "delete_shared_data_source",
    "get_shared_data_source",
    "list_shared_data_sources",
    "reconciliation_key_of",
    "require_terms",
    "update_shared_data_source",
]

DEFAULT_SOURCE = "defaultDataSource"

# what an admin reads, and accepts in the organisation's name, before data moves
DATA_USE_TERMS = """Data moved through this data source is governed by these terms.

1. Only visitor IDs, hashed or encrypted declared IDs, or opaque customer IDs
   travel in shared files; no email address, phone number or name in clear.
2. You have the right to use the people service's data for campaign's
   purposes, and the people in your audiences were informed and, where the
   law requires it, consented.
3. Opt-outs hold end to end: an opted-out or blocklisted profile is never
   exported, and an opt-out in the people service removes the ID from what it
   publishes.
4. Every import and export is written to the audit trail: who, what, when,
   through which source, and the counts.
5. Export controls set on the people service's data sources are respected by
   every destination they reach.
"""


class ReconciliationKey(enum.StrEnum):
    """The profile field a declared ID is compared with."""

    EMAIL = "email"
    MOBILE_PHONE = "mobile_phone"
    CRM_ID = "crm_id"

    @property
    def kind(self) -> IdKind | None:
        """The kind of personal data the field holds (None: an opaque id)."""
        return {"email": IdKind.EMAIL, "mobile_phone": IdKind.PHONE}.get(self.value)


class Encryption(enum.StrEnum):
    """How a source's declared IDs are encrypted."""

    AES_CBC = "aes-cbc"
    AES_SIV = "aes-siv"


class Channel(enum.StrEnum):
    """What decrypted IDs can be used for; ``other`` is never decrypted."""

    EMAIL = "email"
    SMS = "sms"
    OTHER = "other"


class SharedDataSource(TypedDict):
    """A shared data source as every caller sees it: its settings, never its key material."""

    id: str
    label: str
    alias_dpid: int | None
    destination_id: int | None
    priority: int
    reconciliation: str  # visitor | declared
    reconciliation_key: str | None
    hashing: str | None
    encryption: str | None
    channel: str | None
    terms_accepted_by: str | None
    terms_accepted_at: datetime | None
    last_file_processed: str | None
    created_at: datetime
    has_key: bool


def source_record(row: RowMapping) -> SharedDataSource:
    """The record of a ``shared_data_sources`` row: ``has_key`` instead of the sealed secret."""
    source = {k: v for k, v in row.items() if k != "secret"}
    source["has_key"] = row["secret"] is not None
    return cast(SharedDataSource, source)


def reconciliation_key_of(source: SharedDataSource) -> ReconciliationKey:
    """The profile field a declared-ID source compares with; ``defaultDataSource``
    reconciles visitor IDs and has none."""
    if source["reconciliation_key"] is None:
        raise InvalidInput(
            f"data source {source['id']} reconciles visitor IDs, not a profile field"
        )
    return ReconciliationKey(source["reconciliation_key"])


def add_shared_data_source(
    connection: Connection,
    vault: KeyVault,
    *,
    label: str,
    key: ReconciliationKey,
    hashing: HashScheme | None = None,
    encryption: Encryption | None = None,
    enc_key: str | None = None,
    enc_iv: str | None = None,
    channel: Channel | None = None,
    priority: int = 0,
    alias_dpid: int | None = None,
    destination_id: int | None = None,
    enc_key_env: str | None = None,
    enc_iv_env: str | None = None,
    actor: str | None = None,
) -> SharedDataSource:
    """Create a declared-ID source ``AMCDS<n>``; keys are checked, then stored sealed
    (``actor``: who, for the audit trail, which says whether it has a key, never the key).

    ``enc_key_env`` / ``enc_iv_env`` reference environment variables instead:
    only their names are stored, and the values are read each time the key is
    used, for secrets kept in a secret manager that injects them. The variables
    must be set now, so a wrong name fails here and not at the next import.
    """
    if enc_key_env is not None:
        enc_key = _from_environment(enc_key_env, "the key")
    if enc_iv_env is not None:
        enc_iv = _from_environment(enc_iv_env, "the IV")
    if hashing and encryption:
        raise InvalidInput("choose hashing or encryption, not both")
    if key.kind is not None and not hashing and not encryption:
        raise LegalRestriction(
            f"reconciliation key {key} would put personal data in clear into shared files",
            hint="Choose --hashing (aam, uid2, google, meta) or --encryption for this source.",
        )
    if hashing and key.kind not in HashScheme(hashing).kinds:
        raise InvalidInput(f"the {hashing} scheme cannot hash a {key}")
    secret = None
    if encryption is not None:
        if enc_key is None:
            raise InvalidInput("encryption needs --enc-key")
        if encryption is Encryption.AES_CBC:
            if enc_iv is None:
                raise InvalidInput("AES-CBC needs --enc-iv")
            AesCbcCipher.from_hex(enc_key, enc_iv)
        else:
            AesSivCipher.from_hex(enc_key)
        secret = vault.seal(
            {
                "key": None if enc_key_env else enc_key,
                "iv": None if enc_iv_env else enc_iv,
                "key_env": enc_key_env,
                "iv_env": enc_iv_env,
            }
        )
        channel = channel or Channel.OTHER
    count = connection.execute(
        select(func.count())
        .select_from(shared_data_sources)
        .where(shared_data_sources.c.id.like("AMCDS%"))
    ).scalar_one()
    source_id = f"AMCDS{count + 1}"
    connection.execute(
        insert(shared_data_sources),
        {
            "id": source_id,
            "label": label,
            "alias_dpid": alias_dpid,
            "destination_id": destination_id,
            "priority": priority,
            "reconciliation": "declared",
            "reconciliation_key": key.value,
            "hashing": hashing.value if hashing else None,
            "encryption": encryption.value if encryption else None,
            "channel": channel.value if channel else None,
            "secret": secret,
            "created_at": datetime.now(UTC),
        },
    )
    if hashing:
        add_key_schemes(connection, [HashScheme(hashing)])
    created = get_shared_data_source(connection, source_id)
    record_change(
        connection,
        audit_log,
        "data source created",
        actor=actor,
        after=created,
        data_source_id=source_id,
    )
    return created


def get_shared_data_source(connection: Connection, source_id: str) -> SharedDataSource:
    """One source, without its sealed key material."""
    row = (
        connection.execute(select(shared_data_sources).where(shared_data_sources.c.id == source_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"campaign has no shared data source {source_id!r}",
            hint="List them with `audiencehub datasources list`.",
        )
    return source_record(row)


def list_shared_data_sources(connection: Connection) -> list[SharedDataSource]:
    """Every source, highest priority first."""
    ids = connection.execute(
        select(shared_data_sources.c.id).order_by(
            shared_data_sources.c.priority.desc(), shared_data_sources.c.id
        )
    ).scalars()
    return [get_shared_data_source(connection, source_id) for source_id in ids]


def accept_terms(
    connection: Connection, source_id: str, user: User, *, actor: str | None = None
) -> SharedDataSource:
    """Record which user accepted the data-use terms of a source, and when: an enabled admin,
    named, since accepting them is a legal act on the organisation's behalf (``actor``:
    who did it for them, for the audit trail: the user themselves on a page or the API)."""
    get_shared_data_source(connection, source_id)
    if user["disabled"]:
        raise InvalidInput(f"user {user['name']!r} is disabled")
    require(user, Role.ADMIN)
    connection.execute(
        update(shared_data_sources)
        .where(shared_data_sources.c.id == source_id)
        .values(terms_accepted_by=user["name"], terms_accepted_at=datetime.now(UTC))
    )
    record_change(
        connection,
        audit_log,
        "terms accepted",
        actor=actor,
        data_source_id=source_id,
        user=user["name"],
    )
    return get_shared_data_source(connection, source_id)


def update_shared_data_source(
    connection: Connection,
    source_id: str,
    *,
    label: str | None = None,
    priority: int | None = None,
    destination_id: int | None = None,
    actor: str | None = None,
) -> SharedDataSource:
    """Change what can change without re-keying: the label, the priority, the destination.

    How IDs are compared (key, hashing, encryption) is fixed at creation: changing it
    would silently re-interpret every audience already imported through the source.
    """
    current = get_shared_data_source(connection, source_id)
    if label is not None and not label.strip():
        raise InvalidInput("a data source's label cannot be empty")
    changes = {
        "label": label,
        "priority": priority,
        "destination_id": destination_id,
    }
    values = {column: value for column, value in changes.items() if value is not None}
    if values:
        connection.execute(
            update(shared_data_sources)
            .where(shared_data_sources.c.id == source_id)
            .values(**values)
        )
    changed = get_shared_data_source(connection, source_id)
    record_change(
        connection,
        audit_log,
        "data source changed",
        actor=actor,
        before=current,
        after=changed,
        data_source_id=source_id,
    )
    return changed


def delete_shared_data_source(
    connection: Connection, source_id: str, *, actor: str | None = None
) -> None:
    """Delete a source no audience and no share uses (the built-in visitor source stays)."""
    current = get_shared_data_source(connection, source_id)
    if source_id == DEFAULT_SOURCE:
        raise InvalidInput(f"{DEFAULT_SOURCE} is built in and cannot be deleted")
    used = list(
        connection.execute(
            select(audiences.c.name).where(audiences.c.data_source_id == source_id)
        ).scalars()
    )
    used += [
        f"share into segment {segment}"
        for segment in connection.execute(
            select(shares.c.segment_id).where(shares.c.data_source_id == source_id)
        ).scalars()
    ]
    if used:
        raise InUse(
            f"data source {source_id} is used by {', '.join(map(str, used[:5]))}"
            + (f" and {len(used) - 5} more" if len(used) > 5 else ""),
            hint="Delete or move those audiences and shares first.",
        )
    connection.execute(delete(shared_data_sources).where(shared_data_sources.c.id == source_id))
    record_change(
        connection,
        audit_log,
        "data source deleted",
        actor=actor,
        before=current,
        data_source_id=source_id,
    )


def require_terms(source: SharedDataSource) -> None:
    """Refuse to move data through a source whose terms are not accepted."""
    if source["terms_accepted_at"] is None:
        raise LegalRestriction(
            f"the data-use terms of data source {source['id']} are not accepted; "
            "nothing is imported or exported through it",
            hint=f"An admin accepts them with `audiencehub datasources accept-terms {source['id']} "
            f"--user NAME` (or POST /api/v1/datasources/{source['id']}/terms).",
        )


def cipher_of(connection: Connection, vault: KeyVault, source_id: str) -> DeclaredIdCipher | None:
    """The source's cipher, opened from its sealed key (None when it does not encrypt)."""
    row = connection.execute(
        select(shared_data_sources.c.encryption, shared_data_sources.c.secret).where(
            shared_data_sources.c.id == source_id
        )
    ).first()
    if row is None or row.encryption is None:
        return None
    secret = vault.open(row.secret)
    what = f"data source {source_id}'s"
    key = secret.get("key") or _from_environment(secret.get("key_env"), f"{what} key")
    if row.encryption == Encryption.AES_CBC.value:
        iv = secret.get("iv") or _from_environment(secret.get("iv_env"), f"{what} IV")
        return AesCbcCipher.from_hex(key, iv)
    return AesSivCipher.from_hex(key)


def _from_environment(name: str | None, what: str) -> str:
    """A key referenced by an environment variable's name."""
    value = os.environ.get(name) if name else None
    if not value:
        raise ConfigurationError(
            f"{what} is referenced from the environment variable {name}, which is not set",
            hint=f"Set {name} in the environment of every audiencehub process.",
        )
    return value
