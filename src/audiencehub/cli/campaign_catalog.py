"""``audiencehub``: listing, showing, changing and deleting campaign's objects (audiences,
profiles, shared data sources, accounts, the connection, templates, schedules, deliveries).

The same core as the REST API: a delete that would orphan data is refused with
what refers to it, and secrets are never shown.
"""

from __future__ import annotations

import csv
import sys
from typing import Annotated

import typer

from audiencehub.campaign.audiences import (
    delete_audience,
    list_audiences,
    member_rows,
    rename_audience,
)
from audiencehub.campaign.messaging.reports import (
    delete_delivery,
    delivery_page,
    delivery_report,
)
from audiencehub.campaign.messaging.template_library import (
    delete_template,
    get_template,
    list_templates,
)
from audiencehub.campaign.profiles.editing import delete_profile, update_profile
from audiencehub.campaign.sharing.accounts import Account, reset_account
from audiencehub.campaign.sharing.data_sources import (
    delete_shared_data_source,
    get_shared_data_source,
    update_shared_data_source,
)
from audiencehub.campaign.sharing.people_link import delete_people_link, get_people_link
from audiencehub.campaign.workflows.runs import unschedule_workflow, workflow_run_page
from audiencehub.cli import profiles, workflows
from audiencehub.cli.messaging import deliveries_app, templates_app
from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import console, print_json, print_or_json
from audiencehub.cli.sharing import accounts_app, audiences_app, connection_app, datasources_app
from audiencehub.errors import InvalidInput
from audiencehub.workspace import open_workspace

__all__: list[str] = []  # commands register themselves on the apps they extend


@audiences_app.command("list")
def audiences_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List audiences with type, size, data source and last update."""
    with open_workspace(workspace).campaign.connect() as connection:
        rows = list_audiences(connection)
    print_or_json(rows, "Audiences", as_json=as_json)


@audiences_app.command("export")
def audiences_export(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    fields: Annotated[
        str, typer.Option(help="Profile fields beside the id, comma-separated.")
    ] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Write every member as CSV to standard output (profile id, address, chosen fields),
    streamed from the database."""
    chosen = [field.strip() for field in fields.split(",") if field.strip()]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    with open_workspace(workspace).campaign.connect() as connection:
        rows = member_rows(connection, name, chosen)
        first = next(rows, None)  # the audience and fields are checked before anything prints
        writer.writerow(["profile_id", "address", *chosen])
        if first is not None:
            writer.writerow(first)
            writer.writerows(rows)


@audiences_app.command("rename")
def audiences_rename(name: str, new_name: str, workspace: WorkspaceOption = None) -> None:
    """Rename an audience."""
    with open_workspace(workspace).campaign.begin() as connection:
        rename_audience(connection, name, new_name)
    console.print(f"Audience {name} is now {new_name}")


@audiences_app.command("delete")
def audiences_delete(name: str, workspace: WorkspaceOption = None) -> None:
    """Delete an audience and its membership (refused while it is shared)."""
    with open_workspace(workspace).campaign.begin() as connection:
        delete_audience(connection, name)
    console.print(f"Audience {name} deleted")


@profiles.app.command("update")
def profiles_update(
    profile_id: Annotated[int, typer.Argument(help="The profile's id.")],
    changes: Annotated[
        list[str], typer.Argument(help="FIELD=VALUE pairs; attributes as attributes.NAME=VALUE.")
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Change fields of one profile, checked as an import checks them; a new email or phone
    re-computes its reconciliation keys."""
    values: dict[str, object] = {}
    attributes: dict[str, object] = {}
    for change in changes:
        field, equals, value = change.partition("=")
        if not equals:
            raise InvalidInput(f"{change!r} is not FIELD=VALUE", hint="Write e.g. country=FR.")
        if field.startswith("attributes."):
            attributes[field.removeprefix("attributes.")] = value or None
        else:
            values[field] = value
    if attributes:
        values["attributes"] = attributes
    with open_workspace(workspace).campaign.begin() as connection:
        update_profile(connection, profile_id, values)
    console.print(f"Profile {profile_id} updated")


@profiles.app.command("delete")
def profiles_delete(
    profile_id: Annotated[int, typer.Argument(help="The profile's id.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Erase one profile everywhere it is personal; delivery counts stay, anonymous."""
    with open_workspace(workspace).campaign.begin() as connection:
        delete_profile(connection, profile_id)
    console.print(f"Profile {profile_id} erased")


@datasources_app.command("show")
def datasources_show(
    source_id: str, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Show one shared data source (never its key)."""
    with open_workspace(workspace).campaign.connect() as connection:
        source = get_shared_data_source(connection, source_id)
    print_or_json(source, f"Data source {source_id}", as_json=as_json)


@datasources_app.command("update")
def datasources_update(
    source_id: str,
    label: Annotated[str | None, typer.Option(help="Display name.")] = None,
    priority: Annotated[int | None, typer.Option(help="Higher first.")] = None,
    destination_id: Annotated[int | None, typer.Option(help="People destination id.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Change a data source's label, priority or destination."""
    with open_workspace(workspace).campaign.begin() as connection:
        update_shared_data_source(
            connection, source_id, label=label, priority=priority, destination_id=destination_id
        )
    console.print(f"Data source {source_id} updated")


@datasources_app.command("delete")
def datasources_delete(source_id: str, workspace: WorkspaceOption = None) -> None:
    """Delete a data source no audience or share uses."""
    with open_workspace(workspace).campaign.begin() as connection:
        delete_shared_data_source(connection, source_id)
    console.print(f"Data source {source_id} deleted")


@accounts_app.command("reset")
def accounts_reset(name: Account, workspace: WorkspaceOption = None) -> None:
    """Forget an account's settings and secret: it points at its workspace folder again."""
    with open_workspace(workspace).campaign.begin() as connection:
        reset_account(connection, name)
    console.print(f"{name} reset")


@connection_app.command("show")
def connection_show(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Show the connection to the people service (never its secret)."""
    with open_workspace(workspace).campaign.connect() as connection:
        link = get_people_link(connection)
    print_or_json(link, "Connection", as_json=as_json)


@connection_app.command("delete")
def connection_delete(workspace: WorkspaceOption = None) -> None:
    """Forget the connection and its sealed secret."""
    with open_workspace(workspace).campaign.begin() as connection:
        delete_people_link(connection)
    console.print("Connection deleted")


@templates_app.command("list")
def templates_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List stored templates."""
    with open_workspace(workspace).campaign.connect() as connection:
        rows = list_templates(connection)
    print_or_json(
        [{"name": t["name"], "channel": t["channel"], "subject": t["subject"]} for t in rows]
        if not as_json
        else rows,
        "Templates",
        as_json=as_json,
    )


@templates_app.command("show")
def templates_show(
    name: str, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Show one template."""
    with open_workspace(workspace).campaign.connect() as connection:
        template = get_template(connection, name)
    print_or_json(template, f"Template {name}", as_json=as_json)


@templates_app.command("delete")
def templates_delete(name: str, workspace: WorkspaceOption = None) -> None:
    """Delete a template; what was sent with it stays logged."""
    with open_workspace(workspace).campaign.begin() as connection:
        delete_template(connection, name)
    console.print(f"Template {name} deleted")


@deliveries_app.command("list")
def deliveries_list(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List deliveries and triggered-message logs, newest first."""
    with open_workspace(workspace).campaign.connect() as connection:
        rows = delivery_page(connection, None, limit)
    print_or_json(rows, "Deliveries", as_json=as_json)


@deliveries_app.command("report")
def deliveries_report(
    delivery_id: int, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Sent, failed and skipped by reason; opens and clicks, unique and total, per link."""
    with open_workspace(workspace).campaign.connect() as connection:
        report = delivery_report(connection, delivery_id)
    if as_json:
        print_json(report)
        return
    summary = {k: v for k, v in report.items() if not isinstance(v, (dict, list))}
    print_or_json(summary, f"Delivery {delivery_id}: {report['delivery']['name']}", as_json=False)
    for kind in ("skipped_by_reason", "failed_by_reason"):
        for reason, count in report[kind].items():
            console.print(f"  {kind.split('_')[0]}: {count:,} x {reason}")
    if report["links"]:
        print_or_json(report["links"], "Clicks per link", as_json=False)


@deliveries_app.command("delete")
def deliveries_delete(delivery_id: int, workspace: WorkspaceOption = None) -> None:
    """Delete a delivery that sent nothing (a sent one stays as the record)."""
    with open_workspace(workspace).campaign.begin() as connection:
        delete_delivery(connection, delivery_id)
    console.print(f"Delivery {delivery_id} deleted")


@workflows.app.command("unschedule")
def workflows_unschedule(name: str, workspace: WorkspaceOption = None) -> None:
    """Stop running a workflow on its schedule; its runs stay recorded."""
    with open_workspace(workspace).campaign.begin() as connection:
        unschedule_workflow(connection, name)
    console.print(f"{name} unscheduled")


@workflows.app.command("runs")
def workflows_runs(
    name: Annotated[str | None, typer.Option(help="Only this workflow's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recorded runs with each activity's counts (see --json for the counts)."""
    with open_workspace(workspace).campaign.connect() as connection:
        rows = workflow_run_page(connection, None, limit, name)
    print_or_json(rows, "Workflow runs", as_json=as_json)
