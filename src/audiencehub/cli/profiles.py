"""``audiencehub profiles``: import, count, show and key upkeep of campaign profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from audiencehub.campaign import (
    UpsertKey,
    add_key_schemes,
    count_profiles,
    get_profile,
    import_profiles,
    schemes_in_use,
)
from audiencehub.campaign.audiences import audience_id
from audiencehub.campaign.profiles.lookup import profile_page
from audiencehub.campaign.workflows.targeting import compile_filter
from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import (
    byte_progress,
    console,
    print_json,
    print_or_json,
    print_report,
    print_value,
)
from audiencehub.errors import InvalidInput
from audiencehub.identity import HashScheme
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import open_workspace

__all__ = ["app"]

app = typer.Typer(help="Campaign profiles.")


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise InvalidInput(
                f"--map {pair!r} is not COLUMN=FIELD",
                hint="Write --map 'E-mail=email', or --map COLUMN=- to skip a column.",
            )
        mapping[column.strip()] = target.strip()
    return mapping


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or TSV file, optionally .gz.", dir_okay=False)],
    key: Annotated[
        UpsertKey, typer.Option(help="Field that matches existing profiles.")
    ] = UpsertKey.EMAIL,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=FIELD (repeatable); FIELD '-' skips the column."),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="Field separator (default: from the extension, or sniffed).")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Country for national phone numbers when a row has none.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where to write rejected rows (default: workspace/rejects/)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Validation processes (default: one per core).")
    ] = None,
    resubscribe: Annotated[
        bool,
        typer.Option(
            "--resubscribe",
            help="Let the file's opt-out 'no' undo opt-outs people made through an unsubscribe "
            "link (only with their renewed consent).",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upsert profiles from FILE; bad rows go to a rejects file with their reasons."""
    ws = open_workspace(workspace)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rejects_path = rejects or ws.path / "rejects" / f"{file.name}.{stamp}.rejects.csv"
    with byte_progress() as progress, collector_paused():
        task = progress.add_task(file.name, total=None)
        report = import_profiles(
            ws.campaign,
            file,
            key=key,
            mapping=_parse_mapping(mapping or []),
            delimiter=delimiter,
            default_region=region or ws.settings.default_region,
            rejects_path=rejects_path,
            workers=workers,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            resubscribe=resubscribe,
        )
    if as_json:
        print_json(
            {
                "read": report.read,
                "inserted": report.inserted,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected,
                "kept_opt_outs": report.kept_opt_outs,
                "rejects_file": str(report.rejects_path) if report.rejects_path else None,
                "seconds": round(report.seconds, 3),
            }
        )
    else:
        print_report(report)


WhereOption = Annotated[
    str | None,
    typer.Option(help="A targeting filter, e.g. \"country = 'FR' AND NOT email_opt_out\"."),
]


@app.command("count")
def count_command(where: WhereOption = None, workspace: WorkspaceOption = None) -> None:
    """Print how many profiles the workspace holds (matching --where, if given)."""
    with open_workspace(workspace).campaign.connect() as connection:
        condition = (
            compile_filter(where, lambda name: audience_id(connection, name)) if where else None
        )
        print_value(count_profiles(connection, condition))


@app.command("list")
def list_command(
    where: WhereOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, by id.")] = 50,
    after: Annotated[int | None, typer.Option(help="Start after this profile id.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List profiles (matching --where, if given), by id, a page at a time."""
    with open_workspace(workspace).campaign.connect() as connection:
        condition = (
            compile_filter(where, lambda name: audience_id(connection, name)) if where else None
        )
        rows = profile_page(connection, condition, after, limit)
    print_or_json(rows, "Profiles", as_json=as_json)


@app.command("show")
def show_command(
    key: Annotated[str, typer.Argument(help="Email, CRM id or numeric id.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one profile with its reconciliation keys."""
    with open_workspace(workspace).campaign.connect() as connection:
        profile = get_profile(connection, key)
    if as_json:
        print_json(profile)
        return
    table = Table(show_header=False, title=f"Profile {profile['id']}")
    for name, value in profile.items():
        if name != "keys":
            table.add_row(name, "" if value is None else str(value))
    for entry in profile["keys"]:
        table.add_row(f"key {entry['kind']} ({entry['scheme']})", entry["hash"])
    console.print(table)


@app.command("rekey")
def rekey_command(
    schemes: Annotated[
        list[HashScheme], typer.Option("--scheme", help="Scheme to keep keys for (repeatable).")
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Start keeping reconciliation keys for more hashing schemes and backfill them."""
    with open_workspace(workspace).campaign.begin() as connection:
        written = add_key_schemes(connection, schemes)
        in_use = ", ".join(schemes_in_use(connection))
    console.print(f"{written:,} keys written; schemes in use: {in_use}")
