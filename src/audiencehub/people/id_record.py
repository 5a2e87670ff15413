"""Everything the people service holds about one ID, gathered from the graph and the lake,
and its erasure.

An admin asks it to answer a person's access request (what is held about them), or
to see why an ID is or is not in a segment: the ID's record in the graph, the IDs
linked to it, its opt-outs, the traits it realises and its key-values, the
segments it was in at the last materialisation, and the destinations it was
last published to. The lake is read once, by the ID's internal user id, on its
latest snapshot.

Each lookup and erasure is written to the audit trail
(:mod:`audiencehub.people.audit_trail`), with who made it. An erasure (the right to
be forgotten) deletes the ID's traits, key-values and
memberships from the lake, as one snapshot, then its record, links and opt-outs
from the graph. Destinations it was published to lose it at their next
publication, which sends its removal and forgets it from the published state;
the lake's earlier snapshots keep it until they expire (``lake_history_days``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, or_, select
from typing_extensions import TypedDict

from audiencehub.errors import NotFound
from audiencehub.people.audit_trail import record_id_action
from audiencehub.people.data_sources import DEVICE_NAMESPACE
from audiencehub.people.graph import forget_bulk_state
from audiencehub.people.lake import reading
from audiencehub.people.schema import (
    destinations,
    id_links,
    opt_outs,
    segments,
    traits,
    users,
)

__all__ = ["ErasedId", "IdRecord", "erase_id", "id_record"]

_log = logging.getLogger(__name__)


class LinkedId(TypedDict):
    """An ID the graph links to the one asked about (a device to a customer ID or back)."""

    data_source_id: int
    external_id: str
    auth_state: int
    last_seen: datetime


class HeldTrait(TypedDict):
    """A trait the ID realises, and when it last did."""

    trait_id: int
    name: str
    realized_at: datetime


class Membership(TypedDict):
    """A segment the ID was in at the last materialisation."""

    segment_id: int
    name: str


class Published(TypedDict):
    """A destination the ID was last published to, for one segment."""

    destination_id: int
    segment_id: int


class IdRecord(TypedDict):
    """What the service holds about one ID of one namespace (0: visitor IDs)."""

    data_source_id: int
    external_id: str
    created_at: datetime
    last_seen: datetime
    opted_out_of: list[int]  # data sources the ID opted out of (0: every partner)
    linked: list[LinkedId]
    traits: list[HeldTrait]
    signals: dict[str, list[str]]
    segments: list[Membership]
    published: list[Published]


class ErasedId(TypedDict):
    """What an erasure deleted: how many of each, and when the destinations lose it."""

    data_source_id: int
    traits: int
    signals: int
    segments: int
    links: int
    destinations: list[int]  # sent its removal at their next publication


def erase_id(engine: Engine, data_source_id: int, external_id: str, *, actor: str) -> ErasedId:
    """Erase ``external_id`` of namespace ``data_source_id``: its lake data as one snapshot,
    then its graph record, with the audit entry of ``actor``'s erasure; NotFound (and
    nothing deleted) when the graph does not know it. Run again after a failure between
    the two, it finishes the erasure."""
    user_id, record = _gathered(engine, data_source_id, external_id)
    forget_bulk_state(engine, [int(user_id)], why="an erasure", forget_users=True)
    with engine.begin() as connection:
        links = connection.execute(
            delete(id_links).where(
                or_(id_links.c.device_user_id == user_id, id_links.c.customer_user_id == user_id)
            )
        ).rowcount
        connection.execute(delete(opt_outs).where(opt_outs.c.user_id == user_id))
        connection.execute(delete(users).where(users.c.id == user_id))
        erased = ErasedId(
            data_source_id=data_source_id,
            traits=len(record["traits"]),
            signals=len(record["signals"]),
            segments=len(record["segments"]),
            links=int(links),
            destinations=sorted({p["destination_id"] for p in record["published"]}),
        )
        facts = {k: v for k, v in erased.items() if k != "data_source_id"}
        record_id_action(connection, "id erased", data_source_id, external_id, actor=actor, **facts)
    _log.info("an ID of data source %d erased", data_source_id)  # never the ID itself
    return erased


def id_record(engine: Engine, data_source_id: int, external_id: str, *, actor: str) -> IdRecord:
    """The record of ``external_id`` in namespace ``data_source_id``, read by ``actor`` (the
    audit trail says so, found or not: who looked for an ID is accounted for too);
    NotFound when the graph does not know it (never seen, or forgotten by retention or
    erasure)."""

    def audited(found: bool) -> None:
        with engine.begin() as connection:
            record_id_action(
                connection, "id read", data_source_id, external_id, actor=actor, found=found
            )

    try:
        _, record = _gathered(engine, data_source_id, external_id)
    except NotFound:
        audited(False)
        raise
    audited(True)
    return record


def _gathered(engine: Engine, data_source_id: int, external_id: str) -> tuple[int, IdRecord]:
    """The ID's user id in the graph and its record."""
    with engine.connect() as connection:
        user = connection.execute(
            select(users).where(
                users.c.data_source_id == data_source_id, users.c.external_id == external_id
            )
        ).first()
        if user is None:
            raise NotFound(
                f"the people service holds nothing about {external_id!r} of data source "
                f"{data_source_id}",
                hint="Visitor IDs are data source 0; a customer ID is named with its data "
                "source's DPID.",
            )
        outs = sorted(
            int(dpid)
            for dpid in connection.execute(
                select(opt_outs.c.data_source_id).where(opt_outs.c.user_id == user.id)
            ).scalars()
        )
        linked = _linked(connection, user.id, device=data_source_id == DEVICE_NAMESPACE)
        names = {
            int(r.id): str(r.name) for r in connection.execute(select(traits.c.id, traits.c.name))
        }
        segment_names = {
            int(r.id): str(r.name)
            for r in connection.execute(select(segments.c.id, segments.c.name))
        }
        takers = _destinations_taking(connection, data_source_id)
    with reading(engine) as session:
        held = session.execute(
            "SELECT trait_id, max(realized_at) FROM lake.realisations WHERE user_id = ? "
            "GROUP BY trait_id ORDER BY trait_id",
            [user.id],
        ).fetchall()
        signals = session.execute(
            "SELECT key, value_list FROM lake.signals WHERE user_id = ? ORDER BY key", [user.id]
        ).fetchall()
        member_of = session.execute(
            "SELECT DISTINCT segment_id FROM lake.memberships WHERE user_id = ? ORDER BY 1",
            [user.id],
        ).fetchall()
        published = session.execute(
            "SELECT DISTINCT destination_id, segment_id FROM lake.published "
            "WHERE member = ? AND segment_id <> 0 ORDER BY 1, 2",
            [external_id],
        ).fetchall()
    return int(user.id), IdRecord(
        data_source_id=data_source_id,
        external_id=external_id,
        created_at=user.created_at,
        last_seen=user.last_seen,
        opted_out_of=outs,
        linked=linked,
        traits=[
            HeldTrait(trait_id=int(t), name=names.get(int(t), ""), realized_at=at) for t, at in held
        ],
        signals={str(key): list(values) for key, values in signals},
        segments=[
            Membership(segment_id=int(s), name=segment_names.get(int(s), "")) for (s,) in member_of
        ],
        # a member is an external ID's text: kept where the destination takes this namespace
        published=[
            Published(destination_id=int(d), segment_id=int(s))
            for d, s in published
            if int(d) in takers
        ],
    )


def _linked(connection: Connection, user_id: Any, *, device: bool) -> list[LinkedId]:
    """The customer IDs linked to a device, or the devices linked to a customer ID."""
    mine, theirs = (
        (id_links.c.device_user_id, id_links.c.customer_user_id)
        if device
        else (id_links.c.customer_user_id, id_links.c.device_user_id)
    )
    rows = connection.execute(
        select(
            users.c.data_source_id, users.c.external_id, id_links.c.auth_state, id_links.c.last_seen
        )
        .select_from(id_links.join(users, users.c.id == theirs))
        .where(mine == user_id)
        .order_by(id_links.c.last_seen.desc(), users.c.id)
    )
    return [
        LinkedId(
            data_source_id=int(r.data_source_id),
            external_id=str(r.external_id),
            auth_state=int(r.auth_state),
            last_seen=r.last_seen,
        )
        for r in rows
    ]


def _destinations_taking(connection: Connection, data_source_id: int) -> set[int]:
    """The destinations whose members are IDs of this namespace: visitor IDs, or a
    declared-ID destination's data source."""
    rows = connection.execute(
        select(destinations.c.id, destinations.c.id_type, destinations.c.data_source_id)
    )
    return {
        int(r.id)
        for r in rows
        if (r.id_type == "visitor" and data_source_id == DEVICE_NAMESPACE)
        or (r.id_type == "declared" and r.data_source_id == data_source_id)
    }
