"""Campaign's sharing commands: accounts, shared data sources, audiences, jobs, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from audiencehub.campaign.audiences import get_audience, list_members
from audiencehub.campaign.sharing.accounts import (
    Account,
    check_account,
    get_account,
    set_account,
)
from audiencehub.campaign.sharing.audit import list_audit
from audiencehub.campaign.sharing.data_sources import (
    Channel,
    Encryption,
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
    list_shared_data_sources,
)
from audiencehub.campaign.sharing.export_job import ExportRun, share_audience
from audiencehub.campaign.sharing.jobs import (
    CampaignJob,
    due_campaign_jobs,
    job_history,
    run_campaign_job,
)
from audiencehub.campaign.sharing.people_link import set_people_link
from audiencehub.campaign.sharing.shared_audiences import create_shared_audience
from audiencehub.campaign.users import get_user
from audiencehub.cli.options import JsonOption, WorkspaceOption, campaign_services
from audiencehub.cli.output import console, print_json, print_or_json, print_table, print_value
from audiencehub.db.audit_trail import change_summary
from audiencehub.errors import InvalidInput
from audiencehub.identity import HashScheme
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import open_workspace

__all__ = [
    "accounts_app",
    "audiences_app",
    "audit_command",
    "connection_app",
    "datasources_app",
    "jobs_app",
]

accounts_app = typer.Typer(help="External accounts: the drop locations shared files go through.")
datasources_app = typer.Typer(help="Campaign's shared data sources.")
audiences_app = typer.Typer(help="Audiences, shared ones included.")
jobs_app = typer.Typer(help="Campaign's technical jobs.")


@accounts_app.command("set")
def accounts_set(
    name: Annotated[Account, typer.Argument(help="importSharedAudience or exportSharedAudience.")],
    folder: Annotated[Path | None, typer.Option(help="A local folder.")] = None,
    s3: Annotated[str | None, typer.Option(help="s3://BUCKET/PREFIX.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="S3-compatible endpoint URL.")] = None,
    region: Annotated[str | None, typer.Option(help="S3 region.")] = None,
    sse: Annotated[bool, typer.Option(help="Server-side encryption.")] = False,
    access_key_id: Annotated[
        str | None, typer.Option(help="S3 access key id (default: the AWS environment's).")
    ] = None,
    secret_access_key: Annotated[
        str | None,
        typer.Option(
            envvar="AUDIENCEHUB_S3_SECRET_ACCESS_KEY",
            show_envvar=True,
            help="Its secret (stored sealed, never shown); better given by the variable.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Point an external account at a folder or an S3 prefix."""
    if (folder is None) == (s3 is None):
        raise InvalidInput("give exactly one of --folder and --s3")
    if s3 is not None and not s3.startswith("s3://"):
        raise InvalidInput(f"{s3!r} is not an s3:// URL", hint="Write s3://BUCKET/PREFIX.")
    url = s3 or str(Path(folder or ".").resolve())
    services = campaign_services(workspace)
    with services.engine.begin() as connection:
        set_account(
            connection,
            services.vault,
            name,
            url,
            endpoint_url=endpoint_url,
            region=region,
            server_side_encryption=sse,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )
    console.print(f"{name} -> {url}")


@accounts_app.command("show")
def accounts_show(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Show both accounts; a stored secret is never shown, only where credentials come from."""
    ws = open_workspace(workspace)
    with ws.campaign.connect() as connection:
        accounts = [get_account(connection, name, ws.path) for name in Account]
    print_or_json(accounts, "Accounts", as_json=as_json)


@accounts_app.command("test")
def accounts_test(
    name: Annotated[Account, typer.Argument(help="The account to test.")],
    workspace: WorkspaceOption = None,
) -> None:
    """List the account's location, or say precisely what is wrong."""
    services = campaign_services(workspace)
    with services.engine.connect() as connection:
        keys = check_account(connection, services.vault, name, services.path)
    console.print(f"{name}: reachable, {len(keys)} object(s)")
    for key in keys[:20]:
        console.print(f"  {key}")


@datasources_app.command("add")
def datasources_add(
    label: Annotated[str, typer.Option(help="Display name.")],
    reconciliation: Annotated[str, typer.Option(help="declared (visitor is defaultDataSource).")],
    key: Annotated[ReconciliationKey, typer.Option(help="Profile field compared.")],
    hashing: Annotated[HashScheme | None, typer.Option(help="Hashing scheme.")] = None,
    encryption: Annotated[Encryption | None, typer.Option(help="Encryption algorithm.")] = None,
    enc_key: Annotated[
        str | None, typer.Option(envvar="AUDIENCEHUB_ENC_KEY", help="Key, hex (stored sealed).")
    ] = None,
    enc_iv: Annotated[
        str | None, typer.Option(envvar="AUDIENCEHUB_ENC_IV", help="AES-CBC IV, hex.")
    ] = None,
    enc_key_env: Annotated[
        str | None,
        typer.Option(help="Read the key from this environment variable at each use (not stored)."),
    ] = None,
    enc_iv_env: Annotated[
        str | None, typer.Option(help="Read the AES-CBC IV from this environment variable.")
    ] = None,
    channel: Annotated[Channel | None, typer.Option(help="email, sms or other.")] = None,
    priority: Annotated[int, typer.Option(help="Higher first.")] = 0,
    alias: Annotated[int | None, typer.Option(help="People-service data source (DPID).")] = None,
    destination_id: Annotated[
        int | None, typer.Option(help="People-service destination id.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a declared-ID data source and print its id (AMCDS<n>)."""
    if reconciliation != "declared":
        raise InvalidInput(
            "only declared-ID sources can be added",
            hint="Visitor IDs reconcile through the built-in defaultDataSource.",
        )
    services = campaign_services(workspace)
    with services.engine.begin() as connection:
        source = add_shared_data_source(
            connection,
            services.vault,
            label=label,
            key=key,
            hashing=hashing,
            encryption=encryption,
            enc_key=enc_key,
            enc_iv=enc_iv,
            enc_key_env=enc_key_env,
            enc_iv_env=enc_iv_env,
            channel=channel,
            priority=priority,
            alias_dpid=alias,
            destination_id=destination_id,
        )
    print_value(source["id"])


@datasources_app.command("list")
def datasources_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List shared data sources (keys are never shown)."""
    with open_workspace(workspace).campaign.connect() as connection:
        rows = list_shared_data_sources(connection)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "label", "key", "hashing", "encryption", "destination", "terms accepted")
    for row in rows:
        table.add_row(
            *(
                str(row[c] or "")
                for c in (
                    "id",
                    "label",
                    "reconciliation_key",
                    "hashing",
                    "encryption",
                    "destination_id",
                    "terms_accepted_by",
                )
            )
        )
    console.print(table)


@datasources_app.command("accept-terms")
def datasources_accept_terms(
    source_id: Annotated[str, typer.Argument(help="defaultDataSource or AMCDS<n>.")],
    user: Annotated[
        str,
        typer.Option(
            "--user",
            envvar="AUDIENCEHUB_USER",
            help="The admin accepting them, by user name (recorded with the time).",
        ),
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Accept the data-use terms of a data source, as a named admin."""
    with open_workspace(workspace).campaign.begin() as connection:
        source = accept_terms(connection, source_id, get_user(connection, user))
    console.print(f"Terms of {source_id} accepted by {source['terms_accepted_by']}")


@audiences_app.command("import-shared")
def audiences_import_shared(
    segment: Annotated[int, typer.Option(help="People-service segment id.")],
    datasource: Annotated[str, typer.Option(help="Shared data source id.")],
    name: Annotated[str, typer.Option(help="Audience name.")],
    force_profile: Annotated[bool, typer.Option(help="Keep only IDs that match a profile.")] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a shared audience; the importSharedAudience job fills it."""
    with open_workspace(workspace).campaign.begin() as connection:
        audience = create_shared_audience(
            connection,
            name=name,
            segment_id=segment,
            data_source_id=datasource,
            force_profile=force_profile,
        )
    console.print(f"Audience {audience['name']} ({audience['type']}) created")


@audiences_app.command("show")
def audiences_show(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an audience: type, size and the last import report."""
    with open_workspace(workspace).campaign.connect() as connection:
        audience = get_audience(connection, name)
    del as_json  # the audience is always printed as JSON; the flag keeps scripts explicit
    print_json({k: audience[k] for k in ("name", "type", "size", "last_report")})


@audiences_app.command("members")
def audiences_members(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the members as CSV (profile id and address), or as JSON."""
    with open_workspace(workspace).campaign.connect() as connection:
        members = list_members(connection, name)
    if as_json:
        print_json(members)
        return
    print_value("profile_id,address")
    for member in members:
        print_value(f"{member['profile_id'] or ''},{member['address'] or ''}")


connection_app = typer.Typer(help="The connection to the people service (OAuth2).")


@connection_app.command("set")
def connection_set(
    people_url: Annotated[str, typer.Option(help="The people service's base URL.")],
    client_id: Annotated[str, typer.Option(help="OAuth2 client id.")],
    client_secret: Annotated[
        str, typer.Option(envvar="AUDIENCEHUB_CLIENT_SECRET", help="OAuth2 client secret.")
    ],
    org_id: Annotated[str, typer.Option(help="Organisation id, e.g. ABC123@AdobeOrg.")],
    enabled: Annotated[
        bool, typer.Option(help="Enable (tracking switches to visitor IDs).")
    ] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Store the connection; the secret is sealed and never shown again."""
    services = campaign_services(workspace)
    with services.engine.begin() as connection:
        settings = set_people_link(
            connection,
            services.vault,
            people_url=people_url,
            client_id=client_id,
            client_secret=client_secret,
            org_id=org_id,
            enabled=enabled,
            demo=services.settings.demo,
        )
    console.print(
        f"Connection to {settings['people_url']} set ({'enabled' if enabled else 'disabled'})"
    )


@connection_app.command("test")
def connection_test(workspace: WorkspaceOption = None) -> None:
    """Obtain a token and list the shared audiences."""
    services = campaign_services(workspace)
    with services.engine.connect() as connection:
        audiences = services.people_client(connection).shared_audiences()
    console.print(f"Connected: {len(audiences)} shared audience(s)")
    for audience in audiences:
        console.print(f"  {audience['id']}: {audience['title']} ({audience['size']:,} IDs)")


@audiences_app.command("share")
def audiences_share(
    source: Annotated[str, typer.Argument(help="The campaign audience to share.")],
    shared_audience: Annotated[str, typer.Option(help="Segment name (created if new) or id.")],
    datasource: Annotated[str, typer.Option(help="Shared data source id.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Share an audience into a people-service segment; exportSharedAudience sends it."""
    services = campaign_services(workspace)
    with services.engine.begin() as connection:
        shared = share_audience(
            connection,
            source_audience=source,
            shared_audience=shared_audience,
            data_source_id=datasource,
            client=lambda: services.people_client(connection),
        )
    console.print(
        f"{source} is shared into segment {shared['segment_id']} through {datasource}; "
        "run `audiencehub jobs run exportSharedAudience` to send it"
    )


@jobs_app.command("run")
def jobs_run(
    job: Annotated[str, typer.Argument(help="importSharedAudience or exportSharedAudience.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a technical job now."""
    services = campaign_services(workspace)
    with collector_paused():
        run = run_campaign_job(
            services.engine, services.vault, services.path, CampaignJob.parse(job)
        )
    if as_json:
        print_json(vars(run))
        return
    if isinstance(run, ExportRun):
        for stats in run.shares:
            console.print(
                f"segment {stats['segment_id']}: {stats['sent']} sent, {stats['no_id']} "
                f"without an ID, {stats['excluded']} opted out or blocklisted"
            )
        for name in run.files:
            console.print(f"wrote {name}")
        return
    for report in run.reports:
        console.print(
            f"{report['audience']}: {report['rows_read']} rows, {report['matched']} matched, "
            f"{report['unmatched']} unmatched, {report['invalid_ids']} invalid, "
            f"+{report['added']} -{report['removed']} (match rate {report['match_rate']:.1%})"
        )
    for line in run.waiting:
        console.print(f"waiting: {line}")
    for line in run.refused:
        console.print(f"refused: {line}")


@jobs_app.command("history")
def jobs_history(
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Show which jobs are due and the last recorded runs, newest first."""
    engine = open_workspace(workspace).campaign
    due = due_campaign_jobs(engine)
    runs = [vars(run) for run in job_history(engine, limit)]
    if as_json:
        print_json({"due": list(due), "runs": runs})
        return
    console.print("due now: " + (", ".join(due) if due else "nothing"))
    print_table(runs, ["job", "started_at", "ended_at", "status"], "Recent runs")
    for run in runs:
        if run["status"] == "failed":
            console.print(f"  {run['started_at']:%Y-%m-%d %H:%M} {run['job']}: {run['summary']}")


def audit_command(
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(help="How many entries.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the audit trail, newest first: imports and exports, and who changed users,
    tokens, data sources, their terms, the accounts and the connection, and who signed in
    or was refused (each entry's facts in one line; whole with --json)."""
    with open_workspace(workspace).campaign.connect() as connection:
        entries = list_audit(connection, limit)
    rows = [
        {
            "at": e["at"],
            "actor": e["actor"],
            "action": e["action"],
            "data_source_id": e["data_source_id"],
            "facts": change_summary(e["details"]),
        }
        for e in entries
    ]
    print_or_json(entries if as_json else rows, "Audit trail", as_json=as_json)
