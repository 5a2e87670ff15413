"""Reconciling people-service IDs to campaign profiles, through a shared data source.

Visitor IDs go through the links click tracking records; declared IDs are
compared as regular values, as hashes against the stored reconciliation keys,
or decrypted and then compared. Encrypted email or SMS sources without forced
reconciliation keep every decrypted address, profile or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select

from audiencehub.campaign.data_sources import Channel, ReconciliationKey
from audiencehub.campaign.schema import profile_keys, profiles, visitor_links
from audiencehub.errors import InvalidInput
from audiencehub.identity.ciphers import DeclaredIdCipher
from audiencehub.identity.hashing import decode_digest
from audiencehub.identity.normalize import normalize_email, to_e164
from audiencehub.identity.schemes import HashScheme
from audiencehub.identity.visitor import VisitorId

__all__ = ["Member", "Reconciled", "reconcile"]

Member = tuple[str, int | None, str | None]  # (member key, profile id, address)


@dataclass
class Reconciled:
    """IDs resolved to members, and those that were invalid or matched nothing."""

    members: dict[str, Member] = field(default_factory=dict)
    invalid: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


def _lookup(
    connection: Connection, column: Any, values: Iterable[Any], extra: Sequence[Any] = ()
) -> dict[Any, int]:
    wanted = list(dict.fromkeys(values))
    if not wanted:
        return {}
    query = select(column, profiles.c.id).where(column.in_(bindparam("v", expanding=True)), *extra)
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
    source: dict[str, Any],
    cipher: DeclaredIdCipher | None,
    ids: Iterable[str],
    *,
    force_profile: bool = True,
) -> Reconciled:
    """Resolve ``ids`` through one data source."""
    result = Reconciled()
    ids = list(dict.fromkeys(ids))
    if source["reconciliation"] == "visitor":
        valid = []
        for value in ids:
            try:
                valid.append(VisitorId.parse(value).value)
            except InvalidInput:
                result.invalid.add(value)
        query = (
            select(visitor_links.c.visitor_id, visitor_links.c.profile_id)
            .where(visitor_links.c.visitor_id.in_(bindparam("v", expanding=True)))
            .order_by(visitor_links.c.linked_at)
        )
        linked: dict[str, int] = {}
        for start in range(0, len(valid), 5_000):
            for visitor, profile_id in connection.execute(
                query, {"v": valid[start : start + 5_000]}
            ):
                linked[visitor] = profile_id  # ordered by time: the latest link wins
        _collect(result, valid, linked)
        return result
    key = ReconciliationKey(source["reconciliation_key"])
    if source["hashing"]:
        scheme = HashScheme(source["hashing"])
        digests: dict[str, bytes] = {}
        for value in ids:
            try:
                digests[value] = decode_digest(value, scheme)
            except InvalidInput:
                result.invalid.add(value)
        kind = key.kind.value if key.kind else ""
        by_digest = _lookup(
            connection,
            profile_keys.c.digest,
            digests.values(),
            (
                profile_keys.c.scheme == scheme.value,
                profile_keys.c.kind == kind,
                profile_keys.c.profile_id == profiles.c.id,
            ),
        )
        _collect(
            result, list(digests), {v: by_digest[d] for v, d in digests.items() if d in by_digest}
        )
        return result
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
