"""Email deliveries received by a real SMTP server (aiosmtpd) started by the test."""

from __future__ import annotations

import csv
import email
import re
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiencehub.campaign import UpsertKey, get_profile, import_profiles
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.delivery import OutboxMailer, SmtpMailer
from audiencehub.campaign.messaging.sending import send_email_delivery
from audiencehub.campaign.messaging.templates import EmailTemplate
from audiencehub.campaign.messaging.tracking import LinkSigner, Unsubscribe
from audiencehub.campaign.schema import messages, profiles
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.errors import InvalidInput
from tests.helpers import free_port, services_of

TEMPLATE = EmailTemplate(
    subject="Hello {{ profile.first_name }}",
    text="Hi {{ profile.first_name }}, see https://shop.example.com/shoes?id={{ profile.crm_id }}",
    html="<html><body><p>Hi {{ profile.first_name }} ({{ attributes.tier }})</p>"
    '<a href="https://shop.example.com/shoes">Shoes</a></body></html>',
)


class _Inbox:
    """An SMTP handler that keeps messages and refuses one address."""

    def __init__(self) -> None:
        self.received: list[Message] = []

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address.startswith("refused@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp():
    port = free_port()
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def setup(workspace, tmp_path):
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                ["crm_id", "email", "first_name", "tier", "email_opt_out", "blocklisted"],
                ["C1", "jo@example.com", "Jo <b>", "gold", "0", "0"],
                ["C2", "al@example.com", "Al", "", "1", "0"],
                ["C3", "bo@example.com", "Bo", "", "0", "1"],
                ["C4", "refused@example.com", "Ref", "", "0", "0"],
                ["C5", "", "Nomail", "", "0", "0"],
            ]
        )
    import_profiles(workspace.campaign, path, key=UpsertKey.CRM_ID)
    signer = LinkSigner(KeyVault(workspace.path).derive("tracking"))
    return workspace, signer


def _send(workspace, signer, mailer, settings):
    return send_email_delivery(
        workspace.campaign,
        settings,
        signer,
        mailer,
        name="Spring",
        template=TEMPLATE,
        profile_ids=select(profiles.c.id),
    )


def _part(message: Message, kind: str) -> str:
    return (
        next(p for p in message.walk() if p.get_content_type() == kind)
        .get_payload(decode=True)
        .decode()
    )


def test_delivery_through_smtp(setup, smtp):
    """Messages arrive personalised, with tracked links, pixel and unsubscribe; all are logged."""
    (workspace, signer), (inbox, port) = setup, smtp
    settings = workspace.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "tracking_base_url": "https://t.example.com",
        }
    )
    mailer = SmtpMailer(settings)
    report = _send(workspace, signer, mailer, settings)
    mailer.close()
    assert (report.sent, report.failed, report.skipped) == (1, 1, 3)
    assert report.reasons["opted out of email"] == 1 and report.reasons["blocklisted"] == 1
    [message] = inbox.received
    assert message["Subject"] == "Hello Jo <b>" and message["To"] == "jo@example.com"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html, text = _part(message, "text/html"), _part(message, "text/plain")
    assert "Jo &lt;b&gt; (gold)" in html  # HTML escaped by the sandboxed template
    assert "https://shop.example.com" not in html and "https://shop.example.com" not in text
    assert html.count("https://t.example.com/r/") == 1 and "/o/" in html
    with workspace.campaign.connect() as connection:
        log = {r.address: (r.status, r.reason) for r in connection.execute(select(messages))}
    assert log["jo@example.com"] == ("sent", None)
    assert log["refused@example.com"][0] == "failed" and "550" in log["refused@example.com"][1]
    assert log["bo@example.com"] == ("skipped", "blocklisted")

    # the tracked link redirects to the original; the unsubscribe link opts the profile out
    app = TestClient(
        create_campaign_app(services_of(workspace, signer=signer)), follow_redirects=False
    )
    tracked = re.search(r"https://t\.example\.com(/r/[^\s\"]+)", text)[1]
    redirect = app.get(tracked)
    assert redirect.headers["location"] == "https://shop.example.com/shoes?id=C1"
    unsubscribe = "".join(message["List-Unsubscribe"].split()).strip("<>")
    unsubscribe = unsubscribe.replace("https://t.example.com", "")
    assert app.post(unsubscribe).status_code == 200
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "C1")["email_opt_out"] is True
    again = _send(workspace, signer, OutboxMailer(workspace.path / "outbox"), settings)
    assert again.reasons["opted out of email"] == 2  # Jo now too
    assert again.sent == 1  # only the address the SMTP server had refused; the outbox takes it


def test_outbox_is_the_embedded_default(setup):
    """Without SMTP, each message is an .eml file in the workspace outbox."""
    workspace, signer = setup
    report = _send(workspace, signer, OutboxMailer(workspace.path / "outbox"), workspace.settings)
    files = list((workspace.path / "outbox").glob("*.eml"))
    assert report.sent == 2 and len(files) == 2


def test_templates_are_sandboxed_and_checked(setup):
    """Broken templates and unknown names are refused up front; unsafe access renders nothing."""
    workspace, signer = setup
    outbox = OutboxMailer(workspace.path / "outbox")
    for bad, reason in (
        ("{% if %}", "invalid"),
        ("{{ missing_variable }}", "unknown names"),
        ("{{ profile.__class__.__mro__ }}", "unknown profile fields"),
    ):
        template = EmailTemplate(subject=bad, text="x", html="x")
        with pytest.raises(InvalidInput, match=reason):
            send_email_delivery(
                workspace.campaign,
                workspace.settings,
                signer,
                outbox,
                name="x",
                template=template,
                profile_ids=select(profiles.c.id),
            )
    unsafe = EmailTemplate(subject="{{ attributes.__class__.__mro__ }}", text="x", html="x")
    report = send_email_delivery(
        workspace.campaign,
        workspace.settings,
        signer,
        outbox,
        name="x",
        template=unsafe,
        profile_ids=select(profiles.c.id),
    )
    assert report.sent == 2
    written = [p.read_text() for p in (workspace.path / "outbox").glob("*.eml")]
    assert written and not any("class" in text or "object" in text for text in written)


def test_non_ascii_subjects_and_bodies_survive(setup):
    """Subjects are RFC 2047 encoded and parts UTF-8; both read back as written."""
    from email.header import decode_header, make_header

    from audiencehub.campaign.messaging.delivery import compose_email

    _, signer = setup
    template = EmailTemplate("Zoë, {{ profile.first_name }} ✓", "Grüße", "<p>Grüße</p>")
    message = compose_email(
        template,
        {"profile": {"first_name": "Ana"}, "attributes": {}},
        to="a@b.co",
        sender="x@y.z",
        profile_id=1,
        delivery_id=None,
        signer=signer,
        base_url="https://t.example.com",
    )
    parsed = email.message_from_bytes(bytes(message))
    assert str(make_header(decode_header(parsed["Subject"]))) == "Zoë, Ana ✓"
    assert "Grüße" in _part(parsed, "text/plain") and "Grüße" in _part(parsed, "text/html")


def test_an_import_never_undoes_an_opt_out_the_person_made(workspace, tmp_path):
    """After Jo unsubscribes through the link, re-importing a file that says email_opt_out=0
    keeps Jo opted out (and counts it); --resubscribe undoes it (renewed consent)."""
    data = tmp_path / "p.csv"
    data.write_text("email,email_opt_out\njo@example.com,0\nal@example.com,0\n")
    import_profiles(workspace.campaign, data)
    signer = LinkSigner(KeyVault(workspace.path).derive("tracking"))
    with workspace.campaign.connect() as connection:
        jo = get_profile(connection, "jo@example.com")["id"]
    client = TestClient(create_campaign_app(services_of(workspace, signer=signer)))
    leave = signer.sign_unsubscribe(Unsubscribe(None, jo, "email"))
    assert client.post(f"/u/{leave}").status_code == 200
    again = import_profiles(workspace.campaign, data)
    assert (again.kept_opt_outs, again.updated) == (1, 0)
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "jo@example.com")["email_opt_out"] is True
    renewed = import_profiles(workspace.campaign, data, resubscribe=True)
    assert (renewed.kept_opt_outs, renewed.updated) == (0, 1)
    with workspace.campaign.connect() as connection:
        profile = get_profile(connection, "jo@example.com")
    assert profile["email_opt_out"] is False and profile["email_unsubscribed_at"] is None
