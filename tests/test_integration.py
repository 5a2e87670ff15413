"""Both systems end to end, over folders and over S3 (a moto server on loopback).

Campaign profiles with emails and visitor links; ID syncs, traits and a segment
in the people service; publish; import into campaign; then share a campaign
audience back through the partner API, export, ingest, and check the segment.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from audiencehub.campaign import UpsertKey, get_profile, import_profiles
from audiencehub.campaign.audiences import get_audience, list_members
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import shared_data_sources, visitor_links
from audiencehub.campaign.sharing.data_sources import (
    DEFAULT_SOURCE,
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
)
from audiencehub.campaign.sharing.export_job import run_export, share_audience
from audiencehub.campaign.sharing.import_job import run_import
from audiencehub.campaign.sharing.people_link import people_client, set_people_link
from audiencehub.campaign.sharing.shared_audiences import create_shared_audience
from audiencehub.drops import open_drop
from audiencehub.identity import HashScheme, IdKind, hash_id
from audiencehub.people.clients import register_client
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.destinations import add_destination
from audiencehub.people.ingest import ingest
from audiencehub.people.publication import publish
from audiencehub.people.segments import add_segment, get_segment
from audiencehub.people.traits import add_trait
from audiencehub.people.web.app import create_people_app
from tests.helpers import an_admin, drop_urls

EMAILS = {
    "C1": "jo@example.com",
    "C2": "al@example.com",
    "C3": "bo@example.com",
    "C4": "cy@example.com",
}


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_import_then_share_back(workspace, tmp_path, kind, request):
    """Exactly the expected profiles arrive, and exactly they go back into the new segment."""
    export_url, import_url, endpoint = drop_urls(kind, tmp_path, request)
    vault = KeyVault(workspace.path)

    # campaign: four profiles; C4 clicked a tracked link (a visitor link)
    data = tmp_path / "profiles.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows([["crm_id", "email"], *EMAILS.items()])
    import_profiles(workspace.campaign, data, key=UpsertKey.CRM_ID)
    with workspace.campaign.begin() as connection:
        c4 = get_profile(connection, "C4")["id"]
        connection.execute(
            insert(visitor_links),
            {"visitor_id": "4" * 38, "profile_id": c4, "linked_at": datetime.now(UTC)},
        )

    # people: hashed-email CRM source, a visitor source, a segment over both
    people = TestClient(create_people_app(workspace.people))
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_data_source(connection, dpid=7002, name="Web", inbound_id_type=InboundIdType.VISITOR)
        add_trait(connection, trait_id=101, name="Shoes", data_source_id=7001)
        add_trait(connection, trait_id=201, name="Shoes (web)", data_source_id=7002)
        add_segment(connection, segment_id=900, name="Shoe lovers", rule="T101")
        add_segment(connection, segment_id=901, name="Web shoe lovers", rule="T201")
        add_destination(
            connection,
            destination_id=46390,
            name="Campaign (declared)",
            drop_url=import_url,
            id_type="declared",
            data_source_id=7001,
            segment_ids=[900],
        )
        add_destination(
            connection,
            destination_id=46391,
            name="Campaign (visitor)",
            drop_url=import_url,
            id_type="visitor",
            segment_ids=[901],
        )
        client_id, secret = register_client(connection, "campaign")
    assert people.get("/id?d_mid=" + "4" * 38).status_code == 200
    inbound = open_drop(export_url, endpoint_url=endpoint)
    aam = {crm: hash_id(email, HashScheme.AAM, IdKind.EMAIL) for crm, email in EMAILS.items()}
    body = "".join(f"{aam[c]}\td_sid=101\n" for c in ("C1", "C2")) + "stranger\td_sid=101\n"
    body += f"{'4' * 38}\td_sid=201\n"
    with inbound.open_write("ftp_dpm_7001_1764300000.sync") as sink:
        sink.write(body.encode())
    ingest(workspace.people, inbound)  # the 7001 file; visitor traits come through 7002 below
    with inbound.open_write("ftp_dpm_7002_1764300001.sync") as sink:
        sink.write(f"{'4' * 38}\td_sid=201\n".encode())
    ingest(workspace.people, inbound)
    publish(workspace.people, 46390, endpoint_url=endpoint, now_ms=1764300000000)
    publish(workspace.people, 46391, endpoint_url=endpoint, now_ms=1764300000001)

    # campaign: import both destinations
    with workspace.campaign.begin() as connection:
        crm = add_shared_data_source(
            connection,
            vault,
            label="CRM",
            key=ReconciliationKey.EMAIL,
            hashing=HashScheme.AAM,
            alias_dpid=7001,
            destination_id=46390,
        )
        accept_terms(connection, crm["id"], an_admin(connection))
        connection.execute(
            shared_data_sources.update()
            .where(shared_data_sources.c.id == DEFAULT_SOURCE)
            .values(destination_id=46391, alias_dpid=7002)
        )
        accept_terms(connection, DEFAULT_SOURCE, an_admin(connection))
        create_shared_audience(
            connection, name="Shoe lovers", segment_id=900, data_source_id=crm["id"]
        )
        create_shared_audience(
            connection, name="Web", segment_id=901, data_source_id=DEFAULT_SOURCE
        )
    run = run_import(workspace.campaign, vault, open_drop(import_url, endpoint_url=endpoint))
    assert run.waiting == [] and run.refused == []
    with workspace.campaign.connect() as connection:
        shoe = get_audience(connection, "Shoe lovers")
        crm_ids = {
            get_profile(connection, str(m["profile_id"]))["crm_id"]
            for m in list_members(connection, "Shoe lovers")
        }
        web = [m["profile_id"] for m in list_members(connection, "Web")]
    assert crm_ids == {"C1", "C2"}
    assert {
        k: shoe["last_report"][k]
        for k in ("rows_read", "matched", "unmatched", "invalid_ids", "added")
    } == {"rows_read": 3, "matched": 2, "unmatched": 0, "invalid_ids": 1, "added": 2}
    assert web == [c4]

    # share "Shoe lovers" back as a new shared audience, created through the partner API
    with workspace.campaign.begin() as connection:
        set_people_link(
            connection,
            vault,
            people_url="http://people.test",
            client_id=client_id,
            client_secret=secret,
            org_id="ABC@AdobeOrg",
        )
        shared = share_audience(
            connection,
            source_audience="Shoe lovers",
            shared_audience="Campaign buyers",
            data_source_id=crm["id"],
            client=lambda: people_client(connection, vault, http=people),
        )
        again = share_audience(  # the name is found through the API, not created twice
            connection,
            source_audience="Shoe lovers",
            shared_audience="Campaign buyers",
            data_source_id=crm["id"],
            client=lambda: people_client(connection, vault, http=people),
        )
    assert again["segment_id"] == shared["segment_id"]
    export = run_export(workspace.campaign, vault, inbound, now=1764300100)
    assert export.shares == [
        {"segment_id": shared["segment_id"], "sent": 2, "no_id": 0, "excluded": 0}
    ]
    [written] = export.files
    with inbound.open_read(written) as handle:
        header = handle.read(10)
    assert header[3] == 0  # streamed gzip: no file name (a local path) in the header
    [receipt] = ingest(workspace.people, inbound).receipts
    assert (receipt.status, receipt.stored_records) == ("applied", 2)
    with workspace.people.connect() as connection:
        assert get_segment(connection, shared["segment_id"])["size"] == 2
    # sharing again sends only new records: none
    assert run_export(workspace.campaign, vault, inbound, now=1764300200).files == []
