"""Sending an email delivery to a set of profiles, message by message, each one logged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Select, select

from audiencehub.campaign.delivery import (
    EmailTemplate,
    Mailer,
    SendFailed,
    compose_email,
    log_message,
)
from audiencehub.campaign.schema import profiles
from audiencehub.campaign.tracking import LinkSigner
from audiencehub.config import Settings
from audiencehub.errors import InvalidInput

__all__ = ["DeliveryReport", "profile_context", "send_email_delivery"]

_BATCH = 1_000


@dataclass
class DeliveryReport:
    """Counts of one delivery, and the reasons messages were skipped or failed."""

    delivery: str
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
        "profile": {
            k: row[k]
            for k in (
                "id",
                "crm_id",
                "email",
                "mobile_phone",
                "first_name",
                "last_name",
                "country",
                "birth_date",
            )
        },
        "attributes": dict(row["attributes"] or {}),
    }


def send_email_delivery(
    engine: Engine,
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
    report = DeliveryReport(name)
    chosen = profile_ids.subquery()
    query = select(profiles).where(profiles.c.id.in_(select(chosen.c[0]))).order_by(profiles.c.id)
    with engine.connect() as reader:
        rows = reader.execute(query.execution_options(yield_per=_BATCH)).mappings()
        for row in rows:
            reason = None
            if row["blocklisted"]:
                reason = "blocklisted"
            elif row["email_opt_out"]:
                reason = "opted out of email"
            elif not row["email"]:
                reason = "no email address"
            with engine.begin() as connection:
                if reason is not None:
                    log_message(
                        connection,
                        delivery=name,
                        channel="email",
                        profile_id=row["id"],
                        address=row["email"] or "",
                        status="skipped",
                        reason=reason,
                    )
                    report.note("skipped", reason)
                    continue
                try:
                    message = compose_email(
                        template,
                        profile_context(row),
                        to=row["email"],
                        sender=settings.mail_from,
                        profile_id=row["id"],
                        delivery_id=None,
                        signer=signer,
                        base_url=settings.tracking_base_url.rstrip("/"),
                    )
                    mailer.send(message)
                except (SendFailed, InvalidInput) as exc:
                    log_message(
                        connection,
                        delivery=name,
                        channel="email",
                        profile_id=row["id"],
                        address=row["email"],
                        status="failed",
                        reason=str(exc),
                    )
                    report.note("failed", str(exc))
                    continue
                log_message(
                    connection,
                    delivery=name,
                    channel="email",
                    profile_id=row["id"],
                    address=row["email"],
                    status="sent",
                )
                report.note("sent")
    return report
