"""Email deliveries: sandboxed templates, tracked links, an open pixel, unsubscribe, a log.

Templates (:mod:`.templates`) are Jinja2 in a sandbox, given the profile's
fields and attributes (and a trigger's payload). Every http(s) link written in
the template becomes a signed tracking link, the HTML part gets an open pixel,
and each message
carries ``List-Unsubscribe`` (one-click) plus an unsubscribe link that sets the
profile's opt-out. Opted-out and blocklisted profiles are never sent to. Each
message is logged: sent, failed with the SMTP reason, or skipped with the
reason. With no SMTP server configured, messages are written as ``.eml`` files
to the workspace outbox.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from audiencehub.campaign.messaging.templates import EmailTemplate, render, render_linked
from audiencehub.campaign.messaging.tracking import LinkSigner, OpenMark, TrackedLink, Unsubscribe
from audiencehub.campaign.schema import deliveries, messages
from audiencehub.config import Settings
from audiencehub.errors import ConfigurationError, RemoteError, SendFailed
from audiencehub.files import private_dir, write_private

__all__ = [
    "Mailer",
    "OutboxMailer",
    "SmtpMailer",
    "compose_email",
    "log_message",
    "mailer_for",
    "send_sms",
    "start_delivery",
    "trigger_delivery",
]


def compose_email(
    template: EmailTemplate,
    context: dict[str, Any],
    *,
    to: str,
    sender: str,
    profile_id: int | None,
    delivery_id: int | None,
    signer: LinkSigner,
    base_url: str,
) -> Message:
    """Render one message with tracked links, an open pixel and unsubscribe headers.

    Only the links written in the template are tracked; a URL that a value
    inserts (a profile field, a trigger's payload) stays plain text, so nobody
    can make the tracking server sign a redirect to a place of their choosing.
    """
    subject = render(template.subject, context, html=False).replace("\n", " ")
    links: dict[str, str] = {}

    def tracked(url: str) -> str:
        if profile_id is None:
            return url
        if url not in links:
            token = signer.sign(TrackedLink(delivery_id, profile_id, len(links), url))
            links[url] = f"{base_url}/r/{token}"
        return links[url]

    text = render_linked(template.text, context, html=False, link=tracked)
    html = render_linked(template.html, context, html=True, link=tracked)
    # The legacy (compat32) MIME classes build a message several times faster than
    # EmailMessage, whose header registry parses every header it is given.
    message = MIMEMultipart("alternative")
    message["From"], message["To"] = sender, to
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    message["Message-ID"] = make_msgid(domain="audiencehub.local")
    if profile_id is not None:
        leave = signer.sign_unsubscribe(Unsubscribe(delivery_id, profile_id, "email"))
        unsubscribe = f"{base_url}/u/{leave}"
        pixel_token = signer.sign_open(OpenMark(delivery_id, profile_id))
        pixel = f'<img src="{base_url}/o/{pixel_token}" width="1" height="1" alt="">'
        footer = f'<p><a href="{unsubscribe}">Unsubscribe</a></p>{pixel}'
        html = html.replace("</body>", footer + "</body>") if "</body>" in html else html + footer
        text += f"\n\nUnsubscribe: {unsubscribe}\n"
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.attach(MIMEText(text, "plain", "utf-8"))
    message.attach(MIMEText(html, "html", "utf-8"))
    return message


class Mailer(Protocol):
    """Sends messages; :class:`SendFailed` carries the reason of a refusal."""

    def send(self, message: Message) -> None:
        """Send one message."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class OutboxMailer:
    """Writes each message as an ``.eml`` file (the embedded default)."""

    def __init__(self, folder: Path) -> None:
        self.folder = private_dir(folder)  # addressed messages: owner-only

    def send(self, message: Message) -> None:
        name = str(message["Message-ID"]).strip("<>").replace("@", "_").replace("/", "_")
        write_private(self.folder / f"{name}.eml", bytes(message))

    def close(self) -> None:
        """Nothing to release."""


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """Verify the server's certificate and name, against the system CAs or ``smtp_ca_file``."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file)


class SmtpMailer:
    """One SMTP session for a batch: plain, STARTTLS or TLS, with optional authentication."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None  # noqa: S101 -- chosen by mailer_for
        self._smtp: smtplib.SMTP | None = None
        try:
            if settings.smtp_security == "tls":
                self._smtp = smtplib.SMTP_SSL(
                    settings.smtp_host,
                    settings.smtp_port,
                    context=_tls_context(settings),
                    timeout=30,
                )
            else:
                self._smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30)
                if settings.smtp_security == "starttls":
                    self._smtp.starttls(context=_tls_context(settings))
            if settings.smtp_user:
                self._smtp.login(settings.smtp_user, settings.smtp_password or "")
        except (OSError, smtplib.SMTPException) as exc:
            if self._smtp is not None:
                self._smtp.close()  # a half-open session would hold the server's slot
            # a refused certificate or login is a setting to fix; anything else may pass
            refused = isinstance(exc, ssl.SSLError | smtplib.SMTPAuthenticationError)
            raise (ConfigurationError if refused else RemoteError)(
                f"cannot reach the SMTP server {settings.smtp_host}:{settings.smtp_port}: {exc}",
                hint="Check smtp_host, smtp_port, smtp_security and the credentials, and that "
                "the server is up.",
            ) from exc

    def send(self, message: Message) -> None:
        assert self._smtp is not None  # noqa: S101 -- set by __init__ or it raised
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()))
            raise SendFailed(f"{code} {reason.decode(errors='replace')}") from exc
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            raise SendFailed(f"{exc.smtp_code} {text}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(str(exc)) from exc
        if refused:
            code, reason = next(iter(refused.values()))
            raise SendFailed(f"{code} {reason.decode(errors='replace')}")

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()


def send_sms(settings: Settings, to: str, body: str) -> None:
    """Send through the HTTP gateway, or write to the outbox when none is configured."""
    if settings.sms_gateway_url is None:
        folder = private_dir(settings.workspace / "outbox")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        message = json.dumps({"to": to, "body": body}).encode()
        write_private(folder / f"{stamp}-{to.lstrip('+')}.sms.json", message)
        return
    headers = (
        {"Authorization": f"Bearer {settings.sms_gateway_token}"}
        if settings.sms_gateway_token
        else {}
    )
    try:
        response = httpx.post(
            settings.sms_gateway_url, json={"to": to, "body": body}, headers=headers, timeout=30
        )
    except httpx.HTTPError as exc:
        raise SendFailed(f"the SMS gateway cannot be reached: {exc}") from exc
    if response.status_code >= 400:
        raise SendFailed(f"the SMS gateway answered {response.status_code}: {response.text[:200]}")


def mailer_for(settings: Settings) -> Mailer:
    """SMTP when a host is configured, else the workspace outbox."""
    if settings.smtp_host:
        return SmtpMailer(settings)
    return OutboxMailer(settings.workspace / "outbox")


def start_delivery(connection: Connection, *, name: str, channel: str) -> int:
    """Record a new delivery (a send to a set of profiles) and return its id."""
    result = connection.execute(
        insert(deliveries).returning(deliveries.c.id),
        {"name": name, "channel": channel, "kind": "delivery", "created_at": datetime.now(UTC)},
    )
    return int(result.scalar_one())


def trigger_delivery(connection: Connection, *, template: str, channel: str) -> int:
    """The delivery of a trigger template's messages, created at its first message."""
    name = f"trigger:{template}"
    query = select(deliveries.c.id).where(deliveries.c.kind == "trigger", deliveries.c.name == name)
    found = connection.execute(query).scalar()
    if found is None:
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(deliveries),
                    {
                        "name": name,
                        "channel": channel,
                        "kind": "trigger",
                        "created_at": datetime.now(UTC),
                    },
                )
        except IntegrityError:
            pass  # another request created it first
        found = connection.execute(query).scalar_one()
    return int(found)


def log_message(
    connection: Connection,
    *,
    delivery_id: int,
    delivery: str,
    channel: str,
    profile_id: int | None,
    address: str,
    status: str,
    reason: str | None = None,
) -> int:
    """Record what happened to one message; returns its id."""
    result = connection.execute(
        insert(messages).returning(messages.c.id),
        {
            "delivery_id": delivery_id,
            "delivery": delivery,
            "channel": channel,
            "profile_id": profile_id,
            "address": address,
            "status": status,
            "reason": reason,
            "at": datetime.now(UTC),
        },
    )
    return int(result.scalar_one())
