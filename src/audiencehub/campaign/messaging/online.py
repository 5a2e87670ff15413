"""Campaign's online writes: clicks, opens and unsubscribes, never waiting for a bulk job.

Each is applied directly when the campaign database is free, else spooled and
applied in order shortly after (see :mod:`audiencehub.spool`): a profile import
holding the database no longer makes a click redirect wait, fail or lose the click.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, update

from audiencehub.campaign.messaging.tracking import store_clicks, store_opens
from audiencehub.campaign.profiles.merging import UNSUBSCRIBED
from audiencehub.campaign.schema import profiles, spool_marks
from audiencehub.spool import Event, Handler, OnlineWrites, Spool

__all__ = ["HANDLERS", "online_writes", "store_unsubscribes"]


def store_unsubscribes(connection: Connection, events: Sequence[Event]) -> None:
    """Opt each profile out of the channel, recording that the person asked for it."""
    for event in events:
        flag = "email_opt_out" if event["channel"] == "email" else "sms_opt_out"
        connection.execute(
            update(profiles)
            .where(profiles.c.id == event["profile_id"])
            .values({flag: True, UNSUBSCRIBED[flag]: datetime.fromisoformat(event["at"])})
        )


HANDLERS: dict[str, Handler] = {
    "click": store_clicks,
    "open": store_opens,
    "unsubscribe": store_unsubscribes,
}


def online_writes(engine: Engine, spool: Path) -> OnlineWrites:
    """Campaign's online writes through ``engine`` (a short lock wait), spooled in ``spool``."""
    return OnlineWrites(engine, Spool(spool), HANDLERS, spool_marks)
