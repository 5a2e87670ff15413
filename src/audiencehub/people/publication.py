"""Destinations and publication: outbound batches for campaign, full then iter.

The first publication to a destination (or a forced one) is a *full* batch of
every current member; later ones are *iter* batches of the adds and removals
since the last publication. Files are gzip, split at the destination's row
count, and the ``.info`` control file is written last, so a reader that sees it
knows every data file is complete.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select

from audiencehub.db.bulk import bulk_insert
from audiencehub.drops import open_drop
from audiencehub.errors import InvalidInput, NotFound
from audiencehub.formats.control import ControlFile, FileEntry, LineWriter
from audiencehub.formats.names import OutboundName
from audiencehub.formats.outbound import format_outbound_row
from audiencehub.people.data_sources import DEVICE_NAMESPACE, ExportControl, get_data_source
from audiencehub.people.schema import data_sources, destinations, published, segments, traits
from audiencehub.people.segment_rules import parse_rule, trait_ids
from audiencehub.people.segments import MergeRule, get_segment, members_query

__all__ = ["Publication", "add_destination", "get_destination", "publish"]

_BLOCK_ROWS = 10_000  # lines handed to gzip at a time
_LABELS = frozenset(control.forbidden_label for control in ExportControl)


@dataclass
class Publication:
    """What one publication to one destination wrote."""

    destination_id: int
    full: bool
    batch: str | None
    files: list[str] = field(default_factory=list)
    rows: int = 0
    added: int = 0
    removed: int = 0


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
) -> dict[str, Any]:
    """Create a campaign destination, refusing segments its labels may not carry."""
    if id_type not in ("visitor", "declared"):
        raise InvalidInput(f"ID type {id_type!r} is not visitor or declared")
    if id_type == "declared":
        if data_source_id is None:
            raise InvalidInput(
                "a declared-ID destination names the data source of its IDs",
                hint="Pass --datasource DPID.",
            )
        get_data_source(connection, data_source_id)
    unknown = set(export_labels) - _LABELS
    if unknown:
        raise InvalidInput(
            f"unknown export labels: {', '.join(sorted(unknown))}",
            hint=f"Labels are {', '.join(sorted(_LABELS))}.",
        )
    if split_rows < 1 or not alias.isalnum():
        raise InvalidInput("split rows must be positive and the alias letters and digits only")
    for segment_id in segment_ids:
        _check_controls(connection, segment_id, export_labels)
    connection.execute(
        insert(destinations),
        {
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
        },
    )
    return get_destination(connection, destination_id)


def _check_controls(connection: Connection, segment_id: int, labels: Sequence[str]) -> None:
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


def get_destination(connection: Connection, destination_id: int) -> dict[str, Any]:
    """One destination."""
    row = (
        connection.execute(select(destinations).where(destinations.c.id == destination_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"the people service has no destination {destination_id}")
    return dict(row)


def _current(connection: Connection, destination: dict[str, Any]) -> dict[str, set[int]]:
    """member external ID -> the destination's segments it is in now."""
    namespace = (
        DEVICE_NAMESPACE if destination["id_type"] == "visitor" else destination["data_source_id"]
    )
    blocked = [DEVICE_NAMESPACE] + ([namespace] if namespace else [])
    membership: dict[str, set[int]] = defaultdict(set)
    for segment_id in destination["segments"]:
        segment = (
            connection.execute(select(segments).where(segments.c.id == segment_id)).mappings().one()
        )
        _check_controls(connection, segment_id, destination["export_labels"])
        merge = MergeRule(segment["merge_rule"])
        if destination["id_type"] == "declared":
            merge = (
                MergeRule.LAST_AUTHENTICATED
            )  # declared-ID destinations use the last authenticated profile
        query = members_query(
            parse_rule(segment["rule"]), merge, namespace=namespace, opted_out_of=blocked
        )
        for _, external_id in connection.execute(query):
            membership[external_id].add(segment_id)
    return membership


def _previous(connection: Connection, destination_id: int) -> dict[str, set[int]]:
    membership: dict[str, set[int]] = defaultdict(set)
    rows = connection.execute(
        select(published.c.member, published.c.segment_id).where(
            published.c.destination_id == destination_id
        )
    )
    for member, segment_id in rows:
        if segment_id != 0:  # segment 0 is the "has had its full batch" marker
            membership[member].add(segment_id)
    return membership


def publish(
    engine: Engine,
    destination_id: int,
    *,
    force_full: bool = False,
    now_ms: int | None = None,
    endpoint_url: str | None = None,
) -> Publication:
    """Write the destination's next batch and remember what it now holds.

    ``endpoint_url`` reaches an S3-compatible store (else ``AWS_ENDPOINT_URL``).
    """
    with engine.begin() as connection:
        destination = get_destination(connection, destination_id)
        current = _current(connection, destination)
        previous = _previous(connection, destination_id)
        full = force_full or not _has_published(connection, destination_id)
        rows: list[tuple[str, list[int], list[int]]] = []
        added = removed = 0
        for member in sorted(set(current) | set(previous)):
            now_in, before = current.get(member, set()), previous.get(member, set())
            added += len(now_in - before)
            removed += len(before - now_in)
            if full and now_in:
                rows.append((member, sorted(now_in), []))
            elif not full and now_in != before:
                rows.append((member, sorted(now_in - before), sorted(before - now_in)))
        result = Publication(
            destination_id, full, None, rows=len(rows), added=added, removed=removed
        )
        if rows or full:
            result.batch, result.files = _write_batch(destination, rows, full, now_ms, endpoint_url)
        connection.execute(delete(published).where(published.c.destination_id == destination_id))
        bulk_insert(
            connection,
            published,
            ["destination_id", "segment_id", "member"],
            (
                (destination_id, segment_id, member)
                for member, ids in current.items()
                for segment_id in ids
            ),
        )
        connection.execute(
            insert(published), {"destination_id": destination_id, "segment_id": 0, "member": ""}
        )
    return result


def _has_published(connection: Connection, destination_id: int) -> bool:
    """A marker row (segment 0) records that a destination has had its full batch."""
    marker = select(published.c.member).where(
        and_(published.c.destination_id == destination_id, published.c.segment_id == 0)
    )
    return connection.execute(marker).first() is not None


def _write_batch(
    destination: dict[str, Any],
    rows: list[tuple[str, list[int], list[int]]],
    full: bool,
    now_ms: int | None,
    endpoint_url: str | None,
) -> tuple[str, list[str]]:
    drop = open_drop(destination["drop_url"], endpoint_url=endpoint_url)
    stamp = now_ms if now_ms is not None else int(time.time() * 1000)
    master = (
        DEVICE_NAMESPACE if destination["id_type"] == "visitor" else destination["data_source_id"]
    )
    base = OutboundName(stamp, None, destination["id"], master, destination["alias"], full)
    folder = f"date={datetime.fromtimestamp(stamp / 1000, UTC):%Y-%m-%d}/"
    split = destination["split_rows"]
    entries: list[FileEntry] = []
    chunks = [rows[i : i + split] for i in range(0, len(rows), split)] or [[]]
    for sequence, chunk in enumerate(chunks):
        name = OutboundName(stamp, sequence, base.destination_id, master, base.alias, full)
        with drop.open_write(folder + str(name)) as sink:
            writer = LineWriter(sink, str(name), sequence, compress=True)
            for start in range(0, len(chunk), _BLOCK_ROWS):
                writer.write_lines(
                    format_outbound_row(member, segment_ids, removed_ids)
                    for member, segment_ids, removed_ids in chunk[start : start + _BLOCK_ROWS]
                )
            entries.append(writer.close())
    control = ControlFile(base.info_name, tuple(entries))
    with drop.open_write(folder + base.info_name) as sink:
        sink.write(control.to_json().encode("utf-8"))
    return folder + base.batch, [folder + entry.name for entry in entries] + [
        folder + base.info_name
    ]
