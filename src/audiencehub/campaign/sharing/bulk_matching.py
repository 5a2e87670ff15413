"""Reconciling a whole outbound batch in the bulk engine, DuckDB or Spark.

The batch's lines are a relation of the engine's session
(:mod:`audiencehub.engines.outbound`); the SQL below is written once and spelled
for the session's engine by its :class:`~audiencehub.engines.dialect.Dialect`.
Each data source, in priority order, contributes a lookup that the lines are
LEFT JOINed with; a line takes the member of the first source that resolves it:

- hashed declared IDs are decoded in SQL (the same patterns as
  :func:`~audiencehub.identity.hashing.decode_digest`) and joined with the
  stored reconciliation keys, a Parquet file the engine reads itself;
- visitor IDs are validated in SQL and joined with the click links, the latest
  link of each visitor winning;
- regular and encrypted IDs, which need Python's normalisation or a cipher per
  value, go through :func:`~audiencehub.campaign.sharing.value_matching.reconcile`
  (only the distinct IDs the sources before them left).

One streaming pass then groups the lines by member and status, with a flag per
audience segment: nothing of size 10 M is held but the stored keys. Lines are
counted, not distinct IDs, so ``matched + unmatched + invalid + format errors``
is every line read. Everything here reads; the import job writes the changes in
one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, select

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import audience_addresses, audience_members
from audiencehub.campaign.sharing.data_sources import SharedDataSource, cipher_of
from audiencehub.campaign.sharing.stored_keys import Lookups
from audiencehub.campaign.sharing.value_matching import reconcile
from audiencehub.engines import extract
from audiencehub.engines.identifiers import digest_of, visitor_valid
from audiencehub.engines.outbound import LINES
from audiencehub.engines.session import BatchSession
from audiencehub.identity.schemes import HashScheme

__all__ = [
    "LineTally",
    "MembershipChange",
    "Outcome",
    "membership_change",
    "resolve_lines",
]


@dataclass(frozen=True, slots=True)
class LineTally:
    """Every line of the batch, counted once by what became of it."""

    read: int
    format_errors: int
    matched: int
    invalid: int
    unmatched: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """A grouped resolution: the table it sits in, and its tally."""

    table: str
    tally: LineTally


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """What one audience gains and loses, by profile id (or by address, for a file audience)."""

    added: pa.Table  # profile_id; or address and profile_id; sorted by the key
    removed: pa.Array  # profile ids, or addresses


@dataclass(frozen=True, slots=True)
class _Lookup:
    """One source's part of the resolving query (SQL over the line alias ``l``)."""

    joins: str
    hit: str  # the source resolved the line
    profile_id: str
    address: str  # NULL for profiles; the address of a file audience's member
    valid: str
    derived: str = ""  # ", <expression> AS <name>" computed once per line, for the joins


def _hashed(session: BatchSession, keys: Path, index: int, scheme: HashScheme) -> _Lookup:
    session.read_parquet(f"keys_{index}", keys)
    alias = f"s{index}"
    return _Lookup(
        f"LEFT JOIN keys_{index} {alias} ON {alias}.digest = l.d{index}",
        f"{alias}.profile_id IS NOT NULL",
        f"{alias}.profile_id",
        "NULL",
        f"l.d{index} IS NOT NULL",
        f", {digest_of('id', scheme, session.dialect)} AS d{index}",
    )


def _visitor(session: BatchSession, links: pa.Table | Path, index: int) -> _Lookup:
    if not isinstance(links, pa.Table):
        raise TypeError("click links are read as an Arrow table")
    session.register("links", links)
    latest = session.dialect.arg_max("profile_id", "linked_at")
    session.create_table(
        f"links_{index}",
        f"SELECT visitor_id, {latest} AS profile_id FROM links GROUP BY visitor_id",
    )
    session.unregister("links")
    alias = f"s{index}"
    return _Lookup(
        f"LEFT JOIN links_{index} {alias} ON {alias}.visitor_id = l.id",
        f"{alias}.profile_id IS NOT NULL",
        f"{alias}.profile_id",
        "NULL",
        visitor_valid("l.id", session.dialect),
    )


def _by_python(
    session: BatchSession,
    connection: Connection,
    vault: KeyVault,
    index: int,
    source: SharedDataSource,
    earlier: Sequence[_Lookup],
    *,
    force_profile: bool,
) -> _Lookup:
    unresolved = " AND ".join(f"NOT {part.hit}" for part in earlier) or "true"
    ids = session.rows(
        f"SELECT DISTINCT l.id FROM {_lines(earlier)} {' '.join(p.joins for p in earlier)} "
        f"WHERE l.ok AND {unresolved}"
    )
    outcome = reconcile(
        connection,
        source,
        cipher_of(connection, vault, source["id"]),
        [row[0] for row in ids],
        force_profile=force_profile,
    )
    members = outcome.members
    found = pa.table(
        {
            "id": pa.array(list(members), pa.string()),
            "profile_id": pa.array([m[1] for m in members.values()], pa.int64()),
            "address": pa.array([m[2] for m in members.values()], pa.string()),
        }
    )
    session.register(f"found_{index}", found)
    session.register(f"refused_{index}", pa.table({"id": pa.array(outcome.invalid, pa.string())}))
    alias = f"s{index}"
    return _Lookup(
        f"LEFT JOIN found_{index} {alias} ON {alias}.id = l.id "
        f"LEFT JOIN refused_{index} x{index} ON x{index}.id = l.id",
        f"{alias}.id IS NOT NULL",
        f"{alias}.profile_id",
        f"{alias}.address",
        f"x{index}.id IS NULL",
    )


def _lines(parts: Sequence[_Lookup]) -> str:
    """The lines with what the lookups derive from each ID, aliased ``l``."""
    derived = "".join(p.derived for p in parts)
    return f"(SELECT *{derived} FROM {LINES}) l" if derived else f"{LINES} l"


def _first(parts: Sequence[_Lookup], attribute: str) -> str:
    if not parts:
        return "NULL"
    cases = " ".join(f"WHEN {p.hit} THEN {getattr(p, attribute)}" for p in parts)
    return f"CASE {cases} END"


def _lists(column: str, segment: int) -> str:
    """SQL: the comma-separated ``column`` lists ``segment``.

    The two common cases (just that segment, or none) are settled by comparing,
    the rest by searching the padded list: a third less work on 10 M lines than
    building the padded text every time.
    """
    one = int(segment)
    return (
        f"CASE WHEN {column} = '{one}' THEN true WHEN {column} = '' THEN false "
        f"ELSE contains(',' || {column} || ',', ',{one},') END"
    )


# status codes of a line, grouped on as small integers
_FORMAT, _MATCHED, _INVALID, _UNMATCHED = range(4)


def _group(
    session: BatchSession,
    table: str,
    parts: Sequence[_Lookup],
    segments: list[int],
    *,
    removals: bool,
) -> Outcome:
    """One pass over the lines: members with their segment flags, and the tally.

    Members are grouped on (profile id, address): a number for profiles, the
    address for a file audience's members. What no lookup can give is left out of
    the grouping (10 M lines: a tenth of the pass): the address when every lookup
    finds profiles, the removal flags when the batch is *full* (it replaces, so
    its removals mean nothing).
    """
    valid = " AND ".join(p.valid for p in parts) or "true"
    hit = " OR ".join(p.hit for p in parts) or "false"
    flags = "".join(
        f"bool_or(l_ok AND {_lists('segments', s)}) AS add_{i}, "
        + (f"bool_or(l_ok AND {_lists('removed', s)}) AS drop_{i}, " if removals else "")
        for i, s in enumerate(segments)
    )
    addresses = any(p.address != "NULL" for p in parts)
    address, grouped = (
        ("address", ", address") if addresses else (f"{session.dialect.null_text} AS address", "")
    )
    session.create_table(
        table,
        f"""
        SELECT status, profile_id, {address}, {flags}count(*) AS n
        FROM (
            SELECT {_first(parts, "profile_id")} AS profile_id,
                   {_first(parts, "address") if addresses else "NULL"} AS address,
                   CASE WHEN NOT l.ok THEN {_FORMAT}
                        WHEN {hit} THEN {_MATCHED}
                        WHEN NOT ({valid}) THEN {_INVALID}
                        ELSE {_UNMATCHED} END AS status,
                   l.segments, l.removed, l.ok AS l_ok
            FROM {_lines(parts)} {" ".join(p.joins for p in parts)}
        )
        GROUP BY status, profile_id{grouped}
        """,
    )
    counts = dict(session.rows(f"SELECT status, sum(n) FROM {table} GROUP BY status"))
    tally = LineTally(
        read=int(sum(counts.values())),
        format_errors=int(counts.get(_FORMAT, 0)),
        matched=int(counts.get(_MATCHED, 0)),
        invalid=int(counts.get(_INVALID, 0)),
        unmatched=int(counts.get(_UNMATCHED, 0)),
    )
    return Outcome(table, tally)


def resolve_lines(
    session: BatchSession,
    lookups: Lookups,
    connection: Connection,
    vault: KeyVault,
    sources: Sequence[SharedDataSource],
    segments: list[int],
    *,
    full: bool,
    file_source: SharedDataSource | None = None,
    table: str = "outcome",
) -> Outcome:
    """Resolve the lines through ``sources`` in order, grouped with a flag per segment
    (and, for an *iter* batch, a removal flag per segment).

    With ``file_source``, resolve through that encrypted source alone, keeping
    every decrypted address, profile or not (a *file* audience).
    """
    parts: list[_Lookup] = []
    if file_source is not None:
        parts.append(
            _by_python(session, connection, vault, 0, file_source, [], force_profile=False)
        )
        outcome = _group(session, table, parts, segments, removals=not full)
        return _released(session, outcome, 1)
    for index, source in enumerate(sources):
        if source["reconciliation"] == "visitor":
            parts.append(_visitor(session, lookups[index], index))
        elif source["hashing"]:
            keys = lookups[index]
            if not isinstance(keys, Path):
                raise TypeError("stored keys are read as a Parquet file")
            parts.append(_hashed(session, keys, index, HashScheme(source["hashing"])))
        else:
            parts.append(
                _by_python(session, connection, vault, index, source, parts, force_profile=True)
            )
    outcome = _group(session, table, parts, segments, removals=not full)
    return _released(session, outcome, len(sources))


def _released(session: BatchSession, outcome: Outcome, sources: int) -> Outcome:
    """Drop the session's references to the Arrow tables the lookups registered."""
    for index in range(sources):
        for name in (f"keys_{index}", f"found_{index}", f"refused_{index}"):
            session.unregister(name)  # a name never registered is ignored
    return outcome


def membership_change(
    session: duckdb.DuckDBPyConnection,
    engine: Engine,
    audience: Any,
    outcome: Outcome,
    flag: int,
    *,
    full: bool,
) -> MembershipChange:
    """Compare the batch's members of the audience's segment with its stored members.

    A *full* batch replaces the membership; an *iter* batch adds the members
    that carry the segment and removes those that list it as removed (a member
    carrying both is kept).
    """
    if audience["type"] == "file":
        key, columns, table = "address", "address, profile_id", audience_addresses
    else:
        key, columns, table = "profile_id", "profile_id", audience_members
    stored = select(table.c[key]).where(table.c.audience_id == audience["id"])
    with engine.connect() as connection:  # an empty audience needs no extract (and no process)
        empty = connection.execute(stored.limit(1)).first() is None
    current = (
        pa.table({key: pa.array([], pa.string() if key == "address" else pa.int64())})
        if empty
        else extract(engine, stored)
    )
    session.register("current_members", current)
    matched = f"SELECT * FROM {outcome.table} WHERE status = {_MATCHED} AND {key} IS NOT NULL"
    added = session.sql(
        f"SELECT {columns} FROM ({matched}) WHERE add_{flag} "
        f"AND {key} NOT IN (SELECT {key} FROM current_members) ORDER BY {key}"
    ).to_arrow_table()
    if full:
        removed_sql = (
            f"SELECT {key} FROM current_members WHERE {key} NOT IN "
            f"(SELECT {key} FROM ({matched}) WHERE add_{flag})"
        )
    else:
        removed_sql = (
            f"SELECT {key} FROM ({matched}) WHERE drop_{flag} AND NOT add_{flag} "
            f"AND {key} IN (SELECT {key} FROM current_members)"
        )
    removed = session.sql(removed_sql).to_arrow_table()
    session.unregister("current_members")
    return MembershipChange(added, removed.column(key).combine_chunks())
