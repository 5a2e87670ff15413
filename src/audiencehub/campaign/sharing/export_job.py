"""Sharing campaign audiences with the people service: the Save audience *share* mode.

A share names a source audience, a people-service segment and a data source;
the ``exportSharedAudience`` job then sends the audience's new records as
inbound files that realise the segment's trait. Only new records are sent;
records with no ID for the data source are counted and kept as the complement.
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from typing_extensions import TypedDict

from audiencehub.campaign.audiences import get_audience
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import (
    shares,
)
from audiencehub.campaign.sharing.audit import record
from audiencehub.campaign.sharing.data_sources import (
    cipher_of,
    get_shared_data_source,
    require_terms,
)
from audiencehub.campaign.sharing.export_records import Export
from audiencehub.campaign.sharing.people_link import PeopleClient, PeopleSegment
from audiencehub.campaign.sharing.spark_export import SparkExport
from audiencehub.db.locks import write_lock
from audiencehub.drops import DropLocation
from audiencehub.engines.spark import spark_of
from audiencehub.errors import ConfigurationError, InvalidInput, NotFound
from audiencehub.formats.compression import gzip_writer
from audiencehub.formats.names import InboundName, SyncMode

__all__ = ["ExportRun", "Share", "run_export", "share_audience", "write_inbound_file"]


class Share(TypedDict):
    """An audience shared into a people segment through a data source."""

    audience: str
    segment_id: int
    trait_code: str
    data_source_id: str


def _fillable(segment: PeopleSegment, alias_dpid: int) -> str:
    """The trait code that realises ``segment`` from data source ``alias_dpid``, or why not."""
    code, owner = segment["integration_code"], segment["data_source_id"]
    name = f"segment {segment['id']} ({segment['title']})"
    if code is None:
        raise InvalidInput(
            f"{name} is built by a rule over traits: partner data cannot realise it, so the "
            "records would be sent and dropped",
            hint="Share into a new shared audience by name: it gets a trait of its own.",
        )
    if owner != alias_dpid:
        raise InvalidInput(
            f"{name} is filled by data source {owner}'s trait, not by {alias_dpid}'s "
            "(this data source's alias)",
            hint="Share through the data source whose alias is that DPID, or into a new "
            "shared audience by name.",
        )
    return code


def share_audience(
    connection: Connection,
    *,
    source_audience: str,
    shared_audience: str,
    data_source_id: str,
    client: Callable[[], PeopleClient] | None = None,
) -> Share:
    """Share an audience into a people-service segment (created by API when named and new).

    ``shared_audience`` is a segment id or title. The people service is asked how
    its data can fill the segment: a segment built by a rule over traits, or one
    whose trait belongs to another data source, cannot take this source's data,
    and sharing into it is refused with the reason (the records would be sent and
    then dropped, realising nothing).
    """
    audience = get_audience(connection, source_audience)
    source = get_shared_data_source(connection, data_source_id)
    require_terms(source)
    if source["alias_dpid"] is None:
        raise ConfigurationError(
            f"data source {data_source_id} has no people-service alias (DPID)",
            hint="Recreate it with --alias DPID, the people data source its IDs belong to.",
        )
    if client is None:
        raise ConfigurationError(
            "sharing needs the connection to the people service, to find or create the segment",
            hint="Set it with `audiencehub connection set`.",
        )
    api = client()
    by_id = shared_audience.isdigit()
    existing = [
        s
        for s in api.shared_audiences()
        if (s["id"] == int(shared_audience) if by_id else s["title"] == shared_audience)
    ]
    if existing:
        segment_id, code = existing[0]["id"], _fillable(existing[0], source["alias_dpid"])
    elif shared_audience.isdigit():
        raise NotFound(f"the people service has no segment {shared_audience}")
    else:
        created = api.create_segment(shared_audience, int(source["alias_dpid"]))
        segment_id, code = created["id"], created["integration_code"]
    found = connection.execute(
        select(shares.c.id).where(
            shares.c.source_audience_id == audience["id"],
            shares.c.segment_id == segment_id,
            shares.c.data_source_id == data_source_id,
        )
    ).scalar()
    if found is None:
        connection.execute(
            insert(shares),
            {
                "source_audience_id": audience["id"],
                "segment_id": segment_id,
                "trait_code": code,
                "data_source_id": data_source_id,
                "created_at": datetime.now(UTC),
            },
        )
    return Share(
        audience=source_audience,
        segment_id=segment_id,
        trait_code=code,
        data_source_id=data_source_id,
    )


@dataclass
class ExportRun:
    """Files written, and per share: records sent, without an ID, excluded by opt-outs."""

    files: list[str] = field(default_factory=list)
    shares: list[dict[str, Any]] = field(default_factory=list)


def run_export(
    engine: Engine, vault: KeyVault, drop: DropLocation, *, now: float | None = None
) -> ExportRun:
    """Write one inbound file per data source with every share's new records.

    Records stream from the database in profile order and straight into the
    gzip file, one line per profile carrying the trait of every share it is new
    to: memory holds the sent profile ids (8 bytes each), not the lines. What
    was sent is recorded in the same transaction, after the file is complete; a
    file whose transaction then fails is sent again by the next run, which the
    people service applies as the same adds (``.sync`` files add).
    """
    run = ExportRun()
    stamp = int(now if now is not None else time.time())
    with engine.begin() as connection:
        # two runs at once would send the same records twice: the second waits
        write_lock(connection, "campaign export", what="exportSharedAudience")
        by_source: dict[str, list[dict[str, Any]]] = {}
        for row in connection.execute(select(shares).order_by(shares.c.id)).mappings():
            by_source.setdefault(row["data_source_id"], []).append(dict(row))
        for source_id, group in by_source.items():
            source = get_shared_data_source(connection, source_id)
            require_terms(source)
            cipher = cipher_of(connection, vault, source_id)
            spark = spark_of(engine)
            export = (
                Export(source, cipher, group)
                if spark is None
                else SparkExport(source, cipher, group, spark)
            )
            lines = export.lines(connection)
            first = next(lines, None)  # nothing to send: no file at all
            key = None
            if first is not None:
                dpid = source["alias_dpid"]
                if dpid is None:  # share_audience refuses such a source; its settings changed
                    raise ConfigurationError(
                        f"data source {source_id} has no alias DPID to send its records under",
                        hint="Share through a data source created with --alias DPID.",
                    )
                key = write_inbound_file(drop, dpid, stamp, itertools.chain([first], lines))
                run.files.append(key)
                export.record_sent(connection)
            run.shares.extend(export.stats.values())
            for stats in export.stats.values():
                record(connection, "export", {**stats, "file": key}, data_source_id=source_id)
    return run


def write_inbound_file(drop: DropLocation, dpid: int, stamp: int, lines: Iterable[str]) -> str:
    """Write one gzip ``.sync`` inbound data file of data source ``dpid`` under the day's
    ``date=`` prefix, ``lines`` newline-terminated; returns its key."""
    name = InboundName(stamp, dpid, None, SyncMode.SYNC, None, True)
    key = f"date={datetime.fromtimestamp(stamp, UTC):%Y-%m-%d}/{name}"
    with (
        drop.open_write(key) as sink,
        gzip_writer(sink) as packed,
        io.TextIOWrapper(packed, encoding="utf-8", newline="\n") as text,
    ):
        for line in lines:
            text.write(line)
    return key
