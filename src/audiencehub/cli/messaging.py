"""``audiencehub templates`` and ``deliveries``: named templates and email deliveries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audiencehub.campaign.messaging.sending import send_to_audience
from audiencehub.campaign.messaging.templates import EmailTemplate
from audiencehub.campaign.messaging.triggers import add_template
from audiencehub.cli.options import JsonOption, WorkspaceOption, campaign_services
from audiencehub.cli.output import console, print_json
from audiencehub.workspace import open_workspace

__all__ = ["deliveries_app", "templates_app"]

templates_app = typer.Typer(help="Named message templates (for triggered messages).")
deliveries_app = typer.Typer(help="Email deliveries.")
TextFile = Annotated[Path, typer.Option(help="Template file.", exists=True, dir_okay=False)]


@templates_app.command("add")
def templates_add(
    name: Annotated[str, typer.Argument(help="Template name.")],
    channel: Annotated[str, typer.Option(help="email or sms.")],
    text: TextFile,
    subject: Annotated[str, typer.Option(help="Subject template (email).")] = "",
    html: Annotated[Path | None, typer.Option(help="HTML template file (email).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Store (or replace) a named template; it is checked now, not at send time."""
    add_template(
        open_workspace(workspace).campaign,
        name=name,
        channel=channel,
        subject=subject,
        text=text.read_text(encoding="utf-8"),
        html=html.read_text(encoding="utf-8") if html else "",
    )
    console.print(f"Template {name} ({channel}) stored")


@deliveries_app.command("send")
def deliveries_send(
    audience: Annotated[str, typer.Option(help="The audience to send to.")],
    name: Annotated[str, typer.Option(help="Delivery name, for the message log.")],
    subject: Annotated[str, typer.Option(help="Subject template.")],
    text: TextFile,
    html: TextFile,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send an email delivery to an audience (SMTP when configured, else the outbox)."""
    services = campaign_services(workspace)
    template = EmailTemplate(
        subject, text.read_text(encoding="utf-8"), html.read_text(encoding="utf-8")
    )
    report = send_to_audience(
        services.engine, services.messaging, audience=audience, name=name, template=template
    )
    if as_json:
        print_json(vars(report))
    else:
        console.print(
            f"{name}: {report.sent} sent, {report.failed} failed, {report.skipped} skipped"
        )
        for reason, count in report.reasons.items():
            console.print(f"  {count} x {reason}")
