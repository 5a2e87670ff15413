"""The visitor ID service over HTTP (ASGI test client)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiencehub.identity import VisitorId
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.schema import id_links, opt_outs, users
from audiencehub.people.web.app import HttpLimits, create_people_app
from audiencehub.ratelimit import AddressLimit
from tests.helpers import free_port, serve_in_thread


@pytest.fixture
def client(workspace):
    with workspace.people.begin() as connection:
        add_data_source(
            connection,
            dpid=7015,
            name="CRM",
            inbound_id_type=InboundIdType.CUSTOMER,
            integration_code="crm",
        )
    return TestClient(create_people_app(workspace.people))


def test_issues_a_new_visitor_id(client):
    """Without d_mid the service issues a valid ID and the documented fields."""
    body = client.get("/id").json()
    VisitorId.parse(body["d_mid"])
    assert (body["id_sync_ttl"], body["dcs_region"]) == ("604800", "6")


def test_confirms_and_records_several_syncs(client, workspace):
    """d_mid is confirmed; each d_cid / d_cid_ic links a declared ID with its state."""
    visitor = "0" * 19 + "1" * 19
    response = client.get(
        f"/id?d_mid={visitor}&d_cid=7015%01abc%011&d_cid_ic=crm%01def%012&d_cid=7015%01ghi"
    )
    assert response.status_code == 200
    assert response.json()["d_mid"] == visitor
    with workspace.people.connect() as connection:
        rows = connection.execute(
            select(users.c.external_id, id_links.c.auth_state)
            .join(id_links, id_links.c.customer_user_id == users.c.id)
            .order_by(users.c.external_id)
        ).all()
    assert [tuple(r) for r in rows] == [("abc", 1), ("def", 2), ("ghi", 0)]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("d_mid=123", "not a visitor ID"),
        ("d_cid=7015", "1 part"),
        ("d_cid=7015%01abc%019", "not 0, 1 or 2"),
        ("d_cid=999%01abc", "no data source 999"),
        ("d_cid_ic=nope%01abc", "no data source has the integration code 'nope'"),
        ("d_cid=7015%01" + "x" * 40_000, "at most 512 are accepted"),
        ("d_cid=7015%01a%00b", "control characters"),
        ("d_cid=7015%01a%0Ab", "control characters"),
        ("d_cid=7015%01a%09b", "control characters"),
        ("d_cid=99999999999999999999%01abc", "not a numeric DPID"),
        ("&".join(["d_cid=7015%01abc"] * 21), "at most 20 declared-ID syncs"),
    ],
)
def test_malformed_parameters_are_400_with_the_reason(client, query, reason):
    """Bad input gets HTTP 400 and says why."""
    response = client.get(f"/id?{query}")
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_opt_out_per_partner(client, workspace):
    """An opt-out is recorded for the partner named, or for everything."""
    visitor = client.get("/id").json()["d_mid"]
    assert client.post(f"/optout?d_mid={visitor}&dpid=7015").status_code == 200
    assert client.post(f"/optout?d_mid={visitor}&dpid=4242").status_code == 400
    with workspace.people.connect() as connection:
        assert list(connection.execute(select(opt_outs.c.data_source_id)).scalars()) == [7015]


@pytest.mark.parametrize(
    "query", ["dpid=99999999999999999999", "dpid=-1", "d_mid=" + "1" * 100, "dpid=x"]
)
def test_opt_out_parameters_are_bounded(client, query):
    """Out-of-range numbers and over-long IDs are a 4xx with the reason, not a server error."""
    response = client.post(f"/optout?d_mid=12345678901234567890123456789012345678&{query}")
    assert response.status_code == 422
    assert response.json()["errors"]


def test_each_address_is_limited_and_told_when_to_retry(workspace):
    """Beyond its burst an address gets 429 with Retry-After and the fix, on /id and
    /optout alike; another address is not affected, nor is what was already written."""
    app = create_people_app(workspace.people, limits=HttpLimits(id_requests_per_minute=60))
    flooder = TestClient(app, client=("203.0.113.7", 40000))
    visitor = "0" * 19 + "1" * 19
    answers = [flooder.get(f"/id?d_mid={visitor}").status_code for _ in range(8)]
    assert answers == [200] * 6 + [429] * 2  # a tenth of 60 at once
    refused = flooder.post(f"/optout?d_mid={visitor}")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["detail"] == "too many ID service requests from this address"
    assert "id_unlimited_networks" in refused.json()["hint"]
    other = TestClient(app, client=("2001:db8::1", 40000))
    assert other.get("/id").status_code == 200
    with workspace.people.connect() as connection:
        assert list(connection.execute(select(opt_outs.c.user_id)).scalars()) == []


def test_unlimited_networks_are_not_counted(workspace):
    """A server of one's own (here the loopback, the default) may call as often as it needs."""
    app = create_people_app(workspace.people, limits=HttpLimits(id_requests_per_minute=10))
    local = TestClient(app, client=("127.0.0.1", 40000))
    assert {local.get("/id").status_code for _ in range(30)} == {200}
    assert TestClient(app, client=("10.1.2.3", 1)).get("/id").status_code == 200


def test_address_limit_refills_at_its_rate():
    """A token bucket per address: the burst, then one request per second at 60 a minute;
    networks of both address families are matched."""
    now = [0.0]
    limit = AddressLimit(60, ["10.0.0.0/8", "fd00::/8"], clock=lambda: now[0])
    assert [limit.wait("198.51.100.1") for _ in range(7)] == [0] * 6 + [1]
    now[0] += 1.0
    assert limit.wait("198.51.100.1") == 0
    assert limit.wait("198.51.100.1") == 1
    assert {limit.wait("10.9.9.9") for _ in range(100)} == {0}
    assert {limit.wait("fd00::5") for _ in range(100)} == {0}
    assert limit.wait("not an address") == 0  # counted as one address of its own


def test_behind_a_proxy_the_forwarded_address_is_limited(workspace):
    """Served for real: the loopback (campaign's tracking server, a local proxy) is not
    limited, but a browser's address forwarded by a proxy on it (trusted by default) is."""
    port = free_port()
    app = create_people_app(workspace.people, limits=HttpLimits(id_requests_per_minute=10))
    server = serve_in_thread(app, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert {http.get("/id").status_code for _ in range(5)} == {200}
            forwarded = {"X-Forwarded-For": "198.51.100.23"}
            answers = [http.get("/id", headers=forwarded).status_code for _ in range(3)]
            assert answers == [200, 429, 429]  # a burst of one at 10 a minute
            other = http.get("/id", headers={"X-Forwarded-For": "198.51.100.24"})
            assert other.status_code == 200
    finally:
        server.should_exit = True
