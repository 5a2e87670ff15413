"""Sharing campaign audiences with the people service: the Save audience *share* mode.

A share names a source audience, a people-service segment and a data source;
the ``exportSharedAudience`` job then sends the audience's new records as
inbound files that realise the segment's trait. Only new records are sent;
records with no ID for the data source are counted and kept as the complement.
"""

from __future__ import annotations

import heapq
import io
import itertools
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, DateTime, Engine, exists, func, insert, literal, or_, select
from typing_extensions import TypedDict

from audiencehub.campaign.audiences import get_audience
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import (
    audience_members,
    profiles,
    share_exports,
    shares,
    visitor_links,
)
from audiencehub.campaign.sharing.audit import record
from audiencehub.campaign.sharing.data_sources import (
    DEFAULT_SOURCE,
    SharedDataSource,
    cipher_of,
    get_shared_data_source,
    reconciliation_key_of,
    require_terms,
)
from audiencehub.campaign.sharing.people_link import PeopleClient, PeopleSegment
from audiencehub.campaign.sharing.shared_ids import declared_ids
from audiencehub.db.locks import write_lock
from audiencehub.db.value_lists import value_list
from audiencehub.drops import DropLocation
from audiencehub.errors import ConfigurationError, InvalidInput, NotFound
from audiencehub.formats.compression import gzip_writer
from audiencehub.formats.inbound import check_user_id, format_traits
from audiencehub.formats.names import InboundName, SyncMode
from audiencehub.identity.ciphers import DeclaredIdCipher

__all__ = ["ExportRun", "Share", "run_export", "share_audience", "write_inbound_file"]

_STREAM_ROWS = 50_000  # rows fetched at a time from a server-side cursor
_RECORD_BATCH = 100_000  # sent ids recorded per statement


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
            export = _Export(source, cipher_of(connection, vault, source_id), group)
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


class _Export:
    """One data source's new records: the lines to send, counts per share, what was sent."""

    def __init__(
        self, source: SharedDataSource, cipher: DeclaredIdCipher | None, group: list[dict[str, Any]]
    ) -> None:
        self.source, self.cipher, self.shares = source, cipher, group
        self.codes = {share["id"]: share["trait_code"] for share in group}
        self.stats = {
            share["id"]: {"segment_id": share["segment_id"], "sent": 0, "no_id": 0, "excluded": 0}
            for share in group
        }
        self.sent: dict[int, array[int]] = {share["id"]: array("q") for share in group}

    def _records(self, connection: Connection, share: dict[str, Any]) -> Any:
        """(share, profile, its ID material, excluded) for every member of ``share`` not yet
        sent, in profile order: the order of the membership's key, so the database
        streams rows without sorting the audience first."""
        visitor = self.source["id"] == DEFAULT_SOURCE
        if visitor:  # the latest link of each profile
            ranked = select(
                visitor_links.c.profile_id,
                visitor_links.c.visitor_id,
                func.row_number()
                .over(
                    partition_by=visitor_links.c.profile_id,
                    order_by=(visitor_links.c.linked_at.desc(), visitor_links.c.visitor_id.desc()),
                )
                .label("rank"),
            ).subquery()
            latest = select(ranked.c.profile_id, ranked.c.visitor_id).where(ranked.c.rank == 1)
            links = latest.subquery()
            material = links.c.visitor_id
        else:
            material = profiles.c[reconciliation_key_of(self.source).value]
        excluded = or_(
            profiles.c.blocklisted, profiles.c.email_opt_out, profiles.c.sms_opt_out
        ).label("excluded")
        member = audience_members.c.profile_id
        query = (
            select(literal(share["id"]), member, material, excluded)
            .join(profiles, profiles.c.id == member)
            .where(
                audience_members.c.audience_id == share["source_audience_id"],
                ~exists().where(
                    share_exports.c.share_id == share["id"], share_exports.c.profile_id == member
                ),
            )
            .order_by(member)
        )
        if visitor:
            query = query.outerjoin(links, links.c.profile_id == member)
        # per statement: Connection.execution_options would stream every later statement too
        return connection.execute(
            query, execution_options={"stream_results": True, "yield_per": _STREAM_ROWS}
        )

    def lines(self, connection: Connection) -> Iterator[str]:
        """Inbound lines, one per profile with an ID, counting every record as it goes."""
        shared_id: Callable[[str], str | None] = (
            str if self.source["id"] == DEFAULT_SOURCE else declared_ids(self.source, self.cipher)
        )
        traits: dict[tuple[int, ...], str] = {}  # the traits column, per set of shares
        rows = heapq.merge(
            *(self._records(connection, share) for share in self.shares),
            key=lambda row: (row[1], row[0]),
        )
        for profile_id, records in itertools.groupby(rows, key=lambda row: row[1]):
            group = list(records)
            wanted = tuple(row[0] for row in group)
            material, excluded = group[0][2], group[0][3]
            if excluded:  # opted out or blocklisted: never exported
                self._count(wanted, "excluded")
                continue
            user_id = shared_id(material) if material else None
            if not user_id:
                self._count(wanted, "no_id")
                continue
            self._count(wanted, "sent")
            for share_id in wanted:
                self.sent[share_id].append(profile_id)
            if wanted not in traits:
                traits[wanted] = format_traits(codes=[self.codes[s] for s in wanted])
            check_user_id(user_id)
            yield f"{user_id}\t{traits[wanted]}\n"

    def _count(self, share_ids: tuple[int, ...], outcome: str) -> None:
        for share_id in share_ids:
            self.stats[share_id][outcome] += 1

    def record_sent(self, connection: Connection) -> None:
        """Remember what was sent, so sharing again sends only new records.

        In batches: a list of millions of ids passed at once would cost a
        hundred bytes an id in the statement's parameter.
        """
        moment = literal(datetime.now(UTC), DateTime(timezone=True))
        for share_id, profile_ids in self.sent.items():
            for start in range(0, len(profile_ids), _RECORD_BATCH):
                batch = pa.array(profile_ids[start : start + _RECORD_BATCH], pa.int64())
                ids = value_list(connection, batch).subquery()
                connection.execute(
                    insert(share_exports).from_select(
                        ["share_id", "profile_id", "exported_at"],
                        select(literal(share_id), next(iter(ids.c)), moment),
                    )
                )
