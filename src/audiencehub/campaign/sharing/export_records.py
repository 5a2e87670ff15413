"""The records an export sends: per data source, every share's members not yet sent.

:class:`Export` streams them from the database in profile order and turns
each profile into one inbound line carrying the trait of every share it is
new to, counting what it sends, what has no ID and what opt-outs exclude.
:class:`~audiencehub.campaign.sharing.spark_export.SparkExport` does the same
work on Spark, line for line.
"""

from __future__ import annotations

import heapq
import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, DateTime, exists, func, insert, literal, or_, select
from sqlalchemy.sql import Select

from audiencehub.campaign.schema import audience_members, profiles, share_exports, visitor_links
from audiencehub.campaign.sharing.data_sources import (
    DEFAULT_SOURCE,
    SharedDataSource,
    reconciliation_key_of,
)
from audiencehub.campaign.sharing.shared_ids import declared_ids
from audiencehub.db.value_lists import value_list
from audiencehub.formats.inbound import check_user_id, format_traits
from audiencehub.identity.ciphers import DeclaredIdCipher

__all__ = ["Export"]

_STREAM_ROWS = 50_000  # rows fetched at a time from a server-side cursor
_RECORD_BATCH = 100_000  # sent ids recorded per statement


class Export:
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

    def records(self, share: dict[str, Any]) -> Select[Any]:
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
        return query

    def _records(self, connection: Connection, share: dict[str, Any]) -> Any:
        # per statement: Connection.execution_options would stream every later statement too
        return connection.execute(
            self.records(share),
            execution_options={"stream_results": True, "yield_per": _STREAM_ROWS},
        )

    def lines(self, connection: Connection) -> Iterator[str]:
        """Inbound lines, one per profile with an ID, counting every record as it goes."""
        shared_id = self.shared_id()
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
                self.count(wanted, "excluded")
                continue
            user_id = shared_id(material) if material else None
            if not user_id:
                self.count(wanted, "no_id")
                continue
            self.count(wanted, "sent")
            yield self.line(profile_id, user_id, wanted, traits)

    def line(
        self,
        profile_id: int,
        user_id: str,
        wanted: tuple[int, ...],
        traits: dict[tuple[int, ...], str],
    ) -> str:
        """The inbound line of a profile sent to the shares ``wanted``, remembered as sent;
        ``traits`` caches the traits column of each set of shares."""
        for share_id in wanted:
            self.sent[share_id].append(profile_id)
        if wanted not in traits:
            traits[wanted] = format_traits(codes=[self.codes[s] for s in wanted])
        check_user_id(user_id)
        return f"{user_id}\t{traits[wanted]}\n"

    def shared_id(self) -> Callable[[str], str | None]:
        """The source's ID for a profile's material (a visitor ID is sent as it is)."""
        if self.source["id"] == DEFAULT_SOURCE:
            return str
        return declared_ids(self.source, self.cipher)

    def count(self, share_ids: Iterable[int], outcome: str, records: int = 1) -> None:
        """Count ``records`` profiles of each of ``share_ids`` as ``outcome``."""
        for share_id in share_ids:
            self.stats[share_id][outcome] += records

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
