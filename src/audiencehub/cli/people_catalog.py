"""``audiencehub people``: showing, changing and deleting what the people service holds
(data sources, traits, segments, destinations, API clients) and reading ingest receipts.

The same core as the administration API: a delete that would orphan data is
refused with what refers to it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import console, print_or_json
from audiencehub.cli.people import (
    app,
    clients_app,
    datasources_app,
    destinations_app,
    segments_app,
    traits_app,
)
from audiencehub.people.clients import list_clients, replace_secret, revoke_client
from audiencehub.people.data_sources import (
    ExportControl,
    delete_data_source,
    update_data_source,
)
from audiencehub.people.destinations import (
    delete_destination,
    get_destination,
    list_destinations,
    update_destination,
)
from audiencehub.people.receipts import receipt_page
from audiencehub.people.segments import (
    MergeRule,
    delete_segment,
    refresh_segment,
    update_segment,
)
from audiencehub.people.traits import delete_trait, get_trait, parse_trait_rule, update_trait
from audiencehub.workspace import open_workspace

__all__ = ["receipts_command"]

Name = Annotated[str | None, typer.Option(help="New name.")]


@datasources_app.command("update")
def datasources_update(
    dpid: int,
    name: Name = None,
    share: Annotated[bool | None, typer.Option("--share/--no-share", help="Sharing.")] = None,
    export_control: Annotated[
        list[ExportControl] | None,
        typer.Option(help="Export control (repeat); replaces the current ones."),
    ] = None,
    no_export_controls: Annotated[bool, typer.Option(help="Remove every control.")] = False,
    retention_days: Annotated[int | None, typer.Option(help="Retention, days.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Change a data source's name, sharing, export controls or retention."""
    controls = [] if no_export_controls else export_control
    with open_workspace(workspace).people.begin() as connection:
        update_data_source(
            connection,
            dpid,
            name=name,
            share_enabled=share,
            export_controls=controls,
            retention_days=retention_days,
        )
    console.print(f"Data source {dpid} updated")


@datasources_app.command("delete")
def datasources_delete(dpid: int, workspace: WorkspaceOption = None) -> None:
    """Delete a data source no trait, segment, destination or stored ID uses."""
    with open_workspace(workspace).people.begin() as connection:
        delete_data_source(connection, dpid)
    console.print(f"Data source {dpid} deleted")


@traits_app.command("show")
def traits_show(
    trait_id: int, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Show one trait."""
    with open_workspace(workspace).people.connect() as connection:
        trait = get_trait(connection, trait_id)
    print_or_json(trait, f"Trait {trait_id}", as_json=as_json)


@traits_app.command("update")
def traits_update(
    trait_id: int,
    name: Name = None,
    rule: Annotated[str | None, typer.Option(help="New rule, key=value[,key=value].")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Rename a trait or change its rule."""
    with open_workspace(workspace).people.begin() as connection:
        update_trait(connection, trait_id, name=name, rule=parse_trait_rule(rule) if rule else None)
    console.print(f"Trait {trait_id} updated")


@traits_app.command("delete")
def traits_delete(trait_id: int, workspace: WorkspaceOption = None) -> None:
    """Delete a trait no segment names, with its realisations."""
    with open_workspace(workspace).people.begin() as connection:
        delete_trait(connection, trait_id)
    console.print(f"Trait {trait_id} deleted")


@segments_app.command("update")
def segments_update(
    segment_id: int,
    name: Name = None,
    rule: Annotated[str | None, typer.Option(help="New rule, e.g. 'T101 AND NOT T103'.")] = None,
    merge_rule: Annotated[MergeRule | None, typer.Option(help="Merge rule.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Rename a segment or change its rule; the next publication sends the difference."""
    engine = open_workspace(workspace).people
    with engine.begin() as connection:
        segment = update_segment(
            connection, segment_id, name=name, rule=rule, merge_rule=merge_rule
        )
    if segment["sized_at"] is None:
        segment = refresh_segment(engine, segment_id)
    console.print(f"Segment {segment_id} updated ({segment['size']:,} IDs now)")


@segments_app.command("delete")
def segments_delete(segment_id: int, workspace: WorkspaceOption = None) -> None:
    """Delete a segment no destination publishes."""
    with open_workspace(workspace).people.begin() as connection:
        delete_segment(connection, segment_id)
    console.print(f"Segment {segment_id} deleted")


@destinations_app.command("list")
def destinations_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List destinations."""
    with open_workspace(workspace).people.connect() as connection:
        rows = list_destinations(connection)
    print_or_json(rows, "Destinations", as_json=as_json)


@destinations_app.command("show")
def destinations_show(
    destination_id: int, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Show one destination."""
    with open_workspace(workspace).people.connect() as connection:
        destination = get_destination(connection, destination_id)
    print_or_json(destination, f"Destination {destination_id}", as_json=as_json)


@destinations_app.command("update")
def destinations_update(
    destination_id: int,
    name: Name = None,
    segment: Annotated[
        list[int] | None, typer.Option(help="Segment id (repeat); replaces the current ones.")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option(help="Export label (repeat); replaces the current ones.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Change a destination's name, segments or labels (checked as at creation)."""
    with open_workspace(workspace).people.begin() as connection:
        update_destination(
            connection, destination_id, name=name, segment_ids=segment, export_labels=label
        )
    console.print(f"Destination {destination_id} updated")


@destinations_app.command("delete")
def destinations_delete(destination_id: int, workspace: WorkspaceOption = None) -> None:
    """Delete a destination and its published state (its files stay where they went)."""
    with open_workspace(workspace).people.begin() as connection:
        delete_destination(connection, destination_id)
    console.print(f"Destination {destination_id} deleted")


@clients_app.command("list")
def clients_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List API clients and their roles (never their secrets)."""
    with open_workspace(workspace).people.connect() as connection:
        rows = list_clients(connection)
    print_or_json(rows, "API clients", as_json=as_json)


@clients_app.command("rotate")
def clients_rotate(
    client_id: str,
    overlap_hours: Annotated[
        int,
        typer.Option(
            min=0,
            max=24 * 30,
            help="How long the previous secret keeps working beside the new one; 0 when "
            "it leaked (it stops at once, and so do the client's tokens and sessions).",
        ),
    ] = 24,
    workspace: WorkspaceOption = None,
) -> None:
    """Give a client a new secret (shown this once); the previous one keeps working for
    --overlap-hours, so the partner switches with no gap."""
    with open_workspace(workspace).people.begin() as connection:
        secret, until = replace_secret(
            connection, client_id, overlap=timedelta(hours=overlap_hours)
        )
    console.print(f"client id:     {client_id}\nclient secret: {secret}")
    console.print("Store the secret now: it is kept only as a hash and cannot be shown again.")
    if until is None:
        console.print("The previous secret, and every token issued with it, stopped working.")
    else:
        console.print(f"The previous secret works until {until:%Y-%m-%d %H:%M} UTC.")


@clients_app.command("revoke")
def clients_revoke(client_id: str, workspace: WorkspaceOption = None) -> None:
    """Revoke a client: its secret and every token it holds stop working."""
    with open_workspace(workspace).people.begin() as connection:
        revoke_client(connection, client_id)
    console.print(f"Client {client_id} revoked")


@app.command("receipts")
def receipts_command(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Processing receipts of ingested batches, with every counter (see --json)."""
    with open_workspace(workspace).people.connect() as connection:
        rows = receipt_page(connection, None, limit)
    if as_json:
        print_or_json(rows, "Receipts", as_json=True)
        return
    flat = [{"batch": r["batch"], "processed_at": r["processed_at"], **r["receipt"]} for r in rows]
    print_or_json(flat, "Receipts", as_json=False)
