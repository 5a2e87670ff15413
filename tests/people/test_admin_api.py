"""The people service's administration API: roles of API clients, the CRUD of its objects,
refusals of deletes that would orphan data, receipts and publications."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from audiencehub.people.clients import ClientRole, issue_token, register_client
from audiencehub.people.jobs import PeopleJob, run_job
from audiencehub.people.web.app import create_people_app

PROBLEM = "application/problem+json"


@pytest.fixture
def admin_api(workspace):
    """A client of the app and a bearer header per client role."""
    headers = {}
    with workspace.people.begin() as connection:
        for role in ClientRole:
            client_id, secret = register_client(connection, role.value, role)
            token, _ = issue_token(connection, client_id, secret)
            headers[role] = {"Authorization": f"Bearer {token}"}
    return TestClient(create_people_app(workspace.people)), headers


def _build(http, admin, tmp_path):
    """A data source, two traits, a segment on them and a destination publishing it."""
    steps = [
        ("/api/v1/datasources", {"id": 7001, "name": "CRM", "inbound_id_type": "customer"}),
        ("/api/v1/traits", {"id": 101, "name": "Shoes", "data_source_id": 7001}),
        (
            "/api/v1/traits",
            {"id": 102, "name": "Rule", "data_source_id": 7001, "rule": {"product": "boots"}},
        ),
        (
            "/api/v1/destinations",
            {
                "id": 46390,
                "name": "Campaign",
                "drop_url": str(tmp_path),
                "id_type": "visitor",
                "segment_ids": [],
            },
        ),
    ]
    for path, body in steps:
        made = http.post(path, json=body, headers=admin)
        assert made.status_code == 201, made.text
    created = http.post(
        "/api/v1/segments", json={"name": "Shoe lovers", "data_source_id": 7001}, headers=admin
    )
    assert created.status_code == 201
    return created.json()["id"]


def test_roles_of_clients(admin_api, tmp_path):
    http, headers = admin_api
    _build(http, headers[ClientRole.ADMIN], tmp_path)
    viewer, partner = headers[ClientRole.VIEWER], headers[ClientRole.PARTNER]
    assert http.get("/api/v1/traits", headers=viewer).status_code == 200
    refused = http.post(
        "/api/v1/traits", json={"id": 9, "name": "x", "data_source_id": 7001}, headers=viewer
    )
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    assert http.get("/api/v1/traits", headers=partner).status_code == 403
    assert http.get("/api/v1/clients", headers=viewer).status_code == 403
    # what a partner did before still works: list shared audiences, read a data source
    assert http.get("/api/v1/segments", headers=partner).status_code == 200
    assert http.get("/api/v1/datasources/7001", headers=partner).status_code == 200
    assert http.get("/api/v1/traits").status_code == 401


def test_changes_are_checked_and_deletes_refuse_to_orphan(admin_api, tmp_path):
    http, headers = admin_api
    admin = headers[ClientRole.ADMIN]
    segment = _build(http, admin, tmp_path)
    read = http.get(f"/api/v1/segments/{segment}", headers=admin)
    etag = read.headers["ETag"]
    unknown_trait = http.patch(
        f"/api/v1/segments/{segment}", json={"rule": "T101 AND T999"}, headers=admin
    )
    assert unknown_trait.status_code == 400 and "T999" in unknown_trait.json()["detail"]
    changed = http.patch(
        f"/api/v1/segments/{segment}",
        json={"rule": "T101 OR T102"},
        headers={**admin, "If-Match": etag},
    )
    assert changed.status_code == 200 and changed.json()["size"] == 0
    stale = http.patch(
        f"/api/v1/segments/{segment}", json={"name": "Boots"}, headers={**admin, "If-Match": etag}
    )
    assert stale.status_code == 412
    used = http.delete("/api/v1/traits/102", headers=admin)
    assert used.status_code == 409 and str(segment) in used.json()["detail"]
    published = http.patch(
        "/api/v1/destinations/46390", json={"segment_ids": [segment]}, headers=admin
    )
    assert published.json()["segments"] == [segment]
    refused = http.delete(f"/api/v1/segments/{segment}", headers=admin)
    assert refused.status_code == 409 and "46390" in refused.json()["detail"]
    source_used = http.delete("/api/v1/datasources/7001", headers=admin)
    assert source_used.status_code == 409 and "trait" in source_used.json()["detail"]
    assert http.delete("/api/v1/destinations/46390", headers=admin).status_code == 204
    assert http.delete(f"/api/v1/segments/{segment}", headers=admin).status_code == 204
    assert http.delete("/api/v1/traits/102", headers=admin).status_code == 204
    assert http.get("/api/v1/traits/102", headers=admin).status_code == 404


def test_export_controls_added_later_are_checked_on_destinations(admin_api, tmp_path):
    http, headers = admin_api
    admin = headers[ClientRole.ADMIN]
    segment = _build(http, admin, tmp_path)
    http.patch(
        "/api/v1/datasources/7001", json={"export_controls": ["no-offsite-ads"]}, headers=admin
    )
    refused = http.patch(
        "/api/v1/destinations/46390",
        json={"segment_ids": [segment], "export_labels": ["offsite-ads"]},
        headers=admin,
    )
    assert refused.status_code == 400 and "no-offsite-ads" in refused.json()["detail"]


def test_clients_are_registered_once_shown_and_revoked(admin_api):
    http, headers = admin_api
    admin = headers[ClientRole.ADMIN]
    made = http.post("/api/v1/clients", json={"name": "bi", "role": "viewer"}, headers=admin)
    assert made.status_code == 201
    client_id, secret = made.json()["client_id"], made.json()["client_secret"]
    listed = http.get("/api/v1/clients", headers=admin).json()["items"]
    assert {c["client_id"]: c["role"] for c in listed}[client_id] == "viewer"
    assert secret not in http.get("/api/v1/clients", headers=admin).text
    token = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.get("/api/v1/traits", headers=bearer).status_code == 200
    assert http.delete(f"/api/v1/clients/{client_id}", headers=admin).status_code == 204
    assert http.get("/api/v1/traits", headers=bearer).status_code == 401


def test_receipts_and_publications_are_listed(admin_api, workspace, tmp_path):
    http, headers = admin_api
    admin, viewer = headers[ClientRole.ADMIN], headers[ClientRole.VIEWER]
    segment = _build(http, admin, tmp_path)
    http.patch("/api/v1/destinations/46390", json={"segment_ids": [segment]}, headers=admin)
    inbound = tmp_path / "inbound"
    inbound.mkdir()
    (inbound / "ftp_dpm_7001_1764300000.sync").write_text("c1\td_sid=101\nc2\td_sid=999\n")
    for job in (PeopleJob.INGEST, PeopleJob.PUBLISH):
        run_job(workspace.people, job, inbound_drop=str(inbound))
    receipt = http.get("/api/v1/receipts", headers=viewer).json()["items"][0]
    assert receipt["batch"].startswith("ftp_dpm_7001_1764300000")
    assert receipt["receipt"]["records_received"] == 2
    assert receipt["receipt"]["unused_signals"] == 1
    [publication] = http.get("/api/v1/publications", headers=viewer).json()
    assert publication["job"] == "publish" and publication["status"] == "succeeded"
    assert "46390" in str(publication["summary"])


def test_jobs_run_now_where_the_server_can_and_not_elsewhere(workspace, tmp_path):
    from audiencehub.runtime.scheduler import people_jobs

    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "ops", ClientRole.ADMIN)
        token, _ = issue_token(connection, client_id, secret)
    admin = {"Authorization": f"Bearer {token}"}
    plain = TestClient(create_people_app(workspace.people))
    refused = plain.post("/api/v1/jobs/publish/runs", headers=admin)
    assert refused.status_code == 503 and "people jobs run publish" in refused.json()["hint"]
    served = TestClient(
        create_people_app(workspace.people, jobs=people_jobs(workspace.people, workspace.settings))
    )
    relative = served.post(
        "/api/v1/destinations",
        json={"id": 1, "name": "x", "drop_url": "here", "id_type": "visitor"},
        headers=admin,
    )
    assert relative.status_code == 400 and "absolute" in relative.json()["detail"]
    ran = served.post("/api/v1/jobs/publish/runs", headers=admin)
    assert ran.status_code == 200 and ran.json() == {"segments": {}, "publications": []}


def test_a_segment_as_it_was_over_the_api(segment_history, admin_api):
    """An audit over the API: a segment's size at a past moment for any reader, its IDs
    then as CSV for admins only; a moment before the lake or a segment that is not
    there is a 404 problem, not an empty answer."""
    http, headers = admin_api
    moment = segment_history[0].replace(tzinfo=None).isoformat()  # naive: UTC

    then = http.get(
        "/api/v1/segments/900/held", params={"at": moment}, headers=headers[ClientRole.VIEWER]
    )
    assert then.status_code == 200, then.text
    assert then.json()["size"] == 2 and then.json()["moment"].startswith(moment)
    now = http.get("/api/v1/segments/900", headers=headers[ClientRole.VIEWER]).json()
    assert now["size"] == 2  # c1 and c3 now: the same size, other members

    ids = http.get(
        "/api/v1/segments/900/held.csv", params={"at": moment}, headers=headers[ClientRole.ADMIN]
    )
    assert ids.status_code == 200 and ids.headers["content-type"].startswith("text/csv")
    assert ids.text.splitlines() == ["id", "c1", "c2"]
    assert f"snapshot-{then.json()['snapshot']}" in ids.headers["content-disposition"]
    refused = http.get(
        "/api/v1/segments/900/held.csv", params={"at": moment}, headers=headers[ClientRole.VIEWER]
    )
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM

    for path, at in (
        ("/api/v1/segments/900/held", "2000-01-01"),
        ("/api/v1/segments/9/held", moment),
    ):
        missing = http.get(path, params={"at": at}, headers=headers[ClientRole.ADMIN])
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
        assert missing.json()["detail"]
    bad = http.get(
        "/api/v1/segments/900/held", params={"at": "yesterday"}, headers=headers[ClientRole.ADMIN]
    )
    assert bad.status_code == 422 and "at" in bad.json()["detail"]
