"""``audiencehub people``: the people service's data sources, traits, segments, jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Connection

from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import console, print_json, print_or_json, print_records, print_table
from audiencehub.drops import open_drop
from audiencehub.errors import InvalidInput
from audiencehub.people.clients import ClientRole, register_client
from audiencehub.people.data_sources import (
    ExportControl,
    IdType,
    InboundIdType,
    add_data_source,
    get_data_source,
    list_data_sources,
)
from audiencehub.people.destinations import add_destination, destination_ids
from audiencehub.people.graph import apply_retention, opt_out
from audiencehub.people.ingest import ingest
from audiencehub.people.jobs import PeopleJob, due_jobs, job_history, run_job
from audiencehub.people.lake import compact, history
from audiencehub.people.materialise import ids_at, materialise, segment_at
from audiencehub.people.pgp_keys import PgpKeys
from audiencehub.people.publication import publish
from audiencehub.people.segment_sizes import HISTORY_DAYS, size_history, trend_start
from audiencehub.people.segments import (
    MergeRule,
    add_segment,
    get_segment,
    list_segments,
    refresh_segment,
)
from audiencehub.people.traits import add_trait, list_traits, parse_trait_rule
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import open_workspace

__all__ = [
    "app",
    "clients_app",
    "datasources_app",
    "destinations_app",
    "lake_app",
    "segments_app",
    "traits_app",
]

app = typer.Typer(help="The people service (audience manager).")
datasources_app = typer.Typer(help="People-service data sources.")
traits_app = typer.Typer(help="Traits: onboarded and rule-based.")
segments_app = typer.Typer(help="Segments: rules over traits.")
destinations_app = typer.Typer(help="Destinations that segments are published to.")
lake_app = typer.Typer(help="The people lake: the bulk state's history and upkeep.")
app.add_typer(datasources_app, name="datasources")
app.add_typer(traits_app, name="traits")
app.add_typer(segments_app, name="segments")
app.add_typer(destinations_app, name="destinations")
app.add_typer(lake_app, name="lake")


def _print_rows(
    workspace: Path | None,
    fetch: Callable[[Connection], Sequence[Mapping[str, object]]],
    columns: list[str],
    title: str,
    as_json: bool,
) -> None:
    """Read rows from the people database and print them as JSON or a table."""
    with open_workspace(workspace).people.connect() as connection:
        rows = fetch(connection)
    if as_json:
        print_json(rows)
    else:
        print_table(rows, columns, title)


@datasources_app.command("add")
def datasources_add(
    dpid: Annotated[int, typer.Option("--id", help="Numeric id (DPID).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    inbound_id_type: Annotated[InboundIdType, typer.Option(help="What inbound user IDs are.")],
    integration_code: Annotated[str | None, typer.Option(help="Integration code.")] = None,
    id_type: Annotated[IdType, typer.Option(help="Kind of ID held.")] = IdType.CROSS_DEVICE,
    authenticated_profile: Annotated[
        bool, typer.Option(help="Use as an authenticated profile.")
    ] = False,
    share: Annotated[bool, typer.Option(help="Share enabled.")] = True,
    export_control: Annotated[
        list[ExportControl] | None, typer.Option(help="Data export control (repeatable).")
    ] = None,
    retention_days: Annotated[int, typer.Option(help="Retention of inactive customer IDs.")] = 720,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a data source."""
    with open_workspace(workspace).people.begin() as connection:
        source = add_data_source(
            connection,
            dpid=dpid,
            name=name,
            inbound_id_type=inbound_id_type,
            integration_code=integration_code,
            id_type=id_type,
            authenticated_profile=authenticated_profile,
            share_enabled=share,
            export_controls=export_control or [],
            retention_days=retention_days,
        )
    console.print(f"Data source {source['id']} ({source['name']}) created")


@datasources_app.command("pgp-key")
def datasources_pgp_key(
    dpid: int,
    generate: Annotated[
        str | None, typer.Option(help="Make a key pair with this user ID, e.g. 'CRM <crm@x>'.")
    ] = None,
    import_file: Annotated[
        Path | None, typer.Option("--import", help="Keep this ASCII-armored private key.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Set or show the PGP key partners encrypt this data source's inbound files to.

    Prints the public key only; the private key stays in the workspace, owner-only.
    """
    ws = open_workspace(workspace)
    with ws.people.connect() as connection:
        get_data_source(connection, dpid)
    keys = PgpKeys.of(ws.path)
    if generate is not None and import_file is not None:
        raise InvalidInput("give --generate or --import, not both")
    if generate is not None:
        public = keys.generate(dpid, generate)
    elif import_file is not None:
        public = keys.store(dpid, import_file.read_bytes())
    else:
        public = keys.public(dpid)
    typer.echo(public, nl=False)


@datasources_app.command("list")
def datasources_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List data sources."""
    _print_rows(
        workspace,
        list_data_sources,
        ["id", "name", "integration_code", "inbound_id_type", "export_controls"],
        "Data sources",
        as_json,
    )


@datasources_app.command("show")
def datasources_show(
    dpid: int, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Show one data source."""
    with open_workspace(workspace).people.connect() as connection:
        source = get_data_source(connection, dpid)
    print_or_json(source, f"Data source {dpid}", as_json=as_json)


@traits_app.command("add")
def traits_add(
    trait_id: Annotated[int, typer.Option("--id", help="Trait id (T<id> in rules).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    datasource: Annotated[int, typer.Option(help="Data source (DPID).")],
    integration_code: Annotated[str | None, typer.Option(help="Integration code.")] = None,
    rule: Annotated[
        str | None, typer.Option(help="Rule trait: key=value[,key=value] that must all hold.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a trait."""
    with open_workspace(workspace).people.begin() as connection:
        add_trait(
            connection,
            trait_id=trait_id,
            name=name,
            data_source_id=datasource,
            integration_code=integration_code,
            rule=parse_trait_rule(rule) if rule else None,
        )
    console.print(f"Trait T{trait_id} ({name}) created")


@traits_app.command("list")
def traits_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List traits."""
    columns = ["id", "name", "data_source_id", "integration_code", "rule"]
    _print_rows(workspace, list_traits, columns, "Traits", as_json)


@segments_app.command("add")
def segments_add(
    segment_id: Annotated[int, typer.Option("--id", help="Segment id.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    rule: Annotated[str, typer.Option(help="Rule, e.g. 'T101 AND NOT T103'.")],
    merge_rule: Annotated[MergeRule, typer.Option(help="Merge rule.")] = MergeRule.DEVICE,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a segment."""
    engine = open_workspace(workspace).people
    with engine.begin() as connection:
        add_segment(connection, segment_id=segment_id, name=name, rule=rule, merge_rule=merge_rule)
    segment = refresh_segment(engine, segment_id)
    console.print(f"Segment {segment['id']} ({segment['name']}) created, {segment['size']:,} IDs")


@segments_app.command("list")
def segments_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List segments with their sizes."""
    columns = ["id", "name", "rule", "merge_rule", "size"]
    _print_rows(workspace, list_segments, columns, "Segments", as_json)


@segments_app.command("show")
def segments_show(
    segment_id: int,
    at: Annotated[
        datetime | None,
        typer.Option(
            help="What the segment held then (a date or an ISO time, UTC): its last "
            "materialisation before it, read from the lake's history.",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
        ),
    ] = None,
    members: Annotated[
        bool, typer.Option("--members", help="With --at: also print the IDs it held.")
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one segment and its size (now, or at a past moment for an audit)."""
    engine = open_workspace(workspace).people
    with engine.connect() as connection:
        segment = get_segment(connection, segment_id)
    if at is None:
        if as_json:
            print_json(segment)
        else:
            print_table(
                [segment], ["id", "name", "rule", "merge_rule", "size", "sized_at"], "Segment"
            )
        return
    held = segment_at(engine, segment_id, at)  # a date alone is its midnight, UTC
    if as_json:
        print_json({**vars(held), **({"members": list(ids_at(engine, held))} if members else {})})
        return
    print_table(
        [vars(held)], ["segment_id", "moment", "snapshot", "snapshot_time", "size"], "Segment then"
    )
    for external_id in ids_at(engine, held) if members else ():
        console.print(external_id, markup=False, highlight=False)


@segments_app.command("sizes")
def segments_sizes(
    segment_id: int,
    days: Annotated[
        int,
        typer.Option(min=1, max=HISTORY_DAYS, help="How many days back, today included."),
    ] = 30,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A segment's population trend: its size on each day it was materialised (UTC)."""
    with open_workspace(workspace).people.connect() as connection:
        segment = get_segment(connection, segment_id)
        rows = size_history(connection, segment_id, trend_start(days))
    print_or_json(rows, f"Segment {segment_id} ({segment['name']}) by day", as_json=as_json)


@segments_app.command("refresh")
def segments_refresh(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Materialise every segment now (ingest does after each run) and print the sizes."""
    sizes = materialise(open_workspace(workspace).people)
    rows = [{"segment_id": s, "size": n} for s, n in sizes.items()]
    print_or_json(rows, "Segments materialised", as_json=as_json)


@lake_app.command("history")
def lake_history(
    limit: Annotated[int, typer.Option(help="How many snapshots, newest first.")] = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """The people lake's latest snapshots: each ingest batch, materialisation, publication."""
    rows = [vars(s) for s in history(open_workspace(workspace).people, limit)]
    print_or_json(rows, "People lake snapshots", as_json=as_json)


@lake_app.command("compact")
def lake_compact(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Merge small files, expire old snapshots (lake_history_days) and delete unused files."""
    ws = open_workspace(workspace)
    done = compact(ws.people, ws.settings.lake_history_days)
    if as_json:
        print_json(vars(done))
        return
    console.print(
        f"{done.files_merged:,} files merged, {done.snapshots_expired:,} snapshots older than "
        f"{done.history_days} days expired, {done.files_deleted:,} unused files deleted, "
        f"{done.orphans_deleted:,} files no snapshot named deleted"
    )


@destinations_app.command("add")
def destinations_add(
    destination_id: Annotated[int, typer.Option("--id", help="Destination id (DID).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    drop: Annotated[str, typer.Option(help="Drop location: a folder or s3://BUCKET/PREFIX.")],
    id_type: Annotated[str, typer.Option(help="visitor or declared.")],
    segments: Annotated[str, typer.Option(help="Segment ids, comma-separated.")],
    datasource: Annotated[int | None, typer.Option(help="Data source of declared IDs.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Export label (repeatable).")] = None,
    split_rows: Annotated[int, typer.Option(help="Rows per outbound file.")] = 1_000_000,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a campaign destination."""
    ids = [int(part) for part in segments.split(",") if part.strip()]
    with open_workspace(workspace).people.begin() as connection:
        add_destination(
            connection,
            destination_id=destination_id,
            name=name,
            drop_url=drop,
            id_type=id_type,
            segment_ids=ids,
            data_source_id=datasource,
            export_labels=label or [],
            split_rows=split_rows,
        )
    console.print(f"Destination {destination_id} ({name}) created")


clients_app = typer.Typer(help="OAuth2 clients of the partner and administration APIs.")
app.add_typer(clients_app, name="clients")


@clients_app.command("add")
def clients_add(
    name: Annotated[str, typer.Option(help="Who the client is, e.g. campaign.")],
    role: Annotated[
        ClientRole,
        typer.Option(help="partner (shared audiences), viewer or admin (administration API)."),
    ] = ClientRole.PARTNER,
    workspace: WorkspaceOption = None,
) -> None:
    """Register an API client and print its id and secret (shown this once)."""
    with open_workspace(workspace).people.begin() as connection:
        client_id, secret = register_client(connection, name, role)
    console.print(f"client id:     {client_id}\nclient secret: {secret}")
    console.print("Store the secret now: it is kept only as a hash and cannot be shown again.")


jobs_app = typer.Typer(help="The people service's technical jobs.")
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("run")
def jobs_run(
    job: Annotated[PeopleJob, typer.Argument(help="ingest, publish, retention or compaction.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a job now, as the scheduler would (ingest reads the workspace's inbound drop)."""
    ws = open_workspace(workspace)
    with collector_paused():
        summary = run_job(
            ws.people,
            job,
            inbound_drop=ws.settings.people_inbound_drop,
            endpoint_url=ws.settings.s3_endpoint_url,
            keys=PgpKeys.of(ws.path),
            history_days=ws.settings.lake_history_days,
        )
    if as_json:
        print_json(summary)
    else:
        console.print(f"{job} finished")
        for key, value in summary.items():
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                print_records(value, key)
            elif isinstance(value, list):
                for item in value:
                    console.print(f"  {key}: {item}")
            else:
                console.print(f"  {key}: {value}")


@jobs_app.command("list")
def jobs_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Show which jobs are due, and the last runs."""
    ws = open_workspace(workspace)
    due = due_jobs(ws.people)
    runs = [vars(run) for run in job_history(ws.people)]
    if as_json:
        print_json({"due": [str(job) for job in due], "runs": runs})
        return
    console.print("due now: " + (", ".join(due) if due else "nothing"))
    print_table(runs, ["job", "started_at", "ended_at", "status"], "Recent runs")


@app.command("ingest")
def ingest_command(
    source: Annotated[
        str, typer.Option("--from", help="Drop location: a folder or s3://BUCKET/PREFIX.")
    ],
    endpoint_url: Annotated[str | None, typer.Option(help="S3-compatible endpoint URL.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Process every new inbound file in a drop location and print the receipts."""
    ws = open_workspace(workspace)
    with collector_paused():
        run = ingest(ws.people, open_drop(source, endpoint_url=endpoint_url), PgpKeys.of(ws.path))
    if as_json:
        print_json([vars(receipt) for receipt in run.receipts])
        return
    if not run.receipts and not run.unrecognised:
        console.print(f"No new batch in {source}.")
        return
    columns = [
        "batch",
        "status",
        "records_received",
        "format_errors",
        "invalid_ids",
        "no_matching_id",
        "no_trait_realized",
        "stored_records",
        "total_devices",
        "total_signals",
        "unused_signals",
        "realized_traits",
        "removed_traits",
        "traits_failed_validation",
    ]
    print_table([vars(r) for r in run.receipts], columns, "Ingest receipts")
    for receipt in run.receipts:
        for problem in receipt.problems:
            console.print(f"  {receipt.batch}: {problem}")
    for name in run.unrecognised:
        console.print(f"  not processed: {name}")


@app.command("publish")
def publish_command(
    destination: Annotated[int | None, typer.Option(help="One destination (default: all).")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Send a full batch even if one was sent.")
    ] = False,
    endpoint_url: Annotated[str | None, typer.Option(help="S3-compatible endpoint URL.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Publish the destinations' segments as outbound batches."""
    engine = open_workspace(workspace).people
    if destination is None:
        with engine.connect() as connection:
            targets = destination_ids(connection)
    else:
        targets = [destination]
    results = [
        vars(publish(engine, target, force_full=full, endpoint_url=endpoint_url))
        for target in targets
    ]
    if as_json:
        print_json(results)
    else:
        print_table(
            results, ["destination_id", "full", "batch", "rows", "added", "removed"], "Publications"
        )


@app.command("optout")
def optout_command(
    visitor_id: Annotated[str, typer.Argument(help="The visitor ID opting out.")],
    datasource: Annotated[int, typer.Option(help="Partner data source (0: everything).")] = 0,
    workspace: WorkspaceOption = None,
) -> None:
    """Opt a visitor ID out; published segments drop it at the next publication."""
    from audiencehub.identity import VisitorId

    VisitorId.parse(visitor_id)
    with open_workspace(workspace).people.begin() as connection:
        opt_out(connection, visitor_id, datasource)
    scope = "everything" if datasource == 0 else f"data source {datasource}"
    console.print(f"{visitor_id} opted out of {scope}")


@app.command("retention")
def retention_command(workspace: WorkspaceOption = None) -> None:
    """Forget customer IDs inactive for longer than their data source keeps them."""
    with open_workspace(workspace).people.begin() as connection:
        removed = apply_retention(connection)
    console.print(f"{removed:,} inactive customer IDs removed")
