"""Reads and writes of the profile store: chunked upserts, look-ups and key upkeep.

Reconciliation keys (the digests in ``profile_keys``) are written with every
profile write, for every scheme listed in ``key_schemes``, so matching a shared
audience never re-hashes the profile base.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from audiencehub.campaign.profile_fields import ColumnMapping, ProfileField, UpsertKey
from audiencehub.campaign.profile_rows import KeyDigests, ProfileChange, RejectedRow, key_digests
from audiencehub.campaign.schema import key_schemes, profile_keys, profiles
from audiencehub.errors import NotFound
from audiencehub.identity.hashing import encode_digest
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = [
    "ChunkOutcome",
    "add_key_schemes",
    "apply_changes",
    "count_profiles",
    "get_profile",
    "schemes_in_use",
]

_KIND_FIELD = {IdKind.EMAIL.value: "email", IdKind.PHONE.value: "mobile_phone"}
_DEFAULTS: dict[str, object] = {
    column.name: None
    for column in profiles.columns
    if column.name not in ("id", "attributes", "created_at", "updated_at")
} | {"email_opt_out": False, "sms_opt_out": False, "blocklisted": False}
_REKEY_BATCH = 10_000


@dataclass
class ChunkOutcome:
    """What applying one chunk of changes did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)


@dataclass
class _Pending:
    """A profile as it stands after the rows of this chunk seen so far."""

    profile_id: int | None
    values: dict[str, Any]
    attributes: dict[str, Any]
    keys: KeyDigests
    changed_kinds: set[str] = field(default_factory=set)
    dirty: bool = False


def schemes_in_use(connection: Connection) -> list[HashScheme]:
    """The hashing schemes reconciliation keys are kept for, in a stable order."""
    rows = connection.execute(select(key_schemes.c.scheme).order_by(key_schemes.c.scheme))
    return [HashScheme(row.scheme) for row in rows]


def _value_columns(mapping: ColumnMapping) -> list[str]:
    names = [field.value for field in ProfileField if field in mapping.mapped_fields]
    if ProfileField.EMAIL in mapping.mapped_fields:
        names.append("email_key")
    return names


def apply_changes(
    connection: Connection, mapping: ColumnMapping, changes: Sequence[ProfileChange]
) -> ChunkOutcome:
    """Upsert a chunk of validated rows, in file order, inside the caller's transaction."""
    outcome = ChunkOutcome()
    columns = _value_columns(mapping)
    key_column = profiles.c[mapping.key.column]
    existing: dict[str, list[_Pending]] = {}
    wanted = sorted({change.key for change in changes})
    if wanted:
        query = select(
            profiles.c.id, key_column.label("upsert_key"), profiles.c.attributes,
            *(profiles.c[name] for name in columns),
        ).where(key_column.in_(wanted))
        for row in connection.execute(query).mappings():
            existing.setdefault(row["upsert_key"], []).append(
                _Pending(row["id"], {name: row[name] for name in columns}, dict(row["attributes"]), {})
            )
    state: dict[str, _Pending] = {}
    for change in changes:
        found = existing.get(change.key, [])
        if len(found) > 1:
            outcome.rejected.append(RejectedRow(
                change.line, change.fields,
                f"{len(found)} profiles share this {mapping.key} ({change.key}); "
                "import with --key crm_id to tell them apart",
            ))
            continue
        current = state.get(change.key) or (found[0] if found else None)
        if current is None:
            state[change.key] = _Pending(
                None,
                change.values,
                {k: v for k, v in change.attributes.items() if v is not None},
                change.keys,
            )
            outcome.inserted += 1
            continue
        state[change.key] = current
        values = {**current.values, **change.values}
        attributes = dict(current.attributes)
        for name, value in change.attributes.items():
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
        if values == current.values and attributes == current.attributes:
            outcome.unchanged += 1
            continue
        outcome.updated += 1
        for kind, digests in change.keys.items():
            if values.get(_KIND_FIELD[kind]) != current.values.get(_KIND_FIELD[kind]):
                current.keys[kind] = digests
                current.changed_kinds.add(kind)
        current.values, current.attributes = values, attributes
        current.dirty = current.profile_id is not None
    _write(connection, columns, state.values())
    return outcome


def _key_rows(profile_id: int, keys: KeyDigests, kinds: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {"profile_id": profile_id, "scheme": scheme, "kind": kind, "digest": digest}
        for kind in kinds
        for scheme, digest in keys.get(kind, [])
    ]


def _write(connection: Connection, columns: list[str], pending: Iterable[_Pending]) -> None:
    now = datetime.now(UTC)
    new = [p for p in pending if p.profile_id is None]
    dirty = [p for p in pending if p.dirty]
    key_rows: list[dict[str, Any]] = []
    if new:
        rows = [
            {**_DEFAULTS, **p.values, "attributes": p.attributes, "created_at": now, "updated_at": now}
            for p in new
        ]
        result = connection.execute(
            insert(profiles).returning(profiles.c.id, sort_by_parameter_order=True), rows
        )
        for p, profile_id in zip(new, result.scalars(), strict=True):
            key_rows.extend(_key_rows(profile_id, p.keys, p.keys))
    if dirty:
        statement = (
            update(profiles)
            .where(profiles.c.id == bindparam("p_id"))
            .values({name: bindparam(f"p_{name}") for name in [*columns, "attributes", "updated_at"]})
        )
        connection.execute(statement, [
            {"p_id": p.profile_id, "p_attributes": p.attributes, "p_updated_at": now}
            | {f"p_{name}": p.values.get(name) for name in columns}
            for p in dirty
        ])
        stale = [
            {"p_id": p.profile_id, "p_kind": kind} for p in dirty for kind in p.changed_kinds
        ]
        if stale:
            connection.execute(
                delete(profile_keys).where(
                    profile_keys.c.profile_id == bindparam("p_id"),
                    profile_keys.c.kind == bindparam("p_kind"),
                ),
                stale,
            )
        for p in dirty:
            assert p.profile_id is not None  # noqa: S101 -- dirty implies stored
            key_rows.extend(_key_rows(p.profile_id, p.keys, p.changed_kinds))
    if key_rows:
        connection.execute(insert(profile_keys), key_rows)


def count_profiles(connection: Connection) -> int:
    """How many profiles the store holds."""
    return int(connection.execute(select(func.count()).select_from(profiles)).scalar_one())


def get_profile(connection: Connection, key: str) -> dict[str, Any]:
    """A profile by email (any case), CRM id or numeric id, with its reconciliation keys."""
    text = key.strip()
    if "@" in text:
        condition = profiles.c.email_key == text.lower()
        by = UpsertKey.EMAIL.value
    else:
        condition = profiles.c.crm_id == text
        by = "CRM id"
        if text.isdigit():
            condition = condition | (profiles.c.id == int(text))
            by = "CRM id or id"
    rows = connection.execute(select(profiles).where(condition).limit(2)).mappings().all()
    if not rows:
        raise NotFound(
            f"no profile has the {by} {text!r}",
            hint="Look a profile up by email, CRM id or numeric id.",
        )
    if len(rows) > 1:
        raise NotFound(f"several profiles match {text!r}", hint="Look it up by CRM id instead.")
    profile: dict[str, Any] = dict(rows[0])
    keys = connection.execute(
        select(profile_keys.c.scheme, profile_keys.c.kind, profile_keys.c.digest)
        .where(profile_keys.c.profile_id == profile["id"])
        .order_by(profile_keys.c.kind, profile_keys.c.scheme)
    )
    profile["keys"] = [
        {"scheme": r.scheme, "kind": r.kind, "hash": encode_digest(r.digest, HashScheme(r.scheme))}
        for r in keys
    ]
    return profile


def add_key_schemes(connection: Connection, schemes: Sequence[HashScheme]) -> int:
    """Start keeping keys for ``schemes`` and compute them for every stored profile.

    Returns how many key rows were written. Schemes already in use are skipped,
    so running it twice changes nothing.
    """
    new = [s for s in dict.fromkeys(schemes) if s not in schemes_in_use(connection)]
    if not new:
        return 0
    connection.execute(
        insert(key_schemes), [{"scheme": s.value, "added_at": datetime.now(UTC)} for s in new]
    )
    written, last_id = 0, 0
    kinds = {IdKind.EMAIL, IdKind.PHONE}
    while True:
        batch = connection.execute(
            select(profiles.c.id, profiles.c.email, profiles.c.mobile_phone)
            .where(profiles.c.id > last_id)
            .order_by(profiles.c.id)
            .limit(_REKEY_BATCH)
        ).all()
        if not batch:
            return written
        rows: list[dict[str, Any]] = []
        for profile_id, email, phone in batch:
            keys = key_digests(email, phone, new, kinds)
            rows.extend(_key_rows(profile_id, keys, keys))
        if rows:
            connection.execute(insert(profile_keys), rows)
        written += len(rows)
        last_id = batch[-1][0]
