"""Triggered messages: an event with an encrypted declared ID becomes one email or SMS.

The ID is decrypted with its data source's key (channel email or SMS; channel
``other`` is never decrypted), rendered with a named template and the event's
payload, and sent even when no profile exists (optionally creating one). The
same idempotency key twice sends once, and a replay answers the first result.
Nothing is sent when anything is wrong; an ID that cannot be used gets one
answer whatever the reason, so the API tells an attacker nothing about the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.delivery import (
    compose_email,
    log_message,
    send_sms,
    trigger_delivery,
)
from audiencehub.campaign.messaging.sending import Messaging, profile_context
from audiencehub.campaign.messaging.templates import EmailTemplate, render
from audiencehub.campaign.profiles.store import create_profile as new_profile
from audiencehub.campaign.schema import message_templates, messages, profiles, trigger_events
from audiencehub.campaign.sharing.data_sources import (
    Channel,
    cipher_of,
    get_shared_data_source,
    require_terms,
)
from audiencehub.errors import DecryptionFailed, InvalidInput, NotFound, SendFailed
from audiencehub.identity.normalize import normalize_email, to_e164

__all__ = ["TriggerResult", "add_template", "trigger"]


_UNUSABLE = "the encrypted ID cannot be used"
_UNUSABLE_HINT = (
    "Send the declared ID encrypted with this data source's key, as hex, unaltered; "
    "it must decrypt to an email address or a phone number, as the source's channel says."
)


@dataclass(frozen=True)
class TriggerResult:
    """What a trigger did: ``sent``, ``failed`` or ``skipped`` (``pending`` while another
    request with the same key is sending); ``replayed`` when the key was handled before,
    in which case the rest is that first result."""

    status: str
    message_id: int
    channel: str
    profile_id: int | None
    replayed: bool = False


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
    messaging: Messaging,
    vault: KeyVault,
    *,
    data_source_id: str,
    encrypted_id: str,
    template: str,
    payload: dict[str, Any],
    idempotency_key: str,
    create_profile: bool = False,
    record: Engine | None = None,
) -> TriggerResult:
    """Handle one event; raises (nothing sent) on unknown source or template, or bad ciphertext.

    The message is recorded as pending with its idempotency key and committed
    before it is sent, then sent with no transaction open, then its outcome is
    recorded: a slow mail server never holds the database, and a second request
    with the same key finds the first instead of sending again. ``record`` (by
    default ``engine``) writes the outcome: once a message is sent, its outcome
    must be recorded, however long a lock takes, while ``engine`` may be one that
    gives up on a held lock at once (see :mod:`.trigger_queue`).
    """
    record = record or engine
    if not idempotency_key.strip():
        raise InvalidInput("an idempotency key is required")
    try:
        with engine.begin() as connection:
            seen = _seen(connection, idempotency_key)
            if seen is not None:
                return seen
            prepared = _prepare(
                connection,
                vault,
                data_source_id=data_source_id,
                encrypted_id=encrypted_id,
                template=template,
                payload=payload,
                create_profile=create_profile,
            )
            skip = prepared.skip_reason
            delivery_id = trigger_delivery(connection, template=template, channel=prepared.channel)
            message_id = log_message(
                connection,
                delivery_id=delivery_id,
                delivery=f"trigger:{template}",
                channel=prepared.channel,
                profile_id=prepared.profile_id,
                address=prepared.address,
                status="skipped" if skip else "pending",
                reason=skip,
            )
            connection.execute(
                insert(trigger_events),
                {
                    "idempotency_key": idempotency_key,
                    "message_id": message_id,
                    "at": datetime.now(UTC),
                },
            )
    except IntegrityError:
        # another request with this key committed first: it sends, this one reports it
        with engine.connect() as connection:
            seen = _seen(connection, idempotency_key)
        if seen is None:
            raise
        return seen
    if skip:
        return TriggerResult("skipped", message_id, prepared.channel, prepared.profile_id)
    status, reason = "sent", None
    try:
        _send(messaging, prepared, delivery_id)
    except SendFailed as exc:
        status, reason = "failed", exc.message
    except Exception:
        _forget(record, idempotency_key, message_id)  # nothing was sent: a retry may send
        raise
    with record.begin() as connection:
        connection.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(status=status, reason=reason, at=datetime.now(UTC))
        )
    return TriggerResult(status, message_id, prepared.channel, prepared.profile_id)


@dataclass(frozen=True)
class _Prepared:
    """A decrypted, resolved event: where it goes and what it says."""

    channel: str
    address: str
    profile_id: int | None
    skip_reason: str | None
    template: EmailTemplate
    context: dict[str, Any]


def _forget(engine: Engine, idempotency_key: str, message_id: int) -> None:
    """Undo the pending record of a message that could not even be handed to a mailer."""
    with engine.begin() as connection:
        connection.execute(
            delete(trigger_events).where(trigger_events.c.idempotency_key == idempotency_key)
        )
        connection.execute(delete(messages).where(messages.c.id == message_id))


def _seen(connection: Connection, idempotency_key: str) -> TriggerResult | None:
    """The first result of a key already handled (None for a new key)."""
    seen = connection.execute(
        select(messages.c.id, messages.c.status, messages.c.channel, messages.c.profile_id)
        .join(trigger_events, trigger_events.c.message_id == messages.c.id)
        .where(trigger_events.c.idempotency_key == idempotency_key)
    ).first()
    if seen is None:
        return None
    return TriggerResult(seen.status, seen.id, seen.channel, seen.profile_id, replayed=True)


def _prepare(
    connection: Connection,
    vault: KeyVault,
    *,
    data_source_id: str,
    encrypted_id: str,
    template: str,
    payload: dict[str, Any],
    create_profile: bool,
) -> _Prepared:
    """Check the source and template, decrypt the ID and find (or create) its profile."""
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
        connection.execute(select(message_templates).where(message_templates.c.name == template))
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
    channel = source["channel"]
    try:
        plain = cipher.decrypt(encrypted_id)
        address = normalize_email(plain) if channel == "email" else to_e164(plain)
    except InvalidInput:
        # one answer for every reason, quoting nothing decrypted: no padding or format oracle
        raise DecryptionFailed(_UNUSABLE, hint=_UNUSABLE_HINT) from None
    column = profiles.c.email_key if channel == "email" else profiles.c.mobile_phone
    profile = connection.execute(select(profiles).where(column == address).limit(1)).mappings()
    found = profile.first()
    if found is None and create_profile:
        created = new_profile(
            connection,
            email=address if channel == "email" else None,
            mobile_phone=address if channel == "sms" else None,
        )
        found = (
            connection.execute(select(profiles).where(profiles.c.id == created)).mappings().one()
        )
    skip = None
    if found is not None and found["blocklisted"]:
        skip = "blocklisted"
    elif found is not None and found[f"{channel}_opt_out"]:
        skip = "opted out"
    context = profile_context(found) if found is not None else {"profile": {}, "attributes": {}}
    context["payload"] = payload
    return _Prepared(
        channel=channel,
        address=address,
        profile_id=found["id"] if found is not None else None,
        skip_reason=skip,
        template=EmailTemplate(row["subject"], row["text"], row["html"]),
        context=context,
    )


def _send(messaging: Messaging, prepared: _Prepared, delivery_id: int) -> None:
    """Send the prepared message by its channel; raises :class:`SendFailed` when refused."""
    settings = messaging.settings
    if prepared.channel != "email":
        send_sms(
            settings, prepared.address, render(prepared.template.text, prepared.context, html=False)
        )
        return
    message = compose_email(
        prepared.template,
        prepared.context,
        to=prepared.address,
        sender=settings.mail_from,
        profile_id=prepared.profile_id,
        delivery_id=delivery_id,
        signer=messaging.signer,
        base_url=settings.tracking_base_url.rstrip("/"),
    )
    mailer = messaging.mailer()
    try:
        mailer.send(message)
    finally:
        mailer.close()
