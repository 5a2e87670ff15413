"""The people service's audit trail of configuration changes: who created, changed or
deleted what decides where its data goes, written in the change's own transaction."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from audiencehub.errors import InvalidInput
from audiencehub.people.audit_trail import list_audit, summary
from audiencehub.people.clients import ClientRole, issue_token, register_client
from audiencehub.people.segments import add_segment, update_segment
from audiencehub.people.web.app import create_people_app


@pytest.fixture
def admin(people):
    """The app and an admin client's bearer header (registered by the test's OS user)."""
    with people.people.begin() as connection:
        client_id, secret = register_client(connection, "ops", ClientRole.ADMIN)
        token = issue_token(connection, client_id, secret)[0]
    http = TestClient(create_people_app(people.people))
    return http, {"Authorization": f"Bearer {token}"}, client_id


def test_every_change_over_the_api_names_its_client_and_what_changed(people, admin, tmp_path):
    http, headers, admin_id = admin

    def call(method: str, path: str, **kwargs: object) -> dict[str, object]:
        response = http.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    call("POST", "/api/v1/segments", json={"id": 900, "name": "Shoes", "data_source_id": 7001})
    call("PATCH", "/api/v1/segments/900", json={"rule": "T101 OR T102"})
    call("PATCH", "/api/v1/datasources/7001", json={"export_controls": ["no-pii"]})
    call("POST", "/api/v1/destinations", json={"id": 46390, "name": "Campaign",
         "drop_url": str(tmp_path), "id_type": "visitor", "segment_ids": [900]})  # fmt: skip
    call("PATCH", "/api/v1/destinations/46390", json={"segment_ids": []})
    call("DELETE", "/api/v1/destinations/46390")
    client = call("POST", "/api/v1/clients", json={"name": "bi", "role": "viewer"})
    call("DELETE", f"/api/v1/clients/{client['client_id']}")
    refused = http.patch("/api/v1/segments/900", headers=headers, json={"rule": "T999"})
    assert refused.status_code == 400  # refused: nothing changed, nothing written

    trail = http.get("/api/v1/audit?kind=changes&limit=100", headers=headers).json()["items"]
    ours = [e for e in trail if e["actor"].startswith("client ")]
    assert [e["action"] for e in ours] == [
        "client revoked",
        "client registered",
        "destination deleted",
        "destination changed",
        "destination created",
        "data source changed",
        "segment changed",
        "segment created",
        "trait created",  # a partner's segment gets a trait of its own
    ]
    assert {e["actor"] for e in ours} == {f"client {admin_id} (ops)"}
    by_action = {e["action"]: e["details"] for e in ours}
    assert by_action["segment changed"] == {"segment_id": 900, "changed": {
        "rule": [by_action["segment created"]["values"]["rule"], "T101 OR T102"]}}  # fmt: skip
    assert by_action["data source changed"]["changed"] == {"export_controls": [[], ["no-pii"]]}
    assert by_action["destination changed"]["changed"] == {"segments": [[900], []]}
    assert by_action["destination deleted"]["values"]["name"] == "Campaign"
    assert by_action["client registered"] == {
        "client_id": client["client_id"],
        "values": {"name": "bi", "role": "viewer"},
    }
    assert client["client_secret"] not in json.dumps(trail)  # never a secret
    # the lookups and erasures are kept apart
    assert http.get("/api/v1/audit?kind=ids", headers=headers).json()["items"] == []


def test_a_change_and_its_entry_are_kept_or_lost_together(people):
    """A change that changes nothing writes nothing; a refused one neither; one rolled
    back takes its entry with it; a change by a command names the operating-system user."""
    with people.people.begin() as connection:
        before = len(list_audit(connection, kind="changes"))
        add_segment(connection, segment_id=901, name="Bags", rule="T102")
        update_segment(connection, 901, name="Bags")  # the same name: no change
        with pytest.raises(InvalidInput):
            update_segment(connection, 901, rule="T999")
    with people.people.connect() as connection:
        transaction = connection.begin()
        update_segment(connection, 901, name="Totes", actor="someone")
        transaction.rollback()
    with people.people.connect() as connection:
        entries = list_audit(connection, kind="changes")
    assert len(entries) == before + 1
    assert entries[0]["action"] == "segment created" and entries[0]["actor"] != "someone"
    assert summary(entries[0]) == "segment id 901 (Bags)"
