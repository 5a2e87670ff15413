"""What the people service holds about one ID, for an access request or to see why it is
in a segment: the graph's record, links and opt-outs, the lake's traits, key-values,
memberships and publications; and its erasure. For admins only over the API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from audiencehub.drops import FolderDrop
from audiencehub.errors import NotFound
from audiencehub.identity.declared import AuthState
from audiencehub.people.audit_trail import id_digest, list_audit
from audiencehub.people.clients import ClientRole, issue_token, register_client
from audiencehub.people.destinations import add_destination
from audiencehub.people.graph import ensure_users, link, opt_out
from audiencehub.people.id_record import erase_id, id_record
from audiencehub.people.ingest import ingest
from audiencehub.people.lake import reading
from audiencehub.people.publication import publish
from audiencehub.people.segments import add_segment
from audiencehub.people.web.app import create_people_app
from tests.helpers import held_traits, write_inbound

VISITOR = "12345678901234567890123456789012345678"
PROBLEM = "application/problem+json"


@pytest.fixture
def held(people, tmp_path):
    """c1 of CRM source 7001: trait T101 and a key-value by ingest, in segment 900 and
    published to declared-ID destination 46390; a device linked to it, opted out of 7001."""
    with people.people.begin() as connection:
        add_segment(connection, segment_id=900, name="Shoes", rule="T101")
        add_destination(
            connection,
            destination_id=46390,
            name="Campaign",
            drop_url=str(tmp_path / "out"),
            id_type="declared",
            data_source_id=7001,
            segment_ids=[900],
        )
    drop = tmp_path / "in"
    write_inbound(
        drop, "ftp_dpm_7001_1764300000.sync", ['c1\td_sid=101,"product"="boots"', "c2\td_sid=102"]
    )
    ingest(people.people, FolderDrop(drop))
    publish(people.people, 46390)
    with people.people.begin() as connection:
        users = ensure_users(connection, 0, [VISITOR])
        customers = ensure_users(connection, 7001, ["c1"])
        link(
            connection, users[VISITOR], customers["c1"], AuthState.AUTHENTICATED, datetime.now(UTC)
        )
        opt_out(connection, VISITOR, 7001)
    return people


@pytest.fixture
def api(held):
    """The app, and a bearer header for an admin client and a viewer client."""
    headers = {}
    with held.people.begin() as connection:
        for role in (ClientRole.ADMIN, ClientRole.VIEWER):
            client_id, secret = register_client(connection, role.value, role)
            headers[role] = {
                "Authorization": f"Bearer {issue_token(connection, client_id, secret)[0]}"
            }
    http = TestClient(create_people_app(held.people))
    return http, headers


def test_the_record_of_a_customer_id_and_of_its_device(held):
    record = id_record(held.people, 7001, "c1", actor="tester")
    assert [(t["trait_id"], t["name"]) for t in record["traits"]] == [(101, "Shoes")]
    assert record["signals"] == {"product": ["boots"]}
    assert [(m["segment_id"], m["name"]) for m in record["segments"]] == [(900, "Shoes")]
    assert record["published"] == [{"destination_id": 46390, "segment_id": 900}]
    assert [(i["data_source_id"], i["external_id"]) for i in record["linked"]] == [(0, VISITOR)]
    assert record["opted_out_of"] == []
    device = id_record(held.people, 0, VISITOR, actor="tester")
    assert [(i["data_source_id"], i["external_id"]) for i in device["linked"]] == [(7001, "c1")]
    assert device["opted_out_of"] == [7001]
    assert device["traits"] == [] and device["published"] == []
    other = id_record(held.people, 7001, "c2", actor="tester")
    assert other["segments"] == [] and other["published"] == []  # T102 only
    with pytest.raises(NotFound, match="holds nothing"):
        id_record(held.people, 7002, "c1", actor="tester")  # the same text in another namespace


def test_over_the_api_for_admins_only(api):
    http, headers = api
    shown = http.get("/api/v1/ids/7001/c1", headers=headers[ClientRole.ADMIN])
    assert shown.status_code == 200, shown.text
    assert shown.json()["signals"] == {"product": ["boots"]}
    refused = http.get("/api/v1/ids/7001/c1", headers=headers[ClientRole.VIEWER])
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    missing = http.get("/api/v1/ids/7001/nobody", headers=headers[ClientRole.ADMIN])
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]


def test_an_erasure_deletes_everything_and_the_destination_loses_the_id_next(held):
    erased = erase_id(held.people, 7001, "c1", actor="tester")
    assert erased == {
        "data_source_id": 7001,
        "traits": 1,
        "signals": 1,
        "segments": 1,
        "links": 1,
        "destinations": [46390],
    }
    with pytest.raises(NotFound):
        id_record(held.people, 7001, "c1", actor="tester")
    assert held_traits(held.people, "c1") == set()
    assert (
        id_record(held.people, 0, VISITOR, actor="tester")["linked"] == []
    )  # the device stays, unlinked
    with reading(held.people) as session:
        [(members,)] = session.execute("SELECT count(*) FROM lake.memberships").fetchall()
        [(signals,)] = session.execute("SELECT count(*) FROM lake.signals").fetchall()
    assert (members, signals) == (0, 0)
    publication = publish(held.people, 46390)  # the destination is sent its removal
    assert (publication.added, publication.removed) == (0, 1)
    with reading(held.people) as session:
        kept = session.execute("SELECT member FROM lake.published WHERE segment_id <> 0").fetchall()
    assert kept == []
    with pytest.raises(NotFound):
        erase_id(held.people, 7001, "c1", actor="tester")


def test_an_erasure_over_the_api_is_for_admins(api):
    http, headers = api
    refused = http.delete("/api/v1/ids/7001/c1", headers=headers[ClientRole.VIEWER])
    assert refused.status_code == 403
    assert http.get("/api/v1/ids/7001/c1", headers=headers[ClientRole.ADMIN]).status_code == 200
    erased = http.delete("/api/v1/ids/7001/c1", headers=headers[ClientRole.ADMIN])
    assert erased.status_code == 200 and erased.json()["traits"] == 1
    assert http.get("/api/v1/ids/7001/c1", headers=headers[ClientRole.ADMIN]).status_code == 404


def test_every_lookup_and_erasure_is_in_the_audit_trail_by_digest(held, api):
    http, headers = api
    assert http.get("/api/v1/ids/7001/c1", headers=headers[ClientRole.ADMIN]).status_code == 200
    erase_id(held.people, 7001, "c1", actor="dpo@example.com")
    trail = http.get("/api/v1/audit?kind=ids", headers=headers[ClientRole.ADMIN])
    assert trail.status_code == 200, trail.text
    entries = trail.json()["items"]
    assert [(e["action"], e["subject"]) for e in entries] == [
        ("id erased", id_digest(7001, "c1")),
        ("id read", id_digest(7001, "c1")),
    ]
    assert entries[0]["actor"] == "dpo@example.com" and entries[0]["details"]["traits"] == 1
    assert entries[1]["actor"].startswith("client ") and "(admin)" in entries[1]["actor"]
    assert '"c1"' not in trail.text  # the erased ID does not live on in the trail
    assert http.get("/api/v1/audit", headers=headers[ClientRole.VIEWER]).status_code == 403
    with pytest.raises(NotFound):  # a search that finds nothing is accounted for too
        id_record(held.people, 7001, "c1", actor="dpo@example.com")
    with held.people.connect() as connection:
        found = [
            e["details"].get("found") for e in list_audit(connection, subject=id_digest(7001, "c1"))
        ]
        assert found == [False, None, True]  # newest first: the search, the erasure, the read
        assert list_audit(connection, subject=id_digest(7001, "c2")) == []
