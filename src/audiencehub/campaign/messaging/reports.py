"""Deliveries and what became of them: sent, failed, skipped by reason, opens and clicks.

Counts come from the message log and the tracking log, which carry the
delivery's id on every row, so rates per delivery and per link are exact. A
*unique* open or click counts a person once (their profile, or the browser's
visitor ID when no profile is known); *total* counts every event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, String, delete, func, select
from sqlalchemy import cast as sql_cast
from typing_extensions import TypedDict

from audiencehub.campaign.schema import deliveries, messages, tracking_log
from audiencehub.db.types import stored_utc
from audiencehub.errors import InUse, NotFound

__all__ = [
    "Delivery",
    "DeliveryReport",
    "LinkReport",
    "delete_delivery",
    "delivery_page",
    "delivery_report",
    "delivery_timeline",
    "get_delivery",
]


class Delivery(TypedDict):
    """A delivery (or a template's triggered messages) and how many messages it logged."""

    id: int
    name: str
    channel: str
    kind: str  # delivery | trigger
    created_at: datetime
    messages: int


class LinkReport(TypedDict):
    """Clicks on one tracked link of a delivery."""

    link: int | None
    url: str | None
    unique_clicks: int
    total_clicks: int


class DeliveryReport(TypedDict):
    """What a delivery did."""

    delivery: Delivery
    sent: int
    failed: int
    skipped: int
    skipped_by_reason: dict[str, int]
    failed_by_reason: dict[str, int]
    unique_opens: int
    total_opens: int
    unique_clicks: int
    total_clicks: int
    open_rate: float
    click_rate: float
    links: list[LinkReport]


def _as_text(column: Any) -> Any:
    """A column as text, so a profile id and a visitor ID can stand for one person."""
    return sql_cast(column, String)


def _listed() -> Any:
    counts = (
        select(messages.c.delivery_id, func.count().label("n"))
        .group_by(messages.c.delivery_id)
        .subquery()
    )
    return select(deliveries, func.coalesce(counts.c.n, 0).label("messages")).outerjoin(
        counts, counts.c.delivery_id == deliveries.c.id
    )


def get_delivery(connection: Connection, delivery_id: int) -> Delivery:
    """One delivery with its message count."""
    row = connection.execute(_listed().where(deliveries.c.id == delivery_id)).mappings().first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}", hint="List them: GET /api/v1/deliveries")
    return cast(Delivery, dict(row))


def delivery_page(
    connection: Connection, before: int | None, limit: int, since: datetime | None = None
) -> list[Delivery]:
    """Deliveries newest first, ``limit`` of them with ids below ``before`` (and created
    at ``since`` or later, if given)."""
    query = _listed().order_by(deliveries.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(deliveries.c.id < before)
    if since is not None:
        query = query.where(deliveries.c.created_at >= since)
    return [cast(Delivery, dict(row)) for row in connection.execute(query).mappings()]


def delivery_report(connection: Connection, delivery_id: int) -> DeliveryReport:
    """Sent, failed and skipped messages (by reason), opens and clicks, per link."""
    delivery = get_delivery(connection, delivery_id)
    outcomes = connection.execute(
        select(messages.c.status, messages.c.reason, func.count())
        .where(messages.c.delivery_id == delivery_id)
        .group_by(messages.c.status, messages.c.reason)
    ).all()
    status = dict.fromkeys(("sent", "failed", "skipped"), 0)
    reasons: dict[str, dict[str, int]] = {"failed": {}, "skipped": {}}
    for state, reason, n in outcomes:
        status[state] = status.get(state, 0) + n
        if state in reasons:
            reasons[state][reason or "unknown"] = reasons[state].get(reason or "unknown", 0) + n
    events = select(tracking_log).where(tracking_log.c.delivery_id == delivery_id).subquery()
    person = func.coalesce(_as_text(events.c.profile_id), events.c.visitor_id)
    per_kind = {
        kind: (unique, total)
        for kind, unique, total in connection.execute(
            select(events.c.kind, func.count(person.distinct()), func.count()).group_by(
                events.c.kind
            )
        ).all()
    }
    links = [
        LinkReport(link=link, url=url, unique_clicks=unique, total_clicks=total)
        for link, url, unique, total in connection.execute(
            select(events.c.link, events.c.url, func.count(person.distinct()), func.count())
            .where(events.c.kind == "click")
            .group_by(events.c.link, events.c.url)
            .order_by(events.c.link)
        ).all()
    ]
    opens, clicks = per_kind.get("open", (0, 0)), per_kind.get("click", (0, 0))
    sent = status["sent"]
    return DeliveryReport(
        delivery=delivery,
        sent=sent,
        failed=status["failed"],
        skipped=status["skipped"],
        skipped_by_reason=reasons["skipped"],
        failed_by_reason=reasons["failed"],
        unique_opens=opens[0],
        total_opens=opens[1],
        unique_clicks=clicks[0],
        total_clicks=clicks[1],
        open_rate=round(opens[0] / sent, 4) if sent else 0.0,
        click_rate=round(clicks[0] / sent, 4) if sent else 0.0,
        links=links,
    )


class TimelinePoint(TypedDict):
    """Opens and clicks of one hour."""

    hour: datetime
    opens: int
    clicks: int


def _hour(connection: Connection, column: Any) -> Any:
    """``column`` truncated to its hour, as the engine writes it."""
    if connection.dialect.name == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def delivery_timeline(connection: Connection, delivery_id: int) -> list[TimelinePoint]:
    """Opens and clicks per hour since the delivery was sent (for the report's chart),
    counted by the database, however many events there are."""
    get_delivery(connection, delivery_id)
    hour = _hour(connection, tracking_log.c.at).label("hour")
    rows = connection.execute(
        select(hour, tracking_log.c.kind, func.count())
        .where(tracking_log.c.delivery_id == delivery_id)
        .group_by(hour, tracking_log.c.kind)
        .order_by(hour)
    ).all()
    hours: dict[datetime, dict[str, int]] = {}
    for at, kind, count in rows:
        moment = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        hours.setdefault(stored_utc(moment), {"open": 0, "click": 0})[kind] = count
    return [
        TimelinePoint(hour=moment, opens=counts["open"], clicks=counts["click"])
        for moment, counts in hours.items()
    ]


def delete_delivery(connection: Connection, delivery_id: int) -> None:
    """Delete a delivery that logged no message; one that did is kept for its report."""
    delivery = get_delivery(connection, delivery_id)
    if delivery["messages"]:
        raise InUse(
            f"delivery {delivery_id} logged {delivery['messages']:,} messages; it is kept so "
            "their opens, clicks and unsubscribes stay reported",
            hint="Nothing to do: a sent delivery stays as the record of what was sent.",
        )
    connection.execute(delete(deliveries).where(deliveries.c.id == delivery_id))
