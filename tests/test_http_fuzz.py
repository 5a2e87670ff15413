"""No route of either app answers 500, whatever it is sent (a property-based fuzz test).

Every route of both apps is called with generated path parameters, query
strings, headers (bearer and Basic credentials among them, non-ASCII bytes
included) and bodies, with and without valid credentials. A 5xx other than the
503 of a setting that is missing would be a bug: bad input gets a 4xx that says
why.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiencehub.campaign.users import Role, add_user, create_token
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.people.clients import ClientRole, issue_token, register_client
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.web.app import create_people_app
from tests.helpers import services_of

TOKEN = "fuzz-api-token-of-the-campaign"

_texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=40),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "99999999999999999999999999",
            "1e309",
            "7015\x01abc\x011",
            "7015\x01" + "x" * 5_000,
            "nope\x01a\x00b",
            "%00",
            "../../etc/passwd",
            "12345678901234567890123456789012345678",
            "00000000000000000000000000000000000001",
        ]
    ),
)
_header_values = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    _texts.map(lambda t: t.encode("utf-8", "replace").replace(b"\r", b"").replace(b"\n", b"")),
)
_bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    st.sampled_from(
        [
            b"{}",
            b"[]",
            b'{"data_source_id": "AMCDS1", "encrypted_id": "00", "template": "t", '
            b'"idempotency_key": "k", "payload": {"a": 1e309}}',
            b'{"name": "x", "data_source_id": 99999999999999999999}',
            b"grant_type=client_credentials&client_id=\xff&client_secret=x",
            b"grant_type=client_credentials",
        ]
    ),
)


def _calls(app):
    """(method, path template, path parameter names) of every route the app documents."""
    for path, operations in app.openapi()["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        for method in sorted(operations):
            yield method.upper(), path, names


def _fuzz(client, calls, auth_values):
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        call=st.sampled_from(calls),
        values=st.lists(_texts, min_size=3, max_size=3),
        query=st.lists(
            st.tuples(st.sampled_from(["d_mid", "d_cid", "d_cid_ic", "dpid", "x"]), _texts),
            max_size=5,
        ),
        authorization=st.one_of(st.none(), st.sampled_from(auth_values), _header_values),
        content_type=st.sampled_from(
            [None, b"application/json", b"application/x-www-form-urlencoded", b"\xff/\xfe"]
        ),
        body=_bodies,
    )
    def run(call, values, query, authorization, content_type, body):
        method, template, names = call
        path = template
        for name, value in zip(names, values, strict=False):
            path = path.replace("{" + name + "}", quote(value, safe="") or "x")
        headers = []
        if authorization is not None:
            headers.append(
                (b"authorization", authorization)
                if isinstance(authorization, bytes)
                else (b"authorization", authorization.encode())
            )
        if content_type is not None:
            headers.append((b"content-type", content_type))
        response = client.request(
            method,
            path,
            params=query,
            headers=headers,
            content=body if method in ("POST", "PUT", "PATCH") else None,
        )
        assert response.status_code < 500 or response.status_code == 503, (
            method,
            path,
            response.status_code,
            response.text[:300],
        )

    run()


def test_no_campaign_route_answers_500(workspace):
    """The REST API, tracking, unsubscribe, open and triggers routes: always a 4xx for bad
    input, with an admin's personal token too (the routes past authentication)."""
    with workspace.campaign.begin() as connection:
        add_user(connection, "ada", "correct horse battery", Role.ADMIN)
        _, personal = create_token(connection, "ada", "fuzz")
    app = create_campaign_app(services_of(workspace, api_token=TOKEN))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        _fuzz(client, list(_calls(app)), [f"Bearer {TOKEN}", f"Bearer {personal}", "Bearer x"])


def test_no_people_route_answers_500(workspace):
    """ID service, token endpoint, partner and administration routes: always a 4xx for bad
    input, with a partner's and an admin's token too."""
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7015, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        client_id, secret = register_client(connection, "fuzz")
        token, _ = issue_token(connection, client_id, secret)
        admin_id, admin_secret = register_client(connection, "admin", ClientRole.ADMIN)
        admin, _ = issue_token(connection, admin_id, admin_secret)
    app = create_people_app(workspace.people)
    auth = [f"Bearer {token}", f"Bearer {admin}", "Basic Zm9vOmJhcg==", "Basic \xff"]
    with TestClient(app, raise_server_exceptions=False) as client:
        _fuzz(client, list(_calls(app)), auth)
