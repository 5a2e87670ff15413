"""Tracked links and the visitor IDs clicks reveal.

Every link in a delivery is rewritten to ``/r/<token>``, where the token is the
signed (delivery, profile, link, target URL). A forged or altered token is
refused, so the tracking server is never an open redirect. A click links the
browser's visitor ID to the profile: the one in the ``AMCV_`` cookie when the
people-service connection is enabled, else a new one set in the browser; without
the connection, campaign's own permanent cookie plays that part.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Connection, insert

from audiencehub.campaign.schema import tracking_log, visitor_links
from audiencehub.db.bulk import bulk_insert, upsert
from audiencehub.errors import InvalidInput, InvalidVisitorId, NotFound
from audiencehub.identity.visitor import (
    VisitorId,
    amcv_cookie_name,
    format_amcv,
    visitor_id_from_amcv,
)

__all__ = [
    "OWN_COOKIE",
    "Click",
    "LinkSigner",
    "TrackedLink",
    "VisitorCookie",
    "choose_visitor",
    "record_click",
    "record_clicks",
    "record_open",
]

OWN_COOKIE = "acs_vid"  # campaign's own permanent cookie, before the connection is enabled
_SALT = "audiencehub tracked link v1"


@dataclass(frozen=True, slots=True)
class TrackedLink:
    """What a tracking token carries."""

    delivery_id: int | None
    profile_id: int
    link: int
    url: str


class LinkSigner:
    """Signs and verifies tracking tokens with a secret derived from the workspace key."""

    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self._unsubscribe = URLSafeSerializer(secret, salt=_SALT + " unsubscribe")

    def sign_unsubscribe(self, profile_id: int, channel: str) -> str:
        """A token that opts one profile out of one channel."""
        return str(self._unsubscribe.dumps([profile_id, channel]))

    def verify_unsubscribe(self, token: str) -> tuple[int, str]:
        """(profile id, channel) of an unsubscribe token; forged ones are NotFound."""
        try:
            profile_id, channel = self._unsubscribe.loads(token)
        except (BadSignature, ValueError, TypeError):
            raise NotFound("this unsubscribe link is not valid") from None
        if channel not in ("email", "sms"):
            raise NotFound("this unsubscribe link is not valid")
        return int(profile_id), str(channel)

    def sign(self, link: TrackedLink) -> str:
        """A token for ``link``; only http(s) targets can be tracked."""
        if urlsplit(link.url).scheme not in ("http", "https"):
            raise InvalidInput(f"{link.url!r} is not an http(s) URL; only those can be tracked")
        return str(self._serializer.dumps([link.delivery_id, link.profile_id, link.link, link.url]))

    def verify(self, token: str) -> TrackedLink:
        """The link a token carries; a forged or altered token is NotFound (404, no redirect)."""
        try:
            delivery_id, profile_id, link, url = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError):
            raise NotFound("this tracked link is not valid") from None
        return TrackedLink(delivery_id, int(profile_id), int(link), str(url))


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


def record_clicks(connection: Connection, clicks: list[Click]) -> None:
    """Log clicks and link each visitor ID to its profile (the latest link wins)."""
    now = datetime.now(UTC)
    bulk_insert(
        connection,
        tracking_log,
        ["kind", "delivery_id", "profile_id", "link", "url", "visitor_id", "user_agent"],
        [
            (
                "click",
                link.delivery_id,
                link.profile_id,
                link.link,
                link.url,
                visitor.visitor_id,
                (agent or "")[:1000],
            )
            for link, visitor, agent in clicks
        ],
        constants={"at": now},
    )
    links = {
        (visitor.visitor_id, link.profile_id): {
            "visitor_id": visitor.visitor_id,
            "profile_id": link.profile_id,
            "linked_at": now,
        }
        for link, visitor, _ in clicks
        if visitor.is_visitor_id
    }
    upsert(
        connection,
        visitor_links,
        list(links.values()),
        keys=("visitor_id", "profile_id"),
        update=("linked_at",),
    )


def record_click(
    connection: Connection, link: TrackedLink, visitor: VisitorCookie, user_agent: str | None
) -> None:
    """Log one click (see :func:`record_clicks`)."""
    record_clicks(connection, [(link, visitor, user_agent)])


def record_open(connection: Connection, link: TrackedLink, user_agent: str | None) -> None:
    """Log an open (the pixel of a delivery)."""
    connection.execute(
        insert(tracking_log),
        {
            "kind": "open",
            "delivery_id": link.delivery_id,
            "profile_id": link.profile_id,
            "link": None,
            "url": None,
            "visitor_id": None,
            "user_agent": (user_agent or "")[:1000],
            "at": datetime.now(UTC),
        },
    )
