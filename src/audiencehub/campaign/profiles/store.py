"""Writes of the profile store: chunked upserts, created profiles and key upkeep.

Reconciliation keys (the digests in ``profile_keys``) are written with every
profile write, for every scheme listed in ``key_schemes``, so matching a shared
audience never re-hashes the profile base. Look-ups live in :mod:`.lookup`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from audiencehub.campaign.profiles.fields import ColumnMapping
from audiencehub.campaign.profiles.key_stage import KEY_COLUMNS, KeyStage
from audiencehub.campaign.profiles.merging import (
    FLAG_COLUMNS,
    UNSUBSCRIBED,
    CrmClaims,
    Merger,
)
from audiencehub.campaign.profiles.rows import KeyDigests, ProfileChange, RejectedRow, key_digests
from audiencehub.campaign.schema import key_schemes, profile_keys, profiles
from audiencehub.db.bulk import bulk_insert, inserted_rowids, reserved_ids
from audiencehub.db.value_lists import one_of
from audiencehub.errors import InvalidInput
from audiencehub.identity.normalize import normalize_email
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = [
    "ChunkOutcome",
    "add_key_schemes",
    "apply_changes",
    "create_profile",
    "delete_profile_keys",
    "insert_profile_keys",
    "keys_changed",
    "profile_key_rows",
    "schemes_in_use",
]

_KEY_PARAMS = tuple(f"p_{name}" for name in KEY_COLUMNS)
_REKEY_BATCH = 10_000


def _email_phone(kind: str, value: str | None) -> tuple[str | None, str | None]:
    return (value, None) if kind == IdKind.EMAIL.value else (None, value)


@dataclass
class ChunkOutcome:
    """What applying one chunk of changes did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    kept_opt_outs: int = 0  # opt-outs people made themselves that a row's "no" left in place


@dataclass
class _Pending:
    """A profile as it stands after the rows of this chunk seen so far."""

    profile_id: int | None
    values: tuple[Any, ...]
    attributes: dict[str, Any]
    keys: KeyDigests
    unsubscribed: frozenset[str] = frozenset()  # flags whose opt-out the person made
    resubscribed: set[str] = field(default_factory=set)  # of those, undone by this file
    changed_kinds: set[str] = field(default_factory=set)
    stale_keys: list[tuple[Any, ...]] = field(default_factory=list)
    dirty: bool = False


def schemes_in_use(connection: Connection) -> list[HashScheme]:
    """The hashing schemes reconciliation keys are kept for, in a stable order."""
    rows = connection.execute(select(key_schemes.c.scheme).order_by(key_schemes.c.scheme))
    return [HashScheme(row.scheme) for row in rows]


def apply_changes(
    connection: Connection,
    mapping: ColumnMapping,
    changes: Sequence[ProfileChange],
    schemes: Sequence[HashScheme],
    *,
    stage: KeyStage,
    resubscribe: bool = False,
    new_ids: Mapping[str, int] | None = None,
    claims: CrmClaims | None = None,
) -> ChunkOutcome:
    """Upsert a chunk of validated rows, in file order, inside the caller's transaction.

    ``schemes`` are the schemes in use, to find the keys an email or phone change
    makes stale. An opt-out the person made through an unsubscribe link is not
    undone by a row's "no" unless ``resubscribe`` says the file carries renewed
    consent; then the person's record of it is cleared too. Keys go through
    ``stage``, which the caller writes after its last chunk. ``new_ids``: the id of
    each profile the chunk creates, by key, when the caller drew them (a first load
    numbers its profiles in file order, as chunk after chunk would). ``claims``: who
    each CRM id belongs to, kept by the caller from chunk to chunk of one import.
    """
    outcome = ChunkOutcome()
    merger = Merger(mapping, resubscribe=resubscribe)
    key_column = profiles.c[mapping.key.column]
    existing: dict[str, list[_Pending]] = {}
    wanted = sorted({change.key for change in changes})
    if wanted:
        query = select(
            key_column,
            profiles.c.id,
            profiles.c.attributes,
            profiles.c.email_unsubscribed_at,
            profiles.c.sms_unsubscribed_at,
            *(profiles.c[name] for name in merger.columns),
        ).where(one_of(connection, key_column, wanted))
        rows = connection.execute(query)
        for key, profile_id, attributes, email_left, sms_left, *stored in rows:
            person = frozenset(
                flag
                for flag, left in (("email_opt_out", email_left), ("sms_opt_out", sms_left))
                if left is not None
            )
            existing.setdefault(key, []).append(
                _Pending(profile_id, tuple(stored), dict(attributes), {}, person)
            )
    state: dict[str, _Pending] = {}
    claims = claims or CrmClaims(mapping)
    claims.read(connection, changes)
    for change in changes:
        owner_problem = claims.refused(change)
        if owner_problem is not None:
            outcome.rejected.append(RejectedRow(change.line, owner_problem))
            continue
        found = existing.get(change.key, ())
        if len(found) > 1:
            outcome.rejected.append(
                RejectedRow(
                    change.line,
                    f"{len(found)} profiles share this {mapping.key} ({change.key}); "
                    "import with --key crm_id to tell them apart",
                )
            )
            continue
        current = state.get(change.key) or (found[0] if found else None)
        if current is None:
            values, _ = merger.values((False,) * len(merger.columns), change.values)
            state[change.key] = _Pending(
                None, values, merger.attributes({}, change.attributes), change.keys
            )
            claims.taken(change.key, None, claims.crm_id(values))
            outcome.inserted += 1
            continue
        state[change.key] = current
        values, kept = merger.values(current.values, change.values, current.unsubscribed)
        outcome.kept_opt_outs += kept
        attributes = merger.attributes(current.attributes, change.attributes)
        claims.taken(change.key, claims.crm_id(current.values), claims.crm_id(values))
        if values == current.values and attributes == current.attributes:
            outcome.unchanged += 1
            continue
        outcome.updated += 1
        for kind, digests in change.keys.items():
            at = merger.kind_at[kind]
            if values[at] != current.values[at]:
                if current.profile_id is not None and kind not in current.changed_kinds:
                    old = key_digests(
                        *_email_phone(kind, current.values[at]), schemes, (IdKind(kind),)
                    )
                    current.stale_keys.extend(profile_key_rows(current.profile_id, old, old))
                current.keys[kind] = digests
                current.changed_kinds.add(kind)
        current.resubscribed.update(
            name
            for i, name in merger.protected.items()
            if name in current.unsubscribed and current.values[i] is True and values[i] is False
        )
        current.values, current.attributes = values, attributes
        current.dirty = current.profile_id is not None
    _write(connection, merger.columns, state, stage, new_ids)
    return outcome


def profile_key_rows(
    profile_id: int, keys: KeyDigests, kinds: Iterable[str]
) -> list[tuple[Any, ...]]:
    """The ``profile_keys`` rows (scheme, kind, digest, profile id) of a profile's keys."""
    return [
        (scheme, kind, digest, profile_id)
        for kind in kinds
        for scheme, digest in keys.get(kind, ())
    ]


def _new_ids(connection: Connection, reserved: Sequence[int] | None, count: int) -> Sequence[int]:
    """The ids of the profiles just inserted: reserved before the COPY on PostgreSQL,
    numbered by SQLite otherwise (see :func:`inserted_rowids`)."""
    if reserved is not None:
        return reserved
    rowids = inserted_rowids(connection, count)
    if rowids is None:
        raise RuntimeError(f"no way to number new rows on {connection.dialect.name}")
    return rowids


def _write(
    connection: Connection,
    columns: tuple[str, ...],
    state: dict[str, _Pending],
    stage: KeyStage,
    new_ids: Mapping[str, int] | None,
) -> None:
    now = datetime.now(UTC)
    pending = list(state.values())
    new = [p for p in pending if p.profile_id is None]
    dirty = [p for p in pending if p.dirty]
    key_rows: list[tuple[Any, ...]] = []
    created_keys: list[tuple[Any, ...]] = []
    stale: list[dict[str, Any]] = []
    if new:
        unset_flags = tuple(sorted(FLAG_COLUMNS - set(columns)))
        names = [*columns, *unset_flags, "attributes"]
        rows = ((*p.values, *(False for _ in unset_flags), p.attributes) for p in new)
        ids = (
            [new_ids[key] for key, p in state.items() if p.profile_id is None]
            if new_ids is not None
            else reserved_ids(connection, profiles, len(new))
        )
        if ids is not None:
            names = ["id", *names]
            rows = ((profile_id, *row) for profile_id, row in zip(ids, rows, strict=True))
        bulk_insert(
            connection, profiles, names, rows, constants={"created_at": now, "updated_at": now}
        )
        for profile_id, p in zip(_new_ids(connection, ids, len(new)), new, strict=True):
            created_keys.extend(profile_key_rows(profile_id, p.keys, p.keys))
    if dirty:
        statement = (
            update(profiles)
            .where(profiles.c.id == bindparam("p_id"))
            .values(
                {name: bindparam(f"p_{name}") for name in [*columns, "attributes", "updated_at"]}
            )
        )
        connection.execute(
            statement,
            [
                {"p_id": p.profile_id, "p_attributes": p.attributes, "p_updated_at": now}
                | {f"p_{name}": value for name, value in zip(columns, p.values, strict=True)}
                for p in dirty
            ],
        )
        for flag, column in UNSUBSCRIBED.items():
            renewed = [p.profile_id for p in dirty if flag in p.resubscribed]
            if renewed:  # renewed consent: the person's opt-out is history
                connection.execute(
                    update(profiles).where(profiles.c.id.in_(renewed)).values({column: None})
                )
        stale_rows = [row for p in dirty for row in p.stale_keys]
        if delete_profile_keys(connection, stale_rows):
            stage.delete(stale_rows)
        for p in dirty:
            if p.profile_id is not None:
                key_rows.extend(profile_key_rows(p.profile_id, p.keys, p.changed_kinds))
    stage.add(created_keys, held=True)
    stage.add(key_rows)
    stage.next_chunk()
    if created_keys or key_rows or stale:
        keys_changed(connection)


def keys_changed(connection: Connection, schemes: Sequence[HashScheme] | None = None) -> None:
    """Give ``schemes`` (every scheme in use by default) a new keys token.

    Called in the transaction that writes their keys, so a columnar copy read
    under the old token is never used again once that transaction commits.
    """
    statement = update(key_schemes).values(keys_token=secrets.token_hex(16))
    if schemes is not None:
        statement = statement.where(key_schemes.c.scheme.in_([s.value for s in schemes]))
    connection.execute(statement)


def create_profile(
    connection: Connection,
    *,
    email: str | None = None,
    mobile_phone: str | None = None,
    crm_id: str | None = None,
    **flags: bool,
) -> int:
    """Insert one profile with its reconciliation keys; returns its id.

    For profiles made one at a time (a triggered message's recipient who had
    none): like an import, it writes the keys of every scheme in use, so a
    shared-audience import matches the profile from its first minute. ``flags``
    are the opt-out and blocklist fields, false when not given.
    """
    unknown = sorted(set(flags) - FLAG_COLUMNS)
    if unknown:
        raise InvalidInput(f"unknown profile flags: {', '.join(unknown)}")
    now = datetime.now(UTC)
    profile_id = connection.execute(
        insert(profiles).returning(profiles.c.id),
        {
            "crm_id": crm_id,
            "email": email,
            "email_key": normalize_email(email) if email else None,
            "mobile_phone": mobile_phone,
            "attributes": {},
            "created_at": now,
            "updated_at": now,
            **dict.fromkeys(FLAG_COLUMNS, False),
            **flags,
        },
    ).scalar_one()
    keys = key_digests(email, mobile_phone, schemes_in_use(connection), tuple(IdKind))
    if insert_profile_keys(connection, int(profile_id), keys):
        keys_changed(connection)
    return int(profile_id)


def delete_profile_keys(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Delete ``profile_keys`` rows (as :func:`profile_key_rows` gives them) by their whole
    primary key; how many were asked for.

    A profile's keys are the digests of its email and phone under the schemes in use,
    so whoever changes or erases them computes the old ones and deletes those: no
    index leads by ``profile_id`` (each import would pay for its upkeep), and deleting
    by it would read the whole table.
    """
    if rows:
        connection.execute(
            delete(profile_keys).where(
                *(profile_keys.c[name] == bindparam(f"p_{name}") for name in KEY_COLUMNS)
            ),
            [dict(zip(_KEY_PARAMS, row, strict=True)) for row in rows],
        )
    return len(rows)


def insert_profile_keys(connection: Connection, profile_id: int, keys: KeyDigests) -> int:
    """Store one profile's keys (as :func:`.rows.key_digests` computes them); how many."""
    rows = profile_key_rows(profile_id, keys, keys)
    if rows:
        bulk_insert(connection, profile_keys, KEY_COLUMNS, rows)
    return len(rows)


def add_key_schemes(connection: Connection, schemes: Sequence[HashScheme]) -> int:
    """Start keeping keys for ``schemes`` and compute them for every stored profile.

    Returns how many key rows were written. Schemes already in use are skipped,
    so running it twice changes nothing. The profiles read are locked against
    deletion until the transaction ends (their keys are written at its end, in
    key order: see :mod:`.key_stage`).
    """
    in_use = set(schemes_in_use(connection))
    new = [s for s in dict.fromkeys(schemes) if s not in in_use]
    if not new:
        return 0
    connection.execute(
        insert(key_schemes),
        [
            {"scheme": s.value, "added_at": datetime.now(UTC), "keys_token": secrets.token_hex(16)}
            for s in new
        ],
    )
    stage = KeyStage(connection)
    last_id = 0
    kinds = (IdKind.EMAIL, IdKind.PHONE)
    while True:
        batch = connection.execute(
            select(profiles.c.id, profiles.c.email, profiles.c.mobile_phone)
            .where(profiles.c.id > last_id)
            .order_by(profiles.c.id)
            .limit(_REKEY_BATCH)
            .with_for_update(read=True, key_share=True)
        ).all()
        if not batch:
            break
        rows: list[tuple[Any, ...]] = []
        for profile_id, email, phone in batch:
            keys = key_digests(email, phone, new, kinds)
            rows.extend(profile_key_rows(profile_id, keys, keys))
        stage.add(rows, held=True)  # locked above
        last_id = batch[-1][0]
    stage.write()
    return stage.staged
