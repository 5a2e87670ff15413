"""A profile's ID for a shared data source, as campaign shares it.

Visitor IDs come from click links; declared IDs are the data source's
reconciliation key, normalised, then hashed, encrypted or (for CRM ids only)
sent as they are: personal data never goes out in clear. What has no ID is a
share's complement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.sql import Select

from audiencehub.campaign.schema import profiles, visitor_links
from audiencehub.campaign.sharing.data_sources import (
    DEFAULT_SOURCE,
    ReconciliationKey,
    SharedDataSource,
    get_shared_data_source,
    reconciliation_key_of,
)
from audiencehub.errors import InvalidInput
from audiencehub.identity.ciphers import DeclaredIdCipher
from audiencehub.identity.hashing import hash_id
from audiencehub.identity.normalize import normalize_email, to_e164
from audiencehub.identity.schemes import HashScheme

__all__ = ["declared_id_of", "declared_ids", "has_declared_id", "profiles_without_id"]


def _normalised(key: ReconciliationKey, value: str) -> str | None:
    """The reconciliation key's value as the profile field compares it (None: unusable)."""
    if not value.strip():
        return None
    try:
        if key is ReconciliationKey.EMAIL:
            return normalize_email(value)
        if key is ReconciliationKey.MOBILE_PHONE:
            return to_e164(value)
    except InvalidInput:
        return None
    return value


def has_declared_id(source: SharedDataSource, value: str | None) -> bool:
    """Whether a profile value gives the data source an ID (what :func:`declared_id_of`
    returns something for), without needing the source's key."""
    if not value:
        return False
    if source["hashing"]:  # hashing needs no key: ask the real thing
        return declared_id_of(source, value, None) is not None
    key = reconciliation_key_of(source)
    normal = _normalised(key, value)
    if normal is None:
        return False
    if source["encryption"]:
        return True
    return key.kind is None and ":" not in normal and "%3a" not in normal.lower()


def profiles_without_id(
    connection: Connection, data_source_id: str, members: Select[Any]
) -> list[int]:
    """The profiles of ``members`` (a one-column query of profile ids) that have no ID
    for the data source: no visitor link for ``defaultDataSource``, else no usable
    reconciliation key. They are what a share leaves out: its complement."""
    source = get_shared_data_source(connection, data_source_id)
    wanted = members.subquery()
    ids = next(iter(wanted.c))
    if source["id"] == DEFAULT_SOURCE:
        linked = select(visitor_links.c.profile_id)
        return list(connection.execute(select(ids).where(ids.not_in(linked))).scalars())
    column = profiles.c[reconciliation_key_of(source).value]
    rows = connection.execute(select(profiles.c.id, column).join(wanted, ids == profiles.c.id))
    return [profile for profile, value in rows if not has_declared_id(source, value)]


def declared_id_of(
    source: SharedDataSource, value: str, cipher: DeclaredIdCipher | None
) -> str | None:
    """A profile value in the form a data source shares it (hashed, encrypted or raw CRM id).

    None when it cannot be shared: invalid, or personal data with neither hashing
    nor encryption (such sources cannot be created).
    """
    return declared_ids(source, cipher)(value)


def declared_ids(
    source: SharedDataSource, cipher: DeclaredIdCipher | None
) -> Callable[[str], str | None]:
    """:func:`declared_id_of` for one source, its settings read once: an export calls
    it for every member."""
    key = reconciliation_key_of(source)
    kind = key.kind
    scheme = HashScheme(source["hashing"]) if source["hashing"] else None

    def shared(value: str) -> str | None:
        normal = _normalised(key, value)
        if normal is None:
            return None
        try:
            if scheme is not None:
                return None if kind is None else hash_id(value, scheme, kind)
            if cipher is not None:
                return str(cipher.encrypt(normal))
        except InvalidInput:
            return None
        if kind is not None:  # never in clear; such sources cannot be created
            return None
        return None if ":" in normal or "%3a" in normal.lower() else normal

    return shared
