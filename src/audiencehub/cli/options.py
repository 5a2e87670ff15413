"""Options several commands share, and the services a command works with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audiencehub.campaign.services import CampaignServices
from audiencehub.workspace import open_workspace

__all__ = ["JsonOption", "WorkspaceOption", "campaign_services"]

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $AUDIENCEHUB_WORKSPACE, else the current folder).",
        file_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def campaign_services(workspace: Path | None) -> CampaignServices:
    """Campaign's services for the workspace a command names (or finds)."""
    return CampaignServices.of(open_workspace(workspace))
