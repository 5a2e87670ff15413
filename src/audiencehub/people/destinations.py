"""Campaign destinations of the people service: where batches go, with which IDs and labels.

A destination names a drop location, an ID type (visitor IDs, or the declared
IDs of one data source), the segments it carries, export labels and a split
size. A segment whose data sources' export controls clash with the labels is
refused, here and again at each publication.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from typing_extensions import TypedDict

from audiencehub.db.audit_trail import record_change
from audiencehub.drops import check_location
from audiencehub.errors import InvalidInput, NotFound
from audiencehub.people.data_sources import ExportControl, get_data_source
from audiencehub.people.lake import delete_rows
from audiencehub.people.schema import audit_log, data_sources, destinations, traits
from audiencehub.people.segment_rules import parse_rule, trait_ids
from audiencehub.people.segments import get_segment

__all__ = [
    "EXPORT_LABELS",
    "Destination",
    "add_destination",
    "check_controls",
    "delete_destination",
    "destination_ids",
    "get_destination",
    "list_destinations",
    "update_destination",
]

# the labels a destination may carry: one per export control that forbids it
EXPORT_LABELS = frozenset(control.forbidden_label for control in ExportControl)


class Destination(TypedDict):
    """Where segments are published: a drop location, the IDs it takes and its labels."""

    id: int
    name: str
    drop_url: str
    id_type: str  # visitor | declared
    data_source_id: int | None
    segments: list[int]
    export_labels: list[str]
    split_rows: int
    alias: str
    created_at: datetime


def add_destination(
    connection: Connection,
    *,
    destination_id: int,
    name: str,
    drop_url: str,
    id_type: str,
    segment_ids: Sequence[int],
    data_source_id: int | None = None,
    export_labels: Sequence[str] = (),
    split_rows: int = 1_000_000,
    alias: str = "audiencehub",
    actor: str | None = None,
) -> Destination:
    """Create a campaign destination, refusing segments its labels may not carry
    (``actor``: who, for the audit trail; None: the operating-system user)."""
    if id_type not in ("visitor", "declared"):
        raise InvalidInput(f"ID type {id_type!r} is not visitor or declared")
    check_location(drop_url)
    if id_type == "declared":
        if data_source_id is None:
            raise InvalidInput(
                "a declared-ID destination names the data source of its IDs",
                hint="Pass --datasource DPID.",
            )
        get_data_source(connection, data_source_id)
    unknown = set(export_labels) - EXPORT_LABELS
    if unknown:
        raise InvalidInput(
            f"unknown export labels: {', '.join(sorted(unknown))}",
            hint=f"Labels are {', '.join(sorted(EXPORT_LABELS))}.",
        )
    if split_rows < 1 or not alias.isalnum():
        raise InvalidInput("split rows must be positive and the alias letters and digits only")
    for segment_id in segment_ids:
        check_controls(connection, segment_id, export_labels)
    row = {
        "id": destination_id,
        "name": name,
        "drop_url": drop_url,
        "id_type": id_type,
        "data_source_id": data_source_id,
        "segments": sorted(set(segment_ids)),
        "export_labels": sorted(set(export_labels)),
        "split_rows": split_rows,
        "alias": alias,
        "created_at": datetime.now(UTC),
    }
    try:
        with connection.begin_nested():
            connection.execute(insert(destinations), row)
    except IntegrityError:
        raise InvalidInput(f"destination {destination_id} already exists") from None
    created = get_destination(connection, destination_id)
    record_change(
        connection,
        audit_log,
        "destination created",
        actor=actor,
        after=created,
        destination_id=destination_id,
    )
    return created


def check_controls(connection: Connection, segment_id: int, labels: Sequence[str]) -> None:
    """Refuse a segment whose data sources' export controls forbid one of ``labels``."""
    segment = get_segment(connection, segment_id)
    used = trait_ids(parse_rule(segment["rule"]))
    sources = select(traits.c.data_source_id).where(traits.c.id.in_(used))
    rows = connection.execute(
        select(data_sources.c.id, data_sources.c.name, data_sources.c.export_controls)
        .where(data_sources.c.id.in_(sources))
        .order_by(data_sources.c.id)
    )
    for source_id, source_name, controls in rows:
        for control in map(ExportControl, controls):
            if control.forbidden_label in labels:
                raise InvalidInput(
                    f"segment {segment_id} uses data source {source_id} ({source_name}), whose "
                    f"data {control.description} ({control}); the destination is labelled "
                    f"{control.forbidden_label}",
                    hint="Remove that label from the destination, or the segment from it.",
                )


def get_destination(connection: Connection, destination_id: int) -> Destination:
    """One destination."""
    row = (
        connection.execute(select(destinations).where(destinations.c.id == destination_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"the people service has no destination {destination_id}")
    return cast(Destination, dict(row))


def destination_ids(connection: Connection) -> list[int]:
    """Every destination's id, in order (what "publish everything" publishes)."""
    return [
        int(found)
        for found in connection.execute(select(destinations.c.id).order_by(destinations.c.id))
        .scalars()
        .all()
    ]


def list_destinations(connection: Connection) -> list[Destination]:
    """Every destination, by id."""
    rows = connection.execute(select(destinations).order_by(destinations.c.id)).mappings()
    return [cast(Destination, dict(row)) for row in rows]


def update_destination(
    connection: Connection,
    destination_id: int,
    *,
    name: str | None = None,
    segment_ids: Sequence[int] | None = None,
    export_labels: Sequence[str] | None = None,
    actor: str | None = None,
) -> Destination:
    """Change a destination's name, segments or labels, checked as at creation; the next
    publication sends the difference (a removed segment's members are removed there)."""
    current = get_destination(connection, destination_id)
    labels = list(current["export_labels"] if export_labels is None else export_labels)
    unknown = set(labels) - EXPORT_LABELS
    if unknown:
        raise InvalidInput(
            f"unknown export labels: {', '.join(sorted(unknown))}",
            hint=f"Labels are {', '.join(sorted(EXPORT_LABELS))}.",
        )
    carried = list(current["segments"] if segment_ids is None else segment_ids)
    for segment_id in carried:
        check_controls(connection, segment_id, labels)
    values: dict[str, object] = {
        "segments": sorted(set(carried)),
        "export_labels": sorted(set(labels)),
    }
    if name is not None:
        if not name.strip():
            raise InvalidInput("a destination's name cannot be empty")
        values["name"] = name
    connection.execute(
        update(destinations).where(destinations.c.id == destination_id).values(**values)
    )
    changed = get_destination(connection, destination_id)
    record_change(
        connection,
        audit_log,
        "destination changed",
        actor=actor,
        before=current,
        after=changed,
        destination_id=destination_id,
    )
    return changed


def delete_destination(
    connection: Connection, destination_id: int, *, actor: str | None = None
) -> None:
    """Delete a destination and what was published to it (its files stay where they went)."""
    current = get_destination(connection, destination_id)
    delete_rows(
        connection.engine,
        "published",
        "destination_id",
        destination_id,
        why=f"destination {destination_id} deleted",
    )
    connection.execute(delete(destinations).where(destinations.c.id == destination_id))
    record_change(
        connection,
        audit_log,
        "destination deleted",
        actor=actor,
        before=current,
        destination_id=destination_id,
    )
