"""Triggered messages: an event with an encrypted declared ID becomes one email or SMS.

The ID is decrypted with its data source's key (channel email or SMS; channel
``other`` is never decrypted), rendered with a named template and the event's
payload, and sent even when no profile exists (optionally creating one). The
same idempotency key twice sends once. Nothing is sent when anything is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.delivery import (
    EmailTemplate,
    Mailer,
    SendFailed,
    compose_email,
    log_message,
    render,
    send_sms,
)
from audiencehub.campaign.messaging.sending import profile_context
from audiencehub.campaign.messaging.tracking import LinkSigner
from audiencehub.campaign.profiles.store import create_profile as new_profile
from audiencehub.campaign.schema import message_templates, profiles, trigger_events
from audiencehub.campaign.sharing.data_sources import (
    Channel,
    cipher_of,
    get_shared_data_source,
    require_terms,
)
from audiencehub.config import Settings
from audiencehub.errors import InvalidInput, NotFound
from audiencehub.identity.normalize import normalize_email, to_e164

__all__ = ["TriggerResult", "add_template", "trigger"]


@dataclass(frozen=True)
class TriggerResult:
    """What a trigger did: ``sent``, ``failed`` or ``duplicate`` (already handled)."""

    status: str
    message_id: int | None
    channel: str
    profile_id: int | None


def add_template(
    engine: Engine, *, name: str, channel: str, subject: str, text: str, html: str
) -> None:
    """Store a named template (checked now, so a trigger never meets a broken one)."""
    if channel not in ("email", "sms"):
        raise InvalidInput(f"channel {channel!r} is not email or sms")
    EmailTemplate(subject, text, html).check(frozenset({"profile", "attributes", "payload"}))
    with engine.begin() as connection:
        connection.execute(message_templates.delete().where(message_templates.c.name == name))
        connection.execute(
            insert(message_templates),
            {"name": name, "channel": channel, "subject": subject, "text": text, "html": html},
        )


def trigger(
    engine: Engine,
    settings: Settings,
    vault: KeyVault,
    signer: LinkSigner,
    mailer: Mailer,
    *,
    data_source_id: str,
    encrypted_id: str,
    template: str,
    payload: dict[str, Any],
    idempotency_key: str,
    create_profile: bool = False,
) -> TriggerResult:
    """Handle one event; raises (nothing sent) on unknown source or template, or bad ciphertext."""
    if not idempotency_key.strip():
        raise InvalidInput("an idempotency key is required")
    with engine.begin() as connection:
        seen = connection.execute(
            select(trigger_events.c.message_id).where(
                trigger_events.c.idempotency_key == idempotency_key
            )
        ).first()
        if seen is not None:
            return TriggerResult("duplicate", seen.message_id, "", None)
        source = get_shared_data_source(connection, data_source_id)
        require_terms(source)
        if source["encryption"] is None or source["channel"] not in (
            Channel.EMAIL.value,
            Channel.SMS.value,
        ):
            raise InvalidInput(
                f"data source {data_source_id} does not carry decryptable email or SMS IDs "
                f"(channel {source['channel']}); triggers cannot send through it"
            )
        row = (
            connection.execute(
                select(message_templates).where(message_templates.c.name == template)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(
                f"no template is named {template!r}",
                hint="Add it with `audiencehub templates add`.",
            )
        cipher = cipher_of(connection, vault, data_source_id)
        assert cipher is not None  # noqa: S101 -- the source encrypts, checked above
        plain = cipher.decrypt(encrypted_id)
        channel = source["channel"]
        address = normalize_email(plain) if channel == "email" else to_e164(plain)
        column = profiles.c.email_key if channel == "email" else profiles.c.mobile_phone
        profile = (
            connection.execute(select(profiles).where(column == address).limit(1))
            .mappings()
            .first()
        )
        if profile is None and create_profile:
            created = new_profile(
                connection,
                email=address if channel == "email" else None,
                mobile_phone=address if channel == "sms" else None,
            )
            profile = (
                connection.execute(select(profiles).where(profiles.c.id == created))
                .mappings()
                .one()
            )
        profile_id = profile["id"] if profile is not None else None
        if profile is not None and (profile["blocklisted"] or profile[f"{channel}_opt_out"]):
            message_id = log_message(
                connection,
                delivery=f"trigger:{template}",
                channel=channel,
                profile_id=profile_id,
                address=address,
                status="skipped",
                reason="blocklisted" if profile["blocklisted"] else "opted out",
            )
            connection.execute(
                insert(trigger_events),
                {
                    "idempotency_key": idempotency_key,
                    "message_id": message_id,
                    "at": datetime.now(UTC),
                },
            )
            return TriggerResult("skipped", message_id, channel, profile_id)
        context = (
            profile_context(profile) if profile is not None else {"profile": {}, "attributes": {}}
        )
        context["payload"] = payload
        email_template = EmailTemplate(row["subject"], row["text"], row["html"])
        status, reason = "sent", None
        try:
            if channel == "email":
                message = compose_email(
                    email_template,
                    context,
                    to=address,
                    sender=settings.mail_from,
                    profile_id=profile_id,
                    delivery_id=None,
                    signer=signer,
                    base_url=settings.tracking_base_url.rstrip("/"),
                )
                mailer.send(message)
            else:
                send_sms(settings, address, render(row["text"], context, html=False))
        except SendFailed as exc:
            status, reason = "failed", str(exc)
        message_id = log_message(
            connection,
            delivery=f"trigger:{template}",
            channel=channel,
            profile_id=profile_id,
            address=address,
            status=status,
            reason=reason,
        )
        connection.execute(
            insert(trigger_events),
            {"idempotency_key": idempotency_key, "message_id": message_id, "at": datetime.now(UTC)},
        )
    return TriggerResult(status, message_id, channel, profile_id)
