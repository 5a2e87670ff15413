"""Tracked links: only the template's own links are signed; tokens are per purpose and expire."""

from __future__ import annotations

import email
import re

import pytest
from fastapi.testclient import TestClient
from itsdangerous.timed import TimestampSigner
from sqlalchemy import select

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.delivery import OutboxMailer, compose_email
from audiencehub.campaign.messaging.sending import send_email_delivery
from audiencehub.campaign.messaging.templates import EmailTemplate
from audiencehub.campaign.messaging.tracking import (
    LinkSigner,
    OpenMark,
    TrackedLink,
    Unsubscribe,
)
from audiencehub.campaign.profiles.store import create_profile
from audiencehub.campaign.schema import deliveries, messages, profiles, tracking_log
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.errors import InvalidInput, NotFound
from tests.helpers import services_of

BASE = "https://t.example.com"
EVIL = "https://evil.example/x"


def _signer(days=90):
    return LinkSigner(b"k" * 32, max_age_days=days)


def _parts(message):
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


def _tracked(text):
    return re.findall(rf"{re.escape(BASE)}/r/([\w.-]+)", text)


def _compose(template, context, signer=None):
    return compose_email(
        template,
        context,
        to="jo@example.com",
        sender="shop <shop@example.com>",
        profile_id=1,
        delivery_id=5,
        signer=signer or _signer(),
        base_url=BASE,
    )


@pytest.mark.parametrize(
    "template",
    [
        EmailTemplate(
            "s", "Hi {{ profile.first_name }}, see https://shop.example.com/", "<p>x</p>"
        ),
        EmailTemplate(
            "s",
            "t",
            '<p>Hi {{ profile.first_name }}</p><a href="https://shop.example.com/">shop</a>',
        ),
        EmailTemplate("s", "t", '<a href="{{ profile.first_name }}">x</a>'),
        EmailTemplate("s", "Go to {{ payload.url }} now", "<p>{{ payload.url }}</p>"),
    ],
)
def test_inserted_urls_are_never_tracked(template):
    """A URL that a profile field or a trigger's payload puts in the message stays plain
    text: only links written in the template become signed redirects."""
    signer = _signer()
    context = {"profile": {"first_name": EVIL}, "attributes": {}, "payload": {"url": EVIL}}
    parts = _parts(_compose(template, context, signer))
    targets = [signer.verify(token).url for part in parts.values() for token in _tracked(part)]
    assert EVIL not in targets
    assert all(target == "https://shop.example.com/" for target in targets)
    assert any(EVIL in part for part in parts.values())  # still shown, as text


def test_template_links_are_tracked_with_their_personal_parts():
    """A link the template writes is tracked, expressions in its path included, and carries
    its delivery; an HTML link's escaped ampersand reaches the redirect unescaped."""
    signer = _signer()
    template = EmailTemplate(
        "s",
        "See https://shop.example.com/shoes?id={{ profile.crm_id }}",
        '<a href="https://shop.example.com/a?x=1&amp;id={{ profile.crm_id }}">a</a>',
    )
    parts = _parts(_compose(template, {"profile": {"crm_id": "C&1"}, "attributes": {}}, signer))
    [text_token] = _tracked(parts["text/plain"])
    [html_token] = _tracked(parts["text/html"])
    assert signer.verify(text_token) == TrackedLink(
        5, 1, 0, "https://shop.example.com/shoes?id=C&1"
    )
    assert signer.verify(html_token).url == "https://shop.example.com/a?x=1&id=C&1"


def test_marking_characters_in_values_cannot_forge_a_link():
    """A value that carries the characters marking the template's links is cleaned first."""
    signer = _signer()
    sneaky = f"\ue000{EVIL}\ue001"
    template = EmailTemplate("s", "Hi {{ profile.first_name }}", "<p>{{ profile.first_name }}</p>")
    parts = _parts(
        _compose(template, {"profile": {"first_name": sneaky}, "attributes": {}}, signer)
    )
    assert not _tracked(parts["text/plain"]) and not _tracked(parts["text/html"])
    assert EVIL in parts["text/plain"] and "\ue000" not in parts["text/plain"]


def test_tokens_are_not_interchangeable():
    """A click token is no open pixel or unsubscribe link, and the other way round."""
    signer = _signer()
    click = signer.sign(TrackedLink(5, 1, 0, "https://shop.example.com/"))
    opened = signer.sign_open(OpenMark(5, 1))
    leave = signer.sign_unsubscribe(Unsubscribe(5, 1, "email"))
    assert signer.verify_open(opened) == OpenMark(5, 1)
    assert signer.verify_unsubscribe(leave) == Unsubscribe(5, 1, "email")
    for wrong, check in [
        (opened, signer.verify),
        (leave, signer.verify),
        (click, signer.verify_open),
        (leave, signer.verify_open),
        (click, signer.verify_unsubscribe),
        (opened, signer.verify_unsubscribe),
    ]:
        with pytest.raises(NotFound, match="not valid"):
            check(wrong)


def test_tokens_expire(monkeypatch):
    """A token older than the configured days is refused as expired; a younger one works."""
    signer = _signer(days=90)
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 91 * 86_400)
    old = signer.sign(TrackedLink(5, 1, 0, "https://shop.example.com/"))
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 89 * 86_400)
    young = signer.sign(TrackedLink(5, 1, 0, "https://shop.example.com/"))
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    with pytest.raises(NotFound, match="expired"):
        signer.verify(old)
    assert signer.verify(young).url == "https://shop.example.com/"


def test_clicks_and_opens_carry_their_delivery(workspace):
    """A delivery is recorded; its messages, clicks and opens point at it."""
    signer = LinkSigner(KeyVault(workspace.path).derive("tracking"))
    with workspace.campaign.begin() as connection:
        profile = create_profile(connection, email="jo@example.com")
    outbox = OutboxMailer(workspace.path / "outbox")
    report = send_email_delivery(
        workspace.campaign,
        workspace.settings.model_copy(update={"tracking_base_url": BASE}),
        signer,
        outbox,
        name="Spring sale",
        template=EmailTemplate("s", "https://shop.example.com/", "<p>x</p>"),
        profile_ids=select(profiles.c.id),
    )
    [eml] = (workspace.path / "outbox").glob("*.eml")
    parts = _parts(email.message_from_bytes(eml.read_bytes()))
    app = TestClient(create_campaign_app(services_of(workspace, signer=signer)))
    [click] = re.findall(rf"{re.escape(BASE)}(/r/[\w.-]+)", parts["text/plain"])
    [pixel] = re.findall(rf"{re.escape(BASE)}(/o/[\w.-]+)", parts["text/html"])
    assert app.get(click, follow_redirects=False).status_code == 302
    assert app.get(pixel).status_code == 200
    with workspace.campaign.connect() as connection:
        [(delivery_id, name, channel)] = connection.execute(
            select(deliveries.c.id, deliveries.c.name, deliveries.c.channel)
        ).all()
        logged = connection.execute(select(messages.c.delivery_id)).scalars().all()
        tracked = connection.execute(
            select(tracking_log.c.kind, tracking_log.c.delivery_id, tracking_log.c.profile_id)
        ).all()
    assert (name, channel, report.delivery_id) == ("Spring sale", "email", delivery_id)
    assert logged == [delivery_id]
    assert sorted(tracked) == [("click", delivery_id, profile), ("open", delivery_id, profile)]


@pytest.mark.parametrize(
    "template",
    [
        EmailTemplate("Hi {{ profile.frist_name }}", "t", "h"),
        EmailTemplate("s", "{{ profile['nickname'] }}", "h"),
        EmailTemplate("s", "t", "{% if profile.tier %}gold{% endif %}"),
    ],
)
def test_a_template_naming_an_unknown_profile_field_is_refused(template):
    """A typo in a profile field is refused before sending, not rendered empty everywhere."""
    with pytest.raises(InvalidInput, match="unknown profile fields") as caught:
        template.check()
    assert "attributes.NAME" in caught.value.hint


def test_known_fields_and_attributes_pass_the_check():
    """Every profile field, and any custom attribute, may be used."""
    EmailTemplate(
        "{{ profile.first_name }} {{ profile['crm_id'] }}",
        "{{ attributes.tier }} {{ attributes['anything'] }}",
        "{{ profile.country }}",
    ).check()
