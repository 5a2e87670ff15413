"""Rotating an API client's secret: the previous one works beside the new one for the
overlap (no gap for the partner), or stops at once with the client's tokens when it
leaked; from the core and the API (the command line and the page:
``tests/cli/test_client_secret_commands.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from audiencehub.errors import InvalidCredentials, InvalidInput, NotFound
from audiencehub.people.audit_trail import list_audit
from audiencehub.people.clients import (
    ClientRole,
    issue_token,
    register_client,
    replace_secret,
    verify_token,
)
from audiencehub.people.schema import api_clients
from audiencehub.people.web.app import create_people_app
from tests.helpers import client_secret_works as works


def test_the_previous_secret_works_for_the_overlap_and_then_stops(workspace):
    engine = workspace.people
    with engine.begin() as connection:
        client_id, old = register_client(connection, "partner")
        token, _ = issue_token(connection, client_id, old)
        new, until = replace_secret(connection, client_id, overlap=timedelta(hours=2))
    assert until is not None
    assert timedelta(hours=1, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=2)
    assert new != old
    assert works(engine, client_id, new) and works(engine, client_id, old)
    with engine.connect() as connection:
        assert verify_token(connection, token) == client_id  # runs out on its own
        [entry] = [e for e in list_audit(connection, 10) if e["action"].startswith("client s")]
    assert entry["details"] == {
        "client_id": client_id,
        "previous_secret": until.isoformat("T", "seconds"),
    }
    assert old not in str(entry) and new not in str(entry)

    with engine.begin() as connection:  # the overlap is over
        connection.execute(
            update(api_clients)
            .where(api_clients.c.client_id == client_id)
            .values(previous_secret_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert works(engine, client_id, new) and not works(engine, client_id, old)

    with engine.begin() as connection:  # a second rotation leaves the first secret out
        newer, _ = replace_secret(connection, client_id)
    assert works(engine, client_id, newer) and works(engine, client_id, new)
    assert not works(engine, client_id, old)


def test_a_leaked_secret_stops_at_once_with_the_clients_tokens(workspace):
    engine = workspace.people
    with engine.begin() as connection:
        client_id, old = register_client(connection, "partner")
        token, _ = issue_token(connection, client_id, old)
        other_id, other_secret = register_client(connection, "another partner")
        other_token, _ = issue_token(connection, other_id, other_secret)
        new, until = replace_secret(connection, client_id, overlap=timedelta(0))
    assert until is None
    assert works(engine, client_id, new) and not works(engine, client_id, old)
    with engine.connect() as connection:
        with pytest.raises(InvalidCredentials):
            verify_token(connection, token)
        assert verify_token(connection, other_token) == other_id  # nobody else's
        [entry] = [e for e in list_audit(connection, 10) if e["action"].startswith("client s")]
    assert entry["details"]["previous_secret"] == "stopped at once"


def test_an_unknown_client_or_a_negative_overlap_is_refused(workspace):
    with workspace.people.begin() as connection:
        client_id, _ = register_client(connection, "partner")
        with pytest.raises(NotFound, match="no API client 'ah_nobody'"):
            replace_secret(connection, "ah_nobody")
        with pytest.raises(InvalidInput, match="zero or more"):
            replace_secret(connection, client_id, overlap=timedelta(hours=-1))


def test_an_admin_rotates_a_secret_over_the_api(workspace):
    with workspace.people.begin() as connection:
        admin_id, admin_secret = register_client(connection, "ops", ClientRole.ADMIN)
        partner_id, partner_secret = register_client(connection, "partner")
    http = TestClient(create_people_app(workspace.people))

    def token_for(client_id: str, secret: str) -> int:
        form = {"grant_type": "client_credentials", "client_id": client_id}
        return http.post("/oauth/token", data={**form, "client_secret": secret}).status_code

    def bearer(client_id: str, secret: str) -> dict[str, str]:
        form = {"grant_type": "client_credentials", "client_id": client_id}
        answer = http.post("/oauth/token", data={**form, "client_secret": secret}).json()
        return {"Authorization": f"Bearer {answer['access_token']}"}

    admin = bearer(admin_id, admin_secret)
    rotated = http.post(
        f"/api/v1/clients/{partner_id}/secret", json={"overlap_hours": 0}, headers=admin
    )
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    body = rotated.json()
    assert body["client_id"] == partner_id and body["previous_secret_until"] is None
    assert token_for(partner_id, body["client_secret"]) == 200
    assert token_for(partner_id, partner_secret) == 401

    partner = bearer(partner_id, body["client_secret"])
    assert (
        http.post(f"/api/v1/clients/{admin_id}/secret", json={}, headers=partner).status_code == 403
    )
    missing = http.post("/api/v1/clients/ah_nobody/secret", json={}, headers=admin)
    assert missing.status_code == 404
    wrong = http.post(
        f"/api/v1/clients/{partner_id}/secret", json={"overlap_hours": -1}, headers=admin
    )
    assert wrong.status_code == 422
    kept = http.post(f"/api/v1/clients/{partner_id}/secret", json={}, headers=admin).json()
    assert kept["previous_secret_until"] is not None  # a day by default
    assert token_for(partner_id, body["client_secret"]) == 200
