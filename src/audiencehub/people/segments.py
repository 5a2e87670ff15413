"""Segments: a rule over traits and a merge rule (their definitions, in the people database).

Who is in a segment is computed in DuckDB over the lake
(:mod:`audiencehub.people.materialise`); a segment keeps the size its last
materialisation found and when that ran. A new or changed rule has no size until
the next materialisation: callers that create or change one materialise it at once.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from typing_extensions import TypedDict

from audiencehub.db.audit_trail import record_change
from audiencehub.engines.session import DuckBatch
from audiencehub.errors import InUse, InvalidInput, NotFound
from audiencehub.people.lake import reading
from audiencehub.people.materialise import materialise
from audiencehub.people.schema import audit_log, destinations, segments, traits
from audiencehub.people.segment_evaluation import Evaluation, evaluate
from audiencehub.people.segment_rules import parse_rule, trait_ids
from audiencehub.people.segment_sizes import forget_sizes

__all__ = [
    "MergeRule",
    "Segment",
    "add_segment",
    "delete_segment",
    "get_segment",
    "list_segments",
    "preview_rule",
    "refresh_segment",
    "segment_size",
    "update_segment",
]


class MergeRule(enum.StrEnum):
    """Which linked IDs contribute traits to a user when a segment is evaluated."""

    DEVICE = "device"
    LAST_AUTHENTICATED = "last-authenticated"
    ALL_CROSS_DEVICE = "all-cross-device"


class Segment(TypedDict):
    """A segment: its rule over traits, merge rule, and current size."""

    id: int
    name: str
    rule: str
    merge_rule: str
    data_source_id: int | None
    created_at: datetime
    updated_at: datetime
    size: int  # members at the last materialisation (0 before the first one)
    sized_at: datetime | None  # when that ran (None: not yet, or the rule changed since)


def add_segment(
    connection: Connection,
    *,
    segment_id: int,
    name: str,
    rule: str,
    merge_rule: MergeRule = MergeRule.DEVICE,
    data_source_id: int | None = None,
    actor: str | None = None,
) -> Segment:
    """Create a segment after checking its rule parses and names only known traits
    (``actor``: who, for the audit trail; None: the operating-system user)."""
    _check_rule(connection, rule)
    _check_name(connection, name, segment_id)
    now = datetime.now(UTC)
    try:
        with connection.begin_nested():
            connection.execute(
                insert(segments),
                {
                    "id": segment_id,
                    "name": name,
                    "rule": rule,
                    "merge_rule": MergeRule(merge_rule).value,
                    "data_source_id": data_source_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )
    except IntegrityError:
        raise InvalidInput(f"segment {segment_id} (or one named {name!r}) already exists") from None
    created = get_segment(connection, segment_id)
    record_change(
        connection, audit_log, "segment created", actor=actor, after=created, segment_id=segment_id
    )
    return created


def _check_rule(connection: Connection, rule: str) -> None:
    """Refuse a rule that does not parse or names a trait that does not exist."""
    wanted = trait_ids(parse_rule(rule))
    known = set(connection.execute(select(traits.c.id).where(traits.c.id.in_(wanted))).scalars())
    if wanted - known:
        missing = ", ".join(f"T{t}" for t in sorted(wanted - known))
        raise InvalidInput(
            f"the rule names traits that do not exist: {missing}",
            hint="Create them with `audiencehub people traits add` first.",
        )


def _check_name(connection: Connection, name: str, segment_id: int) -> None:
    """Refuse a name another segment has (campaign finds shared audiences by name)."""
    same_name = select(segments.c.id).where(segments.c.name == name, segments.c.id != segment_id)
    taken = connection.execute(same_name).scalar()
    if taken is not None:
        raise InvalidInput(
            f"segment {taken} is already named {name!r}; segment names are unique",
            hint="Choose another name: campaign finds shared audiences by name.",
        )


def update_segment(
    connection: Connection,
    segment_id: int,
    *,
    name: str | None = None,
    rule: str | None = None,
    merge_rule: MergeRule | None = None,
    actor: str | None = None,
) -> Segment:
    """Rename a segment or change its rule; the next publication sends the difference."""
    current = get_segment(connection, segment_id)
    values: dict[str, object] = {"updated_at": datetime.now(UTC)}
    if name is not None:
        if not name.strip():
            raise InvalidInput("a segment's name cannot be empty")
        _check_name(connection, name, segment_id)
        values["name"] = name
    if rule is not None:
        _check_rule(connection, rule)
        values["rule"] = rule
    if merge_rule is not None:
        values["merge_rule"] = MergeRule(merge_rule).value
    if rule is not None or merge_rule is not None:
        values.update(size=None, sized_at=None)  # what it held no longer says what it holds
    connection.execute(update(segments).where(segments.c.id == segment_id).values(**values))
    changed = get_segment(connection, segment_id)
    record_change(
        connection,
        audit_log,
        "segment changed",
        actor=actor,
        before=current,
        after=changed,
        segment_id=segment_id,
    )
    return changed


def delete_segment(connection: Connection, segment_id: int, *, actor: str | None = None) -> None:
    """Delete a segment no destination publishes."""
    current = get_segment(connection, segment_id)
    publishing = [
        destination_id
        for destination_id, carried in connection.execute(
            select(destinations.c.id, destinations.c.segments)
        )
        if segment_id in carried
    ]
    if publishing:
        raise InUse(
            f"segment {segment_id} is published by destination(s) "
            f"{', '.join(map(str, publishing))}",
            hint="Remove it from those destinations first (the next publication then "
            "removes its members there).",
        )
    forget_sizes(connection, segment_id)
    connection.execute(delete(segments).where(segments.c.id == segment_id))
    record_change(
        connection, audit_log, "segment deleted", actor=actor, before=current, segment_id=segment_id
    )


def preview_rule(connection: Connection, rule: str, merge_rule: MergeRule) -> int:
    """How many IDs a rule would hold now, after checking it (for an editor)."""
    _check_rule(connection, rule)
    evaluation = Evaluation(0, parse_rule(rule), MergeRule(merge_rule).value)
    with reading(connection.engine) as session, contextlib.closing(session.cursor()) as work:
        evaluate(connection.engine, DuckBatch(work), [evaluation])
        [(count,)] = work.execute("SELECT count(*) FROM evaluated").fetchall()
    return int(count)


def get_segment(connection: Connection, segment_id: int) -> Segment:
    """One segment, with the size of its last materialisation."""
    row = connection.execute(select(segments).where(segments.c.id == segment_id)).mappings().first()
    if row is None:
        raise NotFound(
            f"the people service has no segment {segment_id}",
            hint="List segments with `audiencehub people segments list`.",
        )
    return _segment(row)


def _segment(row: Mapping[Any, Any]) -> Segment:
    return cast(Segment, {**row, "size": segment_size(row)})


def segment_size(segment: Mapping[Any, Any]) -> int:
    """How many IDs (visitor and customer) the segment held at its last materialisation."""
    return int(segment["size"] or 0)


def list_segments(connection: Connection) -> list[Segment]:
    """Every segment with the size of its last materialisation."""
    rows = connection.execute(select(segments).order_by(segments.c.id)).mappings()
    return [_segment(row) for row in rows]


def refresh_segment(engine: Engine, segment_id: int) -> Segment:
    """Materialise one segment now (after its rule was made or changed) and return it."""
    materialise(engine, segment_ids=[segment_id])
    with engine.connect() as connection:
        return get_segment(connection, segment_id)
