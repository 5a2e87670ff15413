"""The people service's online writes: visitor-ID syncs and opt-outs from ``/id``.

Each is applied directly when the people database is free, else spooled and
applied in order shortly after (see :mod:`audiencehub.spool`): an ingest holding
the database no longer slows ``/id`` down or makes it fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine

from audiencehub.identity.declared import AuthState
from audiencehub.people.data_sources import DEVICE_NAMESPACE
from audiencehub.people.graph import ensure_users, link, opt_out
from audiencehub.people.schema import spool_marks
from audiencehub.spool import Event, Handler, OnlineWrites, Spool

__all__ = ["HANDLERS", "online_writes", "store_id_syncs", "store_opt_outs"]


def store_id_syncs(connection: Connection, events: Sequence[Event]) -> None:
    """Record each visitor ID and link it to the declared IDs it synced, in order.

    An event is ``{"visitor": ID, "syncs": [[DPID, declared ID, auth state], ...],
    "at": ISO time}``; its data sources were checked when the request came in.
    """
    for event in events:
        now = datetime.fromisoformat(event["at"])
        visitor = event["visitor"]
        device = ensure_users(connection, DEVICE_NAMESPACE, [visitor], now)[visitor]
        for dpid, declared_id, state in event["syncs"]:
            customer = ensure_users(connection, int(dpid), [declared_id], now)[declared_id]
            link(connection, device, customer, AuthState(int(state)), now)


def store_opt_outs(connection: Connection, events: Sequence[Event]) -> None:
    """Opt each visitor out of a partner's data source (0: of everything)."""
    for event in events:
        opt_out(connection, event["visitor"], int(event["dpid"]))


HANDLERS: dict[str, Handler] = {"id_sync": store_id_syncs, "opt_out": store_opt_outs}


def online_writes(engine: Engine, spool: Path | None) -> OnlineWrites:
    """The people service's online writes through ``engine`` (a short lock wait), spooled in
    ``spool`` (None: always direct, for an app without a workspace)."""
    return OnlineWrites(engine, Spool(spool) if spool else None, HANDLERS, spool_marks)
