"""``audiencehub serve`` and ``people serve``: the HTTP services, in one module."""

from __future__ import annotations

from typing import Annotated

import typer

from audiencehub.cli.options import WorkspaceOption
from audiencehub.cli.output import console
from audiencehub.cli.workspace import print_demo_logins
from audiencehub.runtime.demo_logins import read_demo_logins
from audiencehub.runtime.servers import serve, serve_people
from audiencehub.workspace import open_workspace

__all__ = ["serve_command", "serve_people_command"]

HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]


def serve_command(
    host: HostOption = "127.0.0.1",
    campaign_port: Annotated[int, typer.Option(help="Campaign app (tracking, triggers).")] = 8080,
    people_port: Annotated[int, typer.Option(help="People service app.")] = 8081,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve campaign and the people service together, with the scheduler of both."""
    ws = open_workspace(workspace)
    campaign_url, people_url = f"http://{host}:{campaign_port}", f"http://{host}:{people_port}"
    logins = read_demo_logins(ws) if ws.settings.demo else None

    def ready() -> None:
        console.print(f"campaign on {campaign_url}/, people service on {people_url}/")
        if logins is not None:
            print_demo_logins(logins, campaign_url, people_url)

    serve(ws, host=host, campaign_port=campaign_port, people_port=people_port, ready=ready)


def serve_people_command(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8081,
    scheduler: Annotated[bool, typer.Option(help="Run the job scheduler.")] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the people service: visitor ID service, OAuth2 token endpoint, partner API, jobs."""
    serve_people(open_workspace(workspace), host=host, port=port, scheduler=scheduler)
