"""The integration on demo data, both ways.

What `make serve` shows should be the product working end to end, not an empty
people service. People to campaign: the CRM sends hashed emails of a third of
the demo profiles (and some strangers) with a trait, the people service ingests
them, publishes its segment to campaign's import drop, and campaign reconciles
the batch to profiles. Campaign to people: a workflow shares the French
profiles into a segment made for it, the export job writes the inbound file and
the people service ingests it. It runs once: a workspace that has it is left as
it is, and the servers' schedulers keep both sides in step from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from audiencehub.campaign.audiences import get_audience
from audiencehub.campaign.schema import profiles
from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sharing.accounts import Account, get_account
from audiencehub.campaign.sharing.data_sources import (
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
)
from audiencehub.campaign.sharing.export_job import write_inbound_file
from audiencehub.campaign.sharing.jobs import CampaignJob, run_campaign_job
from audiencehub.campaign.sharing.people_link import PeopleClient
from audiencehub.campaign.sharing.shared_audiences import create_shared_audience
from audiencehub.campaign.users import Role, User, add_user, get_user
from audiencehub.campaign.workflows.document import parse_workflow
from audiencehub.campaign.workflows.runner import run_workflow
from audiencehub.drops import DropLocation, open_drop
from audiencehub.errors import InvalidInput, NotFound
from audiencehub.formats.inbound import format_inbound_row
from audiencehub.identity import HashScheme, IdKind, hash_id
from audiencehub.people.clients import register_client
from audiencehub.people.data_sources import InboundIdType, add_data_source, get_data_source
from audiencehub.people.destinations import add_destination
from audiencehub.people.ingest import ingest
from audiencehub.people.publication import publish
from audiencehub.people.segments import add_segment, get_segment
from audiencehub.people.shared_audiences import create_shared_segment
from audiencehub.people.traits import add_trait
from audiencehub.people.web.app import create_people_app
from audiencehub.runtime.app_client import app_client
from audiencehub.workspace import Workspace

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_SHARED_AUDIENCE",
    "DEMO_SHARED_BACK",
    "DEMO_USER",
    "SharingDemo",
    "demo_user",
    "seed_sharing",
]

DEMO_SHARED_AUDIENCE = "Shoe buyers"
DEMO_SHARED_BACK = 901  # the people segment campaign fills
_DPID, _TRAIT, _SEGMENT, _DESTINATION = 7001, 101, 900, 46390
_STRANGERS = 1_000  # hashed emails no demo profile has: they stay unmatched
_EVERY = 3  # one demo profile in three is a shoe buyer


@dataclass(frozen=True)
class SharingDemo:
    """What the demo shared: lines sent by the CRM, the imported audience's report, and
    the size of the people segment campaign shared back into."""

    sent: int
    report: dict[str, Any]
    shared_back: int


def _inbound_lines(workspace: Workspace) -> list[str]:
    with workspace.campaign.connect() as connection:
        emails = connection.execute(
            select(profiles.c.email).where(profiles.c.email.is_not(None)).order_by(profiles.c.id)
        ).scalars()
        lines = []
        for index, email in enumerate(emails):
            if index % _EVERY:
                continue
            try:
                lines.append(_line(email))
            except InvalidInput:
                continue
    return lines + [_line(f"stranger{i}@example.invalid") for i in range(_STRANGERS)]


def _line(email: str) -> str:
    """The CRM's line for a buyer: the aam hash of the email, realising the trait."""
    hashed = hash_id(email, HashScheme.AAM, IdKind.EMAIL)
    return format_inbound_row(hashed, sids=[_TRAIT]) + "\n"


def _people_in_process(workspace: Workspace) -> Callable[[], PeopleClient]:
    """Campaign's partner-API client of the demo's people service, the app called in process
    (the demo runs before any server does); it holds an API client of its own."""
    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "demo campaign")
    http = app_client(create_people_app(workspace.people))
    return lambda: PeopleClient(http, client_id, secret)


DEMO_USER = "demo"
DEMO_PASSWORD = "audiencehub-demo"  # noqa: S105 -- the demo workspace's published login


def demo_user(connection: Connection) -> User:
    """The demo workspace's admin, made on first need (its login is printed by the demo)."""
    try:
        return get_user(connection, DEMO_USER)
    except NotFound:
        return add_user(connection, DEMO_USER, DEMO_PASSWORD, Role.ADMIN)


def seed_sharing(workspace: Workspace, *, now: int = 1764300000) -> SharingDemo | None:
    """Set up both sides and run one publication and import; None when already done."""
    with workspace.people.connect() as connection:
        try:
            get_data_source(connection, _DPID)
        except NotFound:
            pass
        else:
            return None
    with workspace.campaign.connect() as connection:
        import_url = get_account(connection, Account.IMPORT, workspace.path)["url"]
    with workspace.people.begin() as connection:
        add_data_source(
            connection,
            dpid=_DPID,
            name="CRM (hashed emails)",
            inbound_id_type=InboundIdType.CUSTOMER,
        )
        add_trait(connection, trait_id=_TRAIT, name="Bought shoes", data_source_id=_DPID)
        add_segment(connection, segment_id=_SEGMENT, name=DEMO_SHARED_AUDIENCE, rule=f"T{_TRAIT}")
        add_destination(
            connection,
            destination_id=_DESTINATION,
            name="Campaign",
            drop_url=import_url,
            id_type="declared",
            data_source_id=_DPID,
            segment_ids=[_SEGMENT],
        )
    lines = _inbound_lines(workspace)
    inbound = open_drop(workspace.settings.people_inbound_drop)
    write_inbound_file(inbound, _DPID, now, lines)
    ingest(workspace.people, inbound)
    publish(workspace.people, _DESTINATION, now_ms=now * 1000, scratch=workspace.path)
    vault = CampaignServices.of(workspace).vault
    with workspace.campaign.begin() as connection:
        source = add_shared_data_source(
            connection,
            vault,
            label="CRM (hashed emails)",
            key=ReconciliationKey.EMAIL,
            hashing=HashScheme.AAM,
            alias_dpid=_DPID,
            destination_id=_DESTINATION,
        )
        accept_terms(connection, source["id"], demo_user(connection))
        create_shared_audience(
            connection,
            name=DEMO_SHARED_AUDIENCE,
            segment_id=_SEGMENT,
            data_source_id=source["id"],
        )
    run_campaign_job(workspace.campaign, vault, workspace.path, CampaignJob.IMPORT)
    with workspace.campaign.connect() as connection:
        report = dict(get_audience(connection, DEMO_SHARED_AUDIENCE)["last_report"] or {})
    return SharingDemo(len(lines), report, _share_back(workspace, source["id"], inbound))


def _share_back(workspace: Workspace, source_id: str, inbound: DropLocation) -> int:
    """A workflow shares the French profiles into a segment made for them; the export
    job sends them and the people service ingests them. Returns the segment's size."""
    with workspace.people.begin() as connection:
        create_shared_segment(
            connection,
            name="French profiles (from campaign)",
            data_source_id=_DPID,
            segment_id=DEMO_SHARED_BACK,
        )
    workflow = {
        "name": "Share the French profiles",
        "activities": [
            {"id": "french", "type": "query", "filter": "country = 'FR'"},
            {
                "id": "share",
                "type": "save_audience",
                "input": "french",
                "mode": "share",
                "shared_audience": str(DEMO_SHARED_BACK),
                "datasource": source_id,
            },
        ],
    }
    run_workflow(workspace.campaign, parse_workflow(workflow), client=_people_in_process(workspace))
    run_campaign_job(
        workspace.campaign, CampaignServices.of(workspace).vault, workspace.path, CampaignJob.EXPORT
    )
    ingest(workspace.people, inbound)
    with workspace.people.connect() as connection:
        return int(get_segment(connection, DEMO_SHARED_BACK)["size"])
