"""``audiencehub init``, ``db upgrade`` and ``demo``: creating and running workspaces."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import byte_progress, console, print_facts, print_json, print_report
from audiencehub.people.lake import move_legacy_rows
from audiencehub.runtime.backup import back_up
from audiencehub.runtime.demo import run_demo
from audiencehub.runtime.demo_logins import DemoLogins
from audiencehub.runtime.demo_sharing import DEMO_SHARED_AUDIENCE, DEMO_SHARED_BACK
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import init_workspace, open_workspace

__all__ = ["db_app", "demo", "init", "print_demo_logins"]

db_app = typer.Typer(help="Database schema management and backups.")


def init(
    directory: Annotated[Path | None, typer.Argument(help="Folder (default: current).")] = None,
    campaign_db_url: Annotated[
        str | None, typer.Option(help="Campaign database URL (default: SQLite in the folder).")
    ] = None,
    people_db_url: Annotated[
        str | None, typer.Option(help="People database URL (default: SQLite in the folder).")
    ] = None,
    default_region: Annotated[
        str | None, typer.Option(help="Country used to read national phone numbers.")
    ] = None,
) -> None:
    """Create a workspace: its settings file and its migrated databases."""
    workspace = init_workspace(
        directory,
        campaign_db_url=campaign_db_url,
        people_db_url=people_db_url,
        default_region=default_region,
    )
    console.print(f"Workspace ready in {workspace.path}")


@db_app.command("upgrade")
def db_upgrade(workspace: WorkspaceOption = None) -> None:
    """Apply pending migrations to the campaign and people databases."""
    ws = open_workspace(workspace)
    revisions = ws.upgrade()
    for system, revision in revisions.items():
        console.print(f"{system} database at migration {revision}")
    for table in move_legacy_rows(ws.people):
        console.print(f"{table}: every row moved into the people lake")


@db_app.command("backup")
def db_backup(
    destination: Annotated[Path, typer.Argument(help="A new or empty folder for the copy.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy an embedded workspace consistently while its servers run, and check the copy.

    The lake's writers wait meanwhile; online writes do not. The copy is a workspace
    of its own (serve it with --workspace); it holds the master key: keep it as
    private as the workspace.
    """
    backup = back_up(open_workspace(workspace), destination)
    if as_json:
        print_json(asdict(backup))
        return
    print_facts(
        f"Backup in {backup.folder}",
        [
            ("databases", ", ".join(backup.databases)),
            ("files", ", ".join(backup.files)),
            ("lake files", f"{backup.lake_files:,} ({backup.lake_bytes:,} bytes)"),
            ("as hard links", f"{backup.linked:,}"),
            *(
                (f"lake {table}", f"{rows:,} rows read back")
                for table, rows in backup.checked.items()
            ),
            ("time", f"{backup.seconds:.1f} s"),
        ],
    )
    if backup.lake_data:
        console.print(
            f"The lake's data files stay at {backup.lake_data}: keep that store's versioning "
            "on, as the copy's catalog names them there."
        )


def demo(
    workspace: WorkspaceOption = None,
    count: Annotated[int, typer.Option(min=1, help="How many demo profiles.")] = 100_000,
) -> None:
    """Create a workspace and import generated demo profiles into it."""
    folder = workspace or Path("demo-workspace")
    console.print(f"Importing {count:,} demo profiles into {folder.resolve()} ...")
    with byte_progress() as progress, collector_paused():
        task = progress.add_task("profiles", total=None)
        result = run_demo(
            folder,
            count=count,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    print_report(result.report)
    if result.sharing is not None:
        report = result.sharing.report
        console.print(
            f"\nShared audience {DEMO_SHARED_AUDIENCE!r}: the people service published "
            f"{report.get('rows_read', 0):,} IDs, {report.get('matched', 0):,} matched demo "
            f"profiles (match rate {report.get('match_rate', 0):.0%})\n"
            f"People segment {DEMO_SHARED_BACK}: {result.sharing.shared_back:,} French profiles "
            "shared back by a campaign workflow"
        )
    print_demo_logins(result.logins)
    console.print(
        f"\nTry: audiencehub profiles count -w {folder}   |   "
        f"audiencehub profiles show CRM00000001 -w {folder}   |   "
        f"audiencehub audiences show {DEMO_SHARED_AUDIENCE!r} -w {folder}   |   "
        f"audiencehub people segments show {DEMO_SHARED_BACK} -w {folder}"
    )


def print_demo_logins(
    logins: DemoLogins,
    campaign_url: str = "http://127.0.0.1:8080",
    people_url: str = "http://127.0.0.1:8081",
) -> None:
    """Where to go and how to sign in, on a demo workspace."""
    console.print(
        f"\nCampaign:       {campaign_url}/  sign in as {logins['campaign_user']} / "
        f"{logins['campaign_password']} (an admin)\n"
        f"People service: {people_url}/  sign in with client id {logins['people_client_id']}"
        f" and secret {logins['people_client_secret']}\n"
        f"API:            {campaign_url}/api/docs, with Authorization: Bearer "
        f"{logins['api_token']}",
        markup=False,
    )
