"""The partner API: OAuth2 client credentials, bearer tokens, shared audiences."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from audiencehub.people.audit_trail import list_audit
from audiencehub.people.clients import register_client
from audiencehub.people.data_sources import ExportControl, InboundIdType, add_data_source
from audiencehub.people.destinations import add_destination
from audiencehub.people.schema import api_tokens
from audiencehub.people.segments import add_segment
from audiencehub.people.traits import add_trait
from audiencehub.people.web.app import HttpLimits, create_people_app


@pytest.fixture
def api(workspace, tmp_path):
    with workspace.people.begin() as connection:
        add_data_source(
            connection,
            dpid=7001,
            name="CRM",
            inbound_id_type=InboundIdType.CUSTOMER,
            export_controls=[ExportControl.NO_OFFSITE_ADS],
        )
        add_trait(connection, trait_id=101, name="Shoes", data_source_id=7001)
        add_segment(connection, segment_id=900, name="Shoe lovers", rule="T101")
        add_segment(connection, segment_id=901, name="Idle", rule="NOT T101")
        add_destination(
            connection,
            destination_id=1,
            name="Campaign",
            drop_url=str(tmp_path),
            id_type="visitor",
            segment_ids=[900],
        )
        client_id, secret = register_client(connection, "campaign")
    return TestClient(create_people_app(workspace.people)), client_id, secret


def _token(http, client_id, secret):
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert response.headers["cache-control"] == "no-store"
    return body["access_token"]


def test_client_credentials_then_list_shared_audiences(api):
    """A token from valid credentials lists segments with title, source, size, active, modified."""
    http, client_id, secret = api
    token = _token(http, client_id, secret)
    listed = http.get("/api/v1/segments", headers={"Authorization": f"Bearer {token}"}).json()
    assert [(s["id"], s["title"], s["size"], s["active"]) for s in listed] == [
        (900, "Shoe lovers", 0, True),
        (901, "Idle", 0, False),
    ]
    assert listed[0]["source"] == "people service" and "modified" in listed[0]


def test_basic_authentication_is_accepted(api):
    """Credentials may come as HTTP Basic, as RFC 6749 recommends."""
    http, client_id, secret = api
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "password", "client_id": "x", "client_secret": "y"},
            400,
            "unsupported_grant_type",
        ),
        ({"client_id": "x", "client_secret": "y"}, 400, "invalid_request"),
        ({}, 400, "invalid_request"),
    ],
)
def test_bad_token_requests(api, form, status, error):
    """Wrong credentials are 401 invalid_client; other grants are refused; a request
    without a grant type is the RFC's invalid_request, not a validation report."""
    http, _, _ = api
    response = http.post("/oauth/token", data=form)
    assert (response.status_code, response.json()["error"]) == (status, error)


def test_wrong_secret_is_401(api):
    """A right client id with a wrong secret gets no token."""
    http, client_id, _ = api
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "guess"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc"])
def test_routes_need_a_valid_bearer_token(api, header):
    """Missing or unknown tokens get 401 with a Bearer challenge."""
    http, _, _ = api
    response = http.get("/api/v1/segments", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_expired_tokens_are_refused(api, workspace):
    """A token past its expiry gets 401."""
    http, client_id, secret = api
    token = _token(http, client_id, secret)
    with workspace.people.begin() as connection:
        connection.execute(
            update(api_tokens).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    response = http.get("/api/v1/segments", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_create_a_segment_to_fill_and_look_up_a_data_source(api):
    """A partner creates a segment backed by its own trait, and reads its data source."""
    http, client_id, secret = api
    headers = {"Authorization": f"Bearer {_token(http, client_id, secret)}"}
    created = http.post(
        "/api/v1/segments",
        json={"name": "Campaign buyers", "data_source_id": 7001},
        headers=headers,
    )
    assert created.status_code == 201
    assert created.json() == {
        "id": 902,
        "title": "Campaign buyers",
        "data_source_id": 7001,
        "trait_id": 102,
        "integration_code": "segment-902",
    }
    listed = http.get("/api/v1/segments", headers=headers).json()
    assert listed[-1]["source"] == "CRM"
    source = http.get("/api/v1/datasources/7001", headers=headers).json()
    assert source["export_controls"] == ["no-offsite-ads"]
    assert http.get("/api/v1/datasources/4242", headers=headers).status_code == 404
    bad = http.post("/api/v1/segments", json={"name": "", "data_source_id": 7001}, headers=headers)
    assert bad.status_code == 422


def test_failed_logins_lock_the_address_and_nobody_can_lock_a_partner_out(workspace):
    """After five wrong secrets the address is locked out, the right secret included, and
    answered 429 with Retry-After, for every client id. The client id itself is not
    locked: its secret (256 random bits) cannot be guessed, and a lock on it would let
    anyone who knows it keep the partner out."""
    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "campaign")
    app = create_people_app(
        workspace.people, limits=HttpLimits(login_max_failures=5, login_lockout_seconds=60)
    )
    http = TestClient(app, client=("203.0.113.9", 50000))
    partner = TestClient(app, client=("198.51.100.4", 50000))

    def ask(who, what, http=http):
        return http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": who, "client_secret": what},
        )

    assert [ask(client_id, "guess").status_code for _ in range(5)] == [401] * 5
    locked = ask(client_id, secret)
    assert locked.status_code == 429 and 0 < int(locked.headers["retry-after"]) <= 60
    assert locked.json()["error"] == "temporarily_unavailable"
    assert ask("ah_other", "x").status_code == 429  # the address, for every client id
    assert ask(client_id, secret, partner).status_code == 200  # the partner, elsewhere


def test_a_success_forgets_earlier_failures(workspace):
    """Failures below the limit are forgotten once the client authenticates."""
    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "campaign")
    http = TestClient(create_people_app(workspace.people, limits=HttpLimits(login_max_failures=3)))

    def ask(what):
        return http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": what,
            },
        ).status_code

    assert [ask("guess"), ask("guess"), ask(secret), ask("guess"), ask("guess")] == [
        401,
        401,
        200,
        401,
        401,
    ]
    assert ask(secret) == 200


def test_bodies_over_the_limit_are_refused_unread(workspace):
    """A declared body over the limit is 413 before any route runs, authenticated or not."""
    http = TestClient(
        create_people_app(workspace.people, limits=HttpLimits(max_request_bytes=2_048))
    )
    response = http.post("/oauth/token", content=b"x" * 4_096)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "2,048 bytes" in response.json()["detail"]


def test_non_ascii_basic_credentials_are_refused(api):
    """Basic credentials that are not base64 of UTF-8 are a 401, not a server error."""
    http, _, _ = api
    for header in ("Basic \u00ff\u00fe", "Basic //79", "Basic " + "A" * 3):
        response = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": header.encode("latin-1")},
        )
        assert response.status_code == 401


def test_segment_names_are_unique(api):
    """A second segment with a name already used is refused with the segment that holds it."""
    http, client_id, secret = api
    headers = {"Authorization": f"Bearer {_token(http, client_id, secret)}"}
    response = http.post(
        "/api/v1/segments", json={"name": "Shoe lovers", "data_source_id": 7001}, headers=headers
    )
    assert response.status_code == 400
    assert "segment 900 is already named 'Shoe lovers'" in response.json()["detail"]


def test_a_client_takes_tokens_within_its_rate_and_no_one_else_uses_it_up(workspace):
    """Tokens last an hour and each is written to the trail: a client takes at most
    token_requests_per_minute (a tenth at once). Only requests with its secret count, so
    wrong secrets sent with its id do not use up its share."""
    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "campaign")
        other_id, other_secret = register_client(connection, "another partner")
    app = create_people_app(workspace.people, limits=HttpLimits(token_requests_per_minute=20))
    stranger = TestClient(app, client=("203.0.113.9", 50000))
    http = TestClient(app)

    def ask(who, what, client=http):
        form = {"grant_type": "client_credentials", "client_id": who, "client_secret": what}
        return client.post("/oauth/token", data=form)

    assert [ask(client_id, "guess", stranger).status_code for _ in range(3)] == [401] * 3
    assert [ask(client_id, secret).status_code for _ in range(2)] == [200, 200]
    refused = ask(client_id, secret)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json() == {
        "error": "temporarily_unavailable",
        "error_description": "too many tokens for this client; reuse one until it expires",
    }
    assert ask(other_id, other_secret).status_code == 200  # a share per client
    with workspace.people.connect() as connection:
        issued = [e for e in list_audit(connection, 100, kind="sign-ins")
                  if e["action"] == "signed in"]  # fmt: skip
    assert len(issued) == 3  # the refused token was rolled back with its entry
