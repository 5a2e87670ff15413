"""The visitor ID service over HTTP (ASGI test client)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiencehub.identity import VisitorId
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.schema import id_links, opt_outs, users
from audiencehub.people.web.app import create_people_app


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
