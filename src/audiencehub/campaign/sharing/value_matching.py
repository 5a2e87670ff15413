"""Reconciling regular and encrypted declared IDs to campaign profiles.

These need Python per value (normalisation, a cipher), so the import's bulk
engine hands them here; visitor IDs and hashed declared IDs are joined in SQL
(:mod:`audiencehub.campaign.sharing.bulk_matching`). Regular values are
compared as the profile field stores them; encrypted ones are decrypted first
(or, for the ``other`` channel, matched by encrypting the profiles' values).
Encrypted email or SMS sources without forced reconciliation keep every
decrypted address, profile or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select

from audiencehub.campaign.schema import profiles
from audiencehub.campaign.sharing.data_sources import (
    Channel,
    ReconciliationKey,
    SharedDataSource,
    reconciliation_key_of,
)
from audiencehub.errors import InvalidInput
from audiencehub.identity.ciphers import DeclaredIdCipher
from audiencehub.identity.normalize import normalize_email, to_e164

__all__ = ["Member", "Reconciled", "reconcile"]

Member = tuple[str, int | None, str | None]  # (member key, profile id, address)


@dataclass
class Reconciled:
    """IDs resolved to members, and those that were invalid or matched nothing."""

    members: dict[str, Member] = field(default_factory=dict)
    invalid: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


def _lookup(connection: Connection, column: Any, values: Iterable[Any]) -> dict[Any, int]:
    wanted = list(dict.fromkeys(values))
    if not wanted:
        return {}
    query = select(column, profiles.c.id).where(column.in_(bindparam("v", expanding=True)))
    found: dict[Any, int] = {}
    for start in range(0, len(wanted), 5_000):
        for value, profile_id in connection.execute(query, {"v": wanted[start : start + 5_000]}):
            found.setdefault(value, profile_id)
    return found


def _regular(
    connection: Connection, key: ReconciliationKey, values: dict[str, str]
) -> dict[str, int]:
    """Raw (or decrypted) values -> profile ids, compared the way the field stores them."""
    normal: dict[str, str] = {}
    for original, value in values.items():
        try:
            if key is ReconciliationKey.EMAIL:
                normal[original] = normalize_email(value)
            elif key is ReconciliationKey.MOBILE_PHONE:
                normal[original] = to_e164(value)
            else:
                normal[original] = value
        except InvalidInput:
            continue
    column = {
        ReconciliationKey.EMAIL: profiles.c.email_key,
        ReconciliationKey.MOBILE_PHONE: profiles.c.mobile_phone,
        ReconciliationKey.CRM_ID: profiles.c.crm_id,
    }[key]
    found = _lookup(connection, column, normal.values())
    return {original: found[value] for original, value in normal.items() if value in found}


def reconcile(
    connection: Connection,
    source: SharedDataSource,
    cipher: DeclaredIdCipher | None,
    ids: Iterable[str],
    *,
    force_profile: bool = True,
) -> Reconciled:
    """Resolve ``ids`` through one regular or encrypted declared-ID source."""
    result = Reconciled()
    ids = list(dict.fromkeys(ids))
    key = reconciliation_key_of(source)
    if cipher is None:
        _collect(result, ids, _regular(connection, key, {v: v for v in ids}))
        return result
    if source["channel"] == Channel.OTHER.value:
        # never decrypted: matched by encrypting the profile values the same way
        column = profiles.c[key.value]
        encrypted = {
            cipher.encrypt(value): profile_id
            for value, profile_id in connection.execute(
                select(column, profiles.c.id).where(column.is_not(None))
            )
        }
        _collect(
            result, ids, {v: encrypted[v.lstrip("xX")] for v in ids if v.lstrip("xX") in encrypted}
        )
        return result
    plain: dict[str, str] = {}
    for value in ids:
        try:
            plain[value] = cipher.decrypt(value)
        except InvalidInput:
            result.invalid.add(value)
    matched = _regular(connection, key, plain)
    if force_profile:
        _collect(result, list(plain), matched)
        return result
    for original, address in plain.items():
        try:
            normal = (
                normalize_email(address) if key is ReconciliationKey.EMAIL else to_e164(address)
            )
        except InvalidInput:
            result.invalid.add(original)
            continue
        result.members[original] = (f"a:{normal}", matched.get(original), normal)
    return result


def _collect(result: Reconciled, ids: Sequence[str], found: dict[str, int]) -> None:
    for value in ids:
        profile_id = found.get(value)
        if profile_id is None:
            result.unmatched.add(value)
        else:
            result.members[value] = (f"p:{profile_id}", profile_id, None)
