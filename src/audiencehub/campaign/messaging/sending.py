"""Sending a delivery to a set of profiles, message by message, each one logged.

Given an engine, each message is logged in its own transaction (a crash loses
at most the message in flight); given a connection (a workflow run), messages
are logged in the caller's transaction. Profiles are read in pages by id, so
no cursor stays open while messages are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, Select, select

from audiencehub.campaign.audiences import audience_id
from audiencehub.campaign.messaging.delivery import (
    Mailer,
    compose_email,
    log_message,
    send_sms,
    start_delivery,
)
from audiencehub.campaign.messaging.templates import PROFILE_FIELDS, EmailTemplate, render
from audiencehub.campaign.messaging.tracking import LinkSigner
from audiencehub.campaign.profiles.email_syntax import check_email
from audiencehub.campaign.schema import audience_members, profiles
from audiencehub.config import Settings
from audiencehub.errors import InvalidInput, SendFailed

__all__ = [
    "DeliveryReport",
    "Messaging",
    "profile_context",
    "send_email_delivery",
    "send_proof",
    "send_sms_delivery",
    "send_to_audience",
]

_PAGE = 1_000


@dataclass(frozen=True)
class Messaging:
    """What delivery activities need: settings, a link signer and a way to get a mailer."""

    settings: Settings
    signer: LinkSigner
    mailer: Callable[[], Mailer]


@dataclass
class DeliveryReport:
    """Counts of one delivery, and the reasons messages were skipped or failed."""

    delivery: str
    delivery_id: int
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def note(self, status: str, reason: str | None = None) -> None:
        setattr(self, status, getattr(self, status) + 1)
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1


def profile_context(row: Any) -> dict[str, Any]:
    """What templates see of a profile: its fields, and its custom attributes as ``attributes``."""
    return {
        "profile": {k: row[k] for k in PROFILE_FIELDS},
        "attributes": dict(row["attributes"] or {}),
    }


def _pages(target: Engine | Connection, profile_ids: Select[Any]) -> Iterator[RowMapping]:
    chosen = profile_ids.subquery()
    last = 0
    while True:
        query = (
            select(profiles)
            .where(profiles.c.id.in_(select(chosen.c[0])), profiles.c.id > last)
            .order_by(profiles.c.id)
            .limit(_PAGE)
        )
        with nullcontext(target) if isinstance(target, Connection) else target.connect() as reader:
            rows = list(reader.execute(query).mappings())
        if not rows:
            return
        yield from rows
        last = rows[-1]["id"]


def _writer(target: Engine | Connection) -> Callable[[], AbstractContextManager[Connection]]:
    if isinstance(target, Connection):
        return lambda: nullcontext(target)
    return target.begin


def _skip_reason(row: RowMapping, channel: str) -> str | None:
    address = row["email"] if channel == "email" else row["mobile_phone"]
    if row["blocklisted"]:
        return "blocklisted"
    if row[f"{channel}_opt_out"]:
        return f"opted out of {channel}"
    if not address:
        return "no email address" if channel == "email" else "no mobile phone"
    return None


def _deliver(
    target: Engine | Connection,
    channel: str,
    name: str,
    profile_ids: Select[Any],
    send_one: Callable[[RowMapping, str, int], None],
) -> DeliveryReport:
    """Skip who may not receive ``channel``, send to the rest, and log every message."""
    begin = _writer(target)
    with begin() as connection:
        delivery_id = start_delivery(connection, name=name, channel=channel)
    report = DeliveryReport(name, delivery_id)
    column = "email" if channel == "email" else "mobile_phone"
    for row in _pages(target, profile_ids):
        reason = _skip_reason(row, channel)
        address = row[column] or ""
        status = "skipped"
        if reason is None:
            try:
                send_one(row, address, delivery_id)
                status = "sent"
            except (SendFailed, InvalidInput) as exc:
                status, reason = "failed", str(exc)
        with begin() as connection:
            log_message(
                connection,
                delivery_id=delivery_id,
                delivery=name,
                channel=channel,
                profile_id=row["id"],
                address=address,
                status=status,
                reason=reason,
            )
        report.note(status, reason)
    return report


def send_email_delivery(
    target: Engine | Connection,
    settings: Settings,
    signer: LinkSigner,
    mailer: Mailer,
    *,
    name: str,
    template: EmailTemplate,
    profile_ids: Select[Any],
) -> DeliveryReport:
    """Send ``template`` to every profile in ``profile_ids`` that may receive email."""
    template.check()

    def send_one(row: RowMapping, address: str, delivery_id: int) -> None:
        mailer.send(
            compose_email(
                template,
                profile_context(row),
                to=address,
                sender=settings.mail_from,
                profile_id=row["id"],
                delivery_id=delivery_id,
                signer=signer,
                base_url=settings.tracking_base_url.rstrip("/"),
            )
        )

    return _deliver(target, "email", name, profile_ids, send_one)


def send_sms_delivery(
    target: Engine | Connection,
    settings: Settings,
    *,
    name: str,
    text: str,
    profile_ids: Select[Any],
) -> DeliveryReport:
    """Send an SMS rendered from ``text`` to every profile that may receive one."""
    EmailTemplate("", text, "").check()

    def send_one(row: RowMapping, address: str, _delivery: int) -> None:
        send_sms(settings, address, render(text, profile_context(row), html=False))

    return _deliver(target, "sms", name, profile_ids, send_one)


def send_to_audience(
    engine: Engine, messaging: Messaging, *, audience: str, name: str, template: EmailTemplate
) -> DeliveryReport:
    """Send an email delivery to the profiles of the audience called ``audience``."""
    with engine.connect() as connection:
        target = audience_id(connection, audience)
    members = select(audience_members.c.profile_id).where(
        audience_members.c.audience_id == target, audience_members.c.profile_id.is_not(None)
    )
    mailer = messaging.mailer()
    try:
        return send_email_delivery(
            engine,
            messaging.settings,
            messaging.signer,
            mailer,
            name=name,
            template=template,
            profile_ids=members,
        )
    finally:
        mailer.close()


def send_proof(
    engine: Engine, messaging: Messaging, *, audience: str, template: EmailTemplate, to: str
) -> str:
    """Send one proof of ``template`` to ``to``, personalised with the audience's first
    member (links left untracked, nothing logged as a delivery); returns its subject."""
    template.check()
    check_email(to)
    with engine.connect() as connection:
        target = audience_id(connection, audience)
        first = (
            connection.execute(
                select(profiles)
                .join(audience_members, audience_members.c.profile_id == profiles.c.id)
                .where(audience_members.c.audience_id == target)
                .order_by(profiles.c.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
    context = (
        profile_context(first)
        if first is not None
        else {"profile": dict.fromkeys(PROFILE_FIELDS), "attributes": {}}
    )
    message = compose_email(
        template,
        context,
        to=to,
        sender=messaging.settings.mail_from,
        profile_id=None,
        delivery_id=None,
        signer=messaging.signer,
        base_url=messaging.settings.tracking_base_url.rstrip("/"),
    )
    subject = f"[Proof] {message['Subject']}"
    message.replace_header("Subject", subject)
    mailer = messaging.mailer()
    try:
        mailer.send(message)
    finally:
        mailer.close()
    return subject
