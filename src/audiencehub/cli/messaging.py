"""``audiencehub templates``, ``deliveries`` and ``serve``: messages and the HTTP services."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from audiencehub.campaign.audiences import audience_id
from audiencehub.campaign.messaging.delivery import EmailTemplate, mailer_for
from audiencehub.campaign.messaging.sending import send_email_delivery
from audiencehub.campaign.messaging.triggers import add_template
from audiencehub.campaign.schema import audience_members
from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import console, print_json
from audiencehub.workspace import open_workspace

__all__ = ["deliveries_app", "serve_command", "templates_app"]

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
    from audiencehub.campaign.key_vault import KeyVault
    from audiencehub.campaign.messaging.tracking import LinkSigner

    ws = open_workspace(workspace)
    template = EmailTemplate(
        subject, text.read_text(encoding="utf-8"), html.read_text(encoding="utf-8")
    )
    with ws.campaign.connect() as connection:
        target = audience_id(connection, audience)
    members = select(audience_members.c.profile_id).where(
        audience_members.c.audience_id == target, audience_members.c.profile_id.is_not(None)
    )
    mailer = mailer_for(ws.settings)
    try:
        report = send_email_delivery(
            ws.campaign,
            ws.settings,
            LinkSigner(KeyVault(ws.path).derive("tracking")),
            mailer,
            name=name,
            template=template,
            profile_ids=members,
        )
    finally:
        mailer.close()
    if as_json:
        print_json(vars(report))
    else:
        console.print(
            f"{name}: {report.sent} sent, {report.failed} failed, {report.skipped} skipped"
        )
        for reason, count in report.reasons.items():
            console.print(f"  {count} x {reason}")


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    campaign_port: Annotated[int, typer.Option(help="Campaign app (tracking, triggers).")] = 8080,
    people_port: Annotated[int, typer.Option(help="People service app.")] = 8081,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve campaign and the people service together, with the people job scheduler."""
    import uvicorn

    from audiencehub.runtime.servers import (
        build_campaign_server,
        build_people_server,
        tune_gc_for_serving,
    )

    ws = open_workspace(workspace)
    servers = [
        uvicorn.Server(uvicorn.Config(build_campaign_server(ws), host=host, port=campaign_port)),
        uvicorn.Server(uvicorn.Config(build_people_server(ws), host=host, port=people_port)),
    ]
    tune_gc_for_serving()
    console.print(
        f"campaign on http://{host}:{campaign_port}, people service on http://{host}:{people_port}"
    )

    async def run_both() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(run_both())
