"""Campaign's trail of sign-ins: who signed in and out (pages or API) and from where, who
was refused, and what a run of failures locked; shown to admins only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from audiencehub.campaign.schema import audit_log
from audiencehub.campaign.sharing.audit import list_audit
from audiencehub.campaign.users import Role, add_user, create_token
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.db.audit_trail import record_entry
from audiencehub.sign_ins import SIGN_IN_ACTIONS
from tests.helpers import services_of

PASSWORD = "correct horse battery"
TYPED_IN_THE_NAME_FIELD = "my-password-in-the-wrong-field"


@pytest.fixture
def site(workspace):
    """The app (three failures lock for a minute), an admin and a viewer with tokens."""
    services = services_of(workspace, login_max_failures=3, login_lockout_seconds=60)
    headers = {}
    with workspace.campaign.begin() as connection:
        for name, role in (("ann", Role.ADMIN), ("vic", Role.VIEWER)):
            add_user(connection, name, PASSWORD, role)
            headers[name] = {"Authorization": f"Bearer {create_token(connection, name, 't')[1]}"}
    with TestClient(create_campaign_app(services), follow_redirects=False) as client:
        yield client, headers, services.engine


def sign_ins(engine) -> list[dict]:
    with engine.connect() as connection:
        entries = list_audit(connection, 1000)
    return [e for e in reversed(entries) if e["action"] in SIGN_IN_ACTIONS]


def test_sign_ins_and_outs_through_the_pages_and_the_api_name_the_user_way_and_address(site):
    client, _, engine = site
    signed = client.post("/api/v1/session", json={"name": "ann", "password": PASSWORD})
    assert signed.is_success
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
    assert client.delete("/api/v1/session", headers=csrf).status_code == 204
    page = client.post("/login", data={"name": "vic", "password": PASSWORD, "next": "/"})
    assert page.status_code == 303
    form = client.get("/").text
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert [(e["action"], e["actor"], e["details"]) for e in sign_ins(engine)] == [
        ("signed in", "user ann", {"via": "API", "address": "testclient"}),
        ("signed out", "user ann", {"via": "API", "address": "testclient"}),
        ("signed in", "user vic", {"via": "pages", "address": "testclient"}),
        ("signed out", "user vic", {"via": "pages", "address": "testclient"}),
    ]


def test_a_refusal_is_kept_though_its_attempt_is_rolled_back_and_an_unknown_name_is_not(site):
    """A wrong password for a known user names the user it was tried as; a name that is
    no user's (perhaps a password typed in the wrong field) is not written anywhere."""
    client, _, engine = site
    wrong = client.post("/api/v1/session", json={"name": "ann", "password": "guess"})
    assert wrong.status_code == 401
    page = client.post("/login", data={"name": TYPED_IN_THE_NAME_FIELD, "password": "x"})
    assert page.status_code == 401
    entries = sign_ins(engine)
    assert [(e["action"], e["actor"], e["details"]) for e in entries] == [
        (
            "sign-in refused",
            "someone at testclient",
            {"as": "user ann", "via": "API", "address": "testclient"},
        ),
        (
            "sign-in refused",
            "someone at testclient",
            {"as": "an unknown user name", "via": "pages", "address": "testclient"},
        ),
    ]
    with engine.connect() as connection:
        trail = json.dumps(list_audit(connection, 1000), default=str)
    assert TYPED_IN_THE_NAME_FIELD not in trail


def test_the_failure_that_locks_says_what_it_locked_and_attempts_while_locked_add_nothing(site):
    client, _, engine = site
    answers = [
        client.post("/api/v1/session", json={"name": "ann", "password": "guess"}).status_code
        for _ in range(3)
    ]
    assert answers == [401, 401, 401]
    locked = client.post("/api/v1/session", json={"name": "ann", "password": PASSWORD})
    assert locked.status_code == 429 and 0 < int(locked.headers["retry-after"]) <= 60
    page = client.post("/login", data={"name": "ann", "password": PASSWORD})
    assert page.status_code == 429 and "Too many failed sign-ins" in page.text
    entries = sign_ins(engine)
    assert [e["action"] for e in entries] == ["sign-in refused"] * 2 + ["sign-ins locked"]
    assert entries[-1]["details"] == {
        "as": "user ann",
        "via": "API",
        "address": "testclient",
        "locked": ["user", "address"],
        "for_seconds": 60,
    }


def test_admins_see_the_sign_ins_and_other_roles_do_not(site):
    client, headers, _ = site
    assert client.post("/api/v1/session", json={"name": "vic", "password": PASSWORD}).is_success
    client.cookies.clear()

    def actions(user: str) -> set[str]:
        items = client.get("/api/v1/audit", headers=headers[user]).json()["items"]
        return {e["action"] for e in items}

    assert "signed in" in actions("ann")
    assert actions("vic") and "signed in" not in actions("vic")  # the users' entries stay

    def page_as(user: str) -> str:
        client.cookies.clear()
        assert client.post("/login", data={"name": user, "password": PASSWORD}).status_code == 303
        return client.get("/audit").text

    assert "user added" in page_as("vic") and "address testclient" not in page_as("vic")
    assert "address testclient" in page_as("ann")


def test_sign_ins_past_their_retention_are_deleted_on_a_sign_in(workspace):
    services = services_of(workspace, sign_in_retention_days=30)
    with workspace.campaign.begin() as connection:
        add_user(connection, "ann", PASSWORD, Role.ADMIN)
        record_entry(connection, audit_log, "sign-in refused", {"address": "x"}, actor="x")
        connection.execute(update(audit_log).values(at=datetime.now(UTC) - timedelta(days=31)))
    with TestClient(create_campaign_app(services)) as client:
        assert client.post("/api/v1/session", json={"name": "ann", "password": PASSWORD}).is_success
    with workspace.campaign.connect() as connection:
        actions = [e["action"] for e in list_audit(connection, 100)]
    assert actions == ["signed in", "user added"]  # the old refusal is gone, the rest kept
