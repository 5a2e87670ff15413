"""Tracked links and the visitor IDs clicks reveal.

Every link written in a delivery's template is rewritten to ``/r/<token>``, where
the token is the signed (delivery, profile, link, target URL); values a template
inserts are never tracked (see :func:`~.delivery.compose_email`). A forged,
altered, expired or foreign token is refused, so the tracking server is never an
open redirect. A click links the
browser's visitor ID to the profile: the one in the ``AMCV_`` cookie when the
people-service connection is enabled, else a new one set in the browser; without
the connection, campaign's own permanent cookie plays that part.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Connection

from audiencehub.campaign.schema import tracking_log, visitor_links
from audiencehub.db.bulk import bulk_insert, upsert
from audiencehub.errors import InvalidInput, InvalidVisitorId, NotFound
from audiencehub.identity.visitor import (
    VisitorId,
    amcv_cookie_name,
    format_amcv,
    visitor_id_from_amcv,
)
from audiencehub.spool import Event

__all__ = [
    "DEFAULT_TOKEN_DAYS",
    "OWN_COOKIE",
    "Click",
    "LinkSigner",
    "OpenMark",
    "TrackedLink",
    "Unsubscribe",
    "VisitorCookie",
    "choose_visitor",
    "click_event",
    "open_event",
    "record_click",
    "record_clicks",
    "record_open",
    "store_clicks",
    "store_opens",
    "unsubscribe_event",
]

OWN_COOKIE = "acs_vid"  # campaign's own permanent cookie, before the connection is enabled
_SALT = "audiencehub tracking v2"
DEFAULT_TOKEN_DAYS = 90


@dataclass(frozen=True, slots=True)
class TrackedLink:
    """What a click token carries: the delivery, the profile, which link and its target."""

    delivery_id: int | None
    profile_id: int
    link: int
    url: str


@dataclass(frozen=True, slots=True)
class OpenMark:
    """What an open-pixel token carries."""

    delivery_id: int | None
    profile_id: int


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """What an unsubscribe token carries: who leaves which channel, from which delivery."""

    delivery_id: int | None
    profile_id: int
    channel: str


class LinkSigner:
    """Signs and verifies tracking tokens with a secret derived from the workspace key.

    Clicks, opens and unsubscribes are signed under different salts, so a token
    made for one is refused by the others (an open pixel is not a redirect), and
    every token expires after ``max_age_days``: a link leaked from an old
    message stops working instead of redirecting forever.
    """

    def __init__(self, secret: bytes, *, max_age_days: int = DEFAULT_TOKEN_DAYS) -> None:
        self._click = URLSafeTimedSerializer(secret, salt=_SALT + " click")
        self._open = URLSafeTimedSerializer(secret, salt=_SALT + " open")
        self._unsubscribe = URLSafeTimedSerializer(secret, salt=_SALT + " unsubscribe")
        self._max_age = max_age_days * 86_400

    def _load(self, serializer: URLSafeTimedSerializer, token: str, what: str) -> list[Any]:
        try:
            value = serializer.loads(token, max_age=self._max_age)
        except SignatureExpired:
            raise NotFound(f"this {what} link has expired") from None
        except (BadSignature, ValueError, TypeError):
            raise NotFound(f"this {what} link is not valid") from None
        if not isinstance(value, list):
            raise NotFound(f"this {what} link is not valid")
        return value

    def sign(self, link: TrackedLink) -> str:
        """A click token for ``link``; only http(s) targets can be tracked."""
        if urlsplit(link.url).scheme not in ("http", "https"):
            raise InvalidInput(f"{link.url!r} is not an http(s) URL; only those can be tracked")
        return str(self._click.dumps([link.delivery_id, link.profile_id, link.link, link.url]))

    def verify(self, token: str) -> TrackedLink:
        """The link a click token carries; a forged, altered, expired or foreign token is
        NotFound (404, no redirect)."""
        try:
            delivery_id, profile_id, link, url = self._load(self._click, token, "tracked")
            return TrackedLink(_optional_id(delivery_id), int(profile_id), int(link), str(url))
        except (ValueError, TypeError):
            raise NotFound("this tracked link is not valid") from None

    def sign_open(self, mark: OpenMark) -> str:
        """An open-pixel token."""
        return str(self._open.dumps([mark.delivery_id, mark.profile_id]))

    def verify_open(self, token: str) -> OpenMark:
        """The delivery and profile of an open-pixel token."""
        try:
            delivery_id, profile_id = self._load(self._open, token, "open")
            return OpenMark(_optional_id(delivery_id), int(profile_id))
        except (ValueError, TypeError):
            raise NotFound("this open link is not valid") from None

    def sign_unsubscribe(self, request: Unsubscribe) -> str:
        """A token that opts one profile out of one channel."""
        return str(
            self._unsubscribe.dumps([request.delivery_id, request.profile_id, request.channel])
        )

    def verify_unsubscribe(self, token: str) -> Unsubscribe:
        """What an unsubscribe token asks; forged ones are NotFound."""
        try:
            delivery_id, profile_id, channel = self._load(self._unsubscribe, token, "unsubscribe")
            request = Unsubscribe(_optional_id(delivery_id), int(profile_id), str(channel))
        except (ValueError, TypeError):
            raise NotFound("this unsubscribe link is not valid") from None
        if request.channel not in ("email", "sms"):
            raise NotFound("this unsubscribe link is not valid")
        return request


def _optional_id(value: object) -> int | None:
    return None if value is None else int(str(value))


@dataclass(frozen=True, slots=True)
class VisitorCookie:
    """The visitor ID of a click, and the cookie to set (None: the browser's is kept)."""

    visitor_id: str
    cookie_name: str
    cookie_value: str | None
    is_visitor_id: bool


def choose_visitor(
    cookies: dict[str, str], *, people_link_enabled: bool, org_id: str | None
) -> VisitorCookie:
    """Reuse the browser's visitor ID, or create one (and say which cookie to set)."""
    if people_link_enabled and org_id:
        name = amcv_cookie_name(org_id)
        existing = cookies.get(name)
        if existing:
            try:
                return VisitorCookie(visitor_id_from_amcv(existing).value, name, None, True)
            except InvalidVisitorId:
                pass  # a damaged cookie is replaced, keeping its other pairs
        fresh = VisitorId.new()
        return VisitorCookie(fresh.value, name, format_amcv(fresh, existing or None), True)
    existing = cookies.get(OWN_COOKIE)
    if existing and len(existing) == 32 and existing.isalnum():
        return VisitorCookie(existing, OWN_COOKIE, None, False)
    fresh_own = secrets.token_hex(16)
    return VisitorCookie(fresh_own, OWN_COOKIE, fresh_own, False)


Click = tuple[TrackedLink, VisitorCookie, str | None]  # link, visitor, user agent


def click_event(link: TrackedLink, visitor: VisitorCookie, user_agent: str | None) -> Event:
    """A click as an online event: what the log and the visitor link need, and when."""
    return {
        "delivery_id": link.delivery_id,
        "profile_id": link.profile_id,
        "link": link.link,
        "url": link.url,
        "visitor_id": visitor.visitor_id,
        "is_visitor_id": visitor.is_visitor_id,
        "user_agent": (user_agent or "")[:1000],
        "at": datetime.now(UTC).isoformat(),
    }


def open_event(mark: OpenMark, user_agent: str | None) -> Event:
    """An open (the pixel of a delivery) as an online event."""
    return {
        "delivery_id": mark.delivery_id,
        "profile_id": mark.profile_id,
        "user_agent": (user_agent or "")[:1000],
        "at": datetime.now(UTC).isoformat(),
    }


def unsubscribe_event(request: Unsubscribe) -> Event:
    """An opt-out the person asked for, as an online event."""
    return {
        "profile_id": request.profile_id,
        "channel": request.channel,
        "at": datetime.now(UTC).isoformat(),
    }


def store_clicks(connection: Connection, events: Sequence[Event]) -> None:
    """Log clicks and link each visitor ID to its profile (the latest click's link wins)."""
    bulk_insert(
        connection,
        tracking_log,
        ["kind", "delivery_id", "profile_id", "link", "url", "visitor_id", "user_agent", "at"],
        [
            (
                "click",
                e["delivery_id"],
                e["profile_id"],
                e["link"],
                e["url"],
                e["visitor_id"],
                e["user_agent"],
                datetime.fromisoformat(e["at"]),
            )
            for e in events
        ],
    )
    links = {
        (e["visitor_id"], e["profile_id"]): {
            "visitor_id": e["visitor_id"],
            "profile_id": e["profile_id"],
            "linked_at": datetime.fromisoformat(e["at"]),
        }
        for e in events
        if e["is_visitor_id"]
    }
    upsert(
        connection,
        visitor_links,
        list(links.values()),
        keys=("visitor_id", "profile_id"),
        update=("linked_at",),
    )


def store_opens(connection: Connection, events: Sequence[Event]) -> None:
    """Log opens."""
    bulk_insert(
        connection,
        tracking_log,
        ["kind", "delivery_id", "profile_id", "user_agent", "at"],
        [
            (
                "open",
                e["delivery_id"],
                e["profile_id"],
                e["user_agent"],
                datetime.fromisoformat(e["at"]),
            )
            for e in events
        ],
    )


def _time(event: Event) -> datetime:
    return datetime.fromisoformat(event["at"])


def record_clicks(connection: Connection, clicks: list[Click]) -> None:
    """Log clicks now (see :func:`store_clicks`)."""
    store_clicks(connection, [click_event(*click) for click in clicks])


def record_click(
    connection: Connection, link: TrackedLink, visitor: VisitorCookie, user_agent: str | None
) -> None:
    """Log one click (see :func:`store_clicks`)."""
    record_clicks(connection, [(link, visitor, user_agent)])


def record_open(connection: Connection, mark: OpenMark, user_agent: str | None) -> None:
    """Log an open now (see :func:`store_opens`)."""
    store_opens(connection, [open_event(mark, user_agent)])
