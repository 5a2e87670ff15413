"""The tracking server over HTTP: signed links, visitor cookies, the log, no open redirect."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.tracking import OWN_COOKIE, LinkSigner, OpenMark, TrackedLink
from audiencehub.campaign.profiles.store import create_profile
from audiencehub.campaign.schema import tracking_log, visitor_links
from audiencehub.campaign.sharing.people_link import set_people_link
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.errors import InvalidInput
from audiencehub.identity import VisitorId, visitor_id_from_amcv
from tests.helpers import an_admin, services_of

ORG = "ABC123@AdobeOrg"
COOKIE = "AMCV_ABC123%40AdobeOrg"


@pytest.fixture
def server(workspace):
    with workspace.campaign.begin() as connection:
        create_profile(connection, email="jo@example.com")
    signer = LinkSigner(KeyVault(workspace.path).derive("tracking"))
    client = TestClient(
        create_campaign_app(services_of(workspace, signer=signer, tracking_domain="t.example.com")),
        base_url="https://t.example.com",
        follow_redirects=False,
    )
    return client, signer


def _token(signer, url="https://shop.example.com/shoes?x=1"):
    return signer.sign(TrackedLink(delivery_id=7, profile_id=1, link=0, url=url))


def _log(workspace):
    with workspace.campaign.connect() as connection:
        return [
            tuple(r)
            for r in connection.execute(
                select(tracking_log.c.kind, tracking_log.c.profile_id, tracking_log.c.visitor_id)
            )
        ]


def _enable(workspace):
    with workspace.campaign.begin() as connection:
        set_people_link(
            connection,
            KeyVault(workspace.path),
            people_url="https://people.example.com",
            client_id="c",
            client_secret="s3cr3t-from-the-people-service",
            org_id=ORG,
        )


def test_without_the_connection_campaign_uses_its_own_cookie(server, workspace):
    """Without the connection a click sets campaign's own cookie and links no visitor ID."""
    client, signer = server
    response = client.get(f"/r/{_token(signer)}", headers={"User-Agent": "pytest"})
    assert (response.status_code, response.headers["location"]) == (
        302,
        "https://shop.example.com/shoes?x=1",
    )
    own = response.cookies[OWN_COOKIE]
    assert (
        "Secure" in response.headers["set-cookie"]
        and "SameSite=lax" in response.headers["set-cookie"]
    )
    assert "Domain=t.example.com" in response.headers["set-cookie"]
    assert _log(workspace) == [("click", 1, own)]
    with workspace.campaign.connect() as connection:
        assert connection.execute(select(visitor_links)).first() is None


def test_a_click_without_a_visitor_cookie_gets_a_new_visitor_id(server, workspace):
    """With the connection, a new visitor ID is set in AMCV_ and linked to the profile."""
    _enable(workspace)
    client, signer = server
    response = client.get(f"/r/{_token(signer)}")
    cookie = unquote(response.cookies[COOKIE])
    visitor = visitor_id_from_amcv(cookie).value
    assert response.cookies["AMCVS_ABC123%40AdobeOrg"] == "1"
    with workspace.campaign.connect() as connection:
        assert [
            tuple(r)
            for r in connection.execute(
                select(visitor_links.c.visitor_id, visitor_links.c.profile_id)
            )
        ] == [(visitor, 1)]
    assert _log(workspace) == [("click", 1, visitor)]


def test_an_existing_visitor_id_is_reused(server, workspace):
    """A browser that has a visitor ID keeps it; no cookie is set."""
    _enable(workspace)
    client, signer = server
    known = VisitorId.new().value
    client.cookies.set(COOKIE, f"-1|MCIDTS|19000|MCMID|{known}|vVersion|5.2.0")
    response = client.get(f"/r/{_token(signer)}")
    assert response.status_code == 302 and COOKIE not in response.cookies
    assert _log(workspace) == [("click", 1, known)]


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-2] + "xx", lambda t: "A" + t, lambda t: "garbage"]
)
def test_forged_or_altered_tokens_get_404_and_no_redirect(server, workspace, mangle):
    """A token that fails its signature never redirects and logs nothing."""
    client, signer = server
    response = client.get(f"/r/{mangle(_token(signer, 'https://evil.example.net/'))}")
    assert response.status_code == 404 and "location" not in response.headers
    assert _log(workspace) == []


def test_only_web_urls_can_be_tracked(server):
    """javascript: and other schemes are refused when links are signed."""
    _, signer = server
    with pytest.raises(InvalidInput, match="not an http"):
        _token(signer, "javascript:alert(1)")


def test_the_open_pixel(server, workspace):
    """An open returns a 1x1 GIF and is logged."""
    client, signer = server
    response = client.get(f"/o/{signer.sign_open(OpenMark(delivery_id=7, profile_id=1))}")
    assert response.headers["content-type"] == "image/gif" and response.content.startswith(
        b"GIF89a"
    )
    assert _log(workspace) == [("open", 1, None)]


def test_declared_id_mode_syncs_the_click_with_the_people_service(server, workspace):
    """After a click, the profile's hashed email is synced to /id with the visitor ID."""
    from audiencehub.campaign.sharing.data_sources import (
        ReconciliationKey,
        accept_terms,
        add_shared_data_source,
    )
    from audiencehub.identity import HashScheme, IdKind, hash_id
    from audiencehub.people.data_sources import InboundIdType, add_data_source
    from audiencehub.people.schema import id_links, users
    from audiencehub.people.web.app import create_people_app

    _enable(workspace)
    vault = KeyVault(workspace.path)
    with workspace.campaign.begin() as connection:
        source = add_shared_data_source(
            connection,
            vault,
            label="CRM",
            key=ReconciliationKey.EMAIL,
            hashing=HashScheme.AAM,
            alias_dpid=7001,
        )
        accept_terms(connection, source["id"], an_admin(connection))
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
    people = TestClient(create_people_app(workspace.people))
    _, signer = server
    app = create_campaign_app(
        services_of(
            workspace,
            signer=signer,
            people_http=lambda _url: people,
            tracking_declared_source=source["id"],
        )
    )
    response = TestClient(app, follow_redirects=False).get(f"/r/{_token(signer)}")
    visitor = visitor_id_from_amcv(unquote(response.cookies[COOKIE])).value
    device, customer = users.alias("device"), users.alias("customer")
    with workspace.people.connect() as connection:
        rows = connection.execute(
            select(device.c.external_id, customer.c.external_id, id_links.c.auth_state).select_from(
                id_links.join(device, device.c.id == id_links.c.device_user_id).join(
                    customer, customer.c.id == id_links.c.customer_user_id
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (visitor, hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL), 1)
    ]
