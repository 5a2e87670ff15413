"""``audiencehub workflows``: validate and run targeting workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from audiencehub.campaign.workflows.document import load_workflow
from audiencehub.campaign.workflows.runner import run_workflow
from audiencehub.campaign.workflows.schedule import list_schedules, schedule_workflow
from audiencehub.cli.options import JsonOption, WorkspaceOption, campaign_services
from audiencehub.cli.output import console, err_console, print_json, print_or_json
from audiencehub.workspace import open_workspace

__all__ = ["app"]

app = typer.Typer(help="Targeting workflows.")
FileArgument = Annotated[Path, typer.Argument(help="Workflow file (YAML or JSON).", dir_okay=False)]


@app.command("validate")
def validate_command(file: FileArgument) -> None:
    """Report every problem of a workflow at once; exit 2 if there is any."""
    workflow = load_workflow(file)
    if workflow.problems:
        for problem in workflow.problems:
            err_console.print(f"- {problem}", markup=False)
        raise typer.Exit(2)
    console.print(f"{workflow.name}: {len(workflow.activities)} activities, no problems")


@app.command("run")
def run_command(
    file: FileArgument, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Run a workflow and print each activity's input and output counts."""
    workflow = load_workflow(file)
    services = campaign_services(workspace)
    result = run_workflow(
        services.engine,
        workflow,
        client=services.people_clients(),
        messaging=services.messaging,
    )
    if as_json:
        print_json(vars(result))
        return
    table = Table("activity", "inputs", "outputs", title=f"{result.name} (run {result.run_id})")
    for activity, counts in result.activities.items():
        table.add_row(
            activity,
            ", ".join(f"{k}: {v:,}" for k, v in counts["inputs"].items()),
            ", ".join(f"{k}: {v:,}" for k, v in counts["outputs"].items()),
        )
    console.print(table)


@app.command("schedule")
def schedule_command(file: FileArgument, workspace: WorkspaceOption = None) -> None:
    """Register a workflow with a scheduler activity; `audiencehub serve` runs it on time."""
    next_run = schedule_workflow(open_workspace(workspace).campaign, load_workflow(file))
    console.print(f"scheduled; next run at {next_run:%Y-%m-%d %H:%M %Z}")


@app.command("list")
def list_command(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List scheduled workflows with their cron and next run."""
    schedules = list_schedules(open_workspace(workspace).campaign)
    print_or_json(schedules, "Scheduled workflows", as_json=as_json)
