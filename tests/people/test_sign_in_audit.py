"""The people service's trail of sign-ins: tokens issued or refused at ``/oauth/token``,
sign-ins to the pages and sign-outs, and a lockout; a kind of entries of their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from audiencehub.db.audit_trail import record_entry
from audiencehub.people.audit_trail import list_audit, summary
from audiencehub.people.clients import ClientRole, register_client
from audiencehub.people.schema import audit_log
from audiencehub.people.web.app import HttpLimits, create_people_app


def test_tokens_and_page_sign_ins_are_recorded_with_the_client_the_way_and_the_address(
    workspace,
):
    with workspace.people.begin() as connection:
        partner_id, partner_secret = register_client(connection, "partner")
        ops_id, ops_secret = register_client(connection, "ops", ClientRole.ADMIN)
    http = TestClient(create_people_app(workspace.people), follow_redirects=False)
    form = {"grant_type": "client_credentials", "client_id": partner_id}
    assert http.post("/oauth/token", data={**form, "client_secret": partner_secret}).is_success
    assert http.post("/oauth/token", data={**form, "client_secret": "guess"}).status_code == 401
    signed = http.post("/login", data={"name": ops_id, "password": ops_secret, "next": "/"})
    assert signed.status_code == 303
    page = http.get("/").text
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert http.post("/logout", data={"csrf_token": csrf}).status_code == 303
    # a partner client may take tokens, not sign in to the pages: refused, and recorded so
    page = http.post("/login", data={"name": partner_id, "password": partner_secret})
    assert page.status_code == 401

    with workspace.people.connect() as connection:
        entries = list(reversed(list_audit(connection, 100, kind="sign-ins")))
        changes = list_audit(connection, 100, kind="changes")
    partner, ops = f"client {partner_id} (partner)", f"client {ops_id} (ops)"
    assert [(e["action"], e["actor"], e["details"]) for e in entries] == [
        ("signed in", partner, {"via": "OAuth token", "address": "testclient"}),
        (
            "sign-in refused",
            "someone at testclient",
            {"as": partner, "via": "OAuth token", "address": "testclient"},
        ),
        ("signed in", ops, {"via": "pages", "address": "testclient"}),
        ("signed out", ops, {"via": "pages", "address": "testclient"}),
        (
            "sign-in refused",
            "someone at testclient",
            {"as": partner, "via": "pages", "address": "testclient"},
        ),
    ]
    assert summary(entries[0]) == "via OAuth token, address testclient"
    assert [e["action"] for e in changes] == ["client registered"] * 2  # no sign-in among them


def test_a_lockout_is_recorded_once_with_what_it_locked(workspace):
    http = TestClient(
        create_people_app(
            workspace.people, limits=HttpLimits(login_max_failures=2, login_lockout_seconds=30)
        )
    )

    def ask(who: str) -> int:
        form = {"grant_type": "client_credentials", "client_id": who, "client_secret": "x"}
        return http.post("/oauth/token", data=form).status_code

    assert [ask("ah_nobody") for _ in range(4)] == [401, 401, 429, 429]
    with workspace.people.connect() as connection:
        entries = list(reversed(list_audit(connection, 100, kind="sign-ins")))
    assert [e["action"] for e in entries] == ["sign-in refused", "sign-ins locked"]
    assert entries[-1]["details"] == {
        "as": "an unknown client name",
        "via": "OAuth token",
        "address": "testclient",
        "locked": ["address"],  # a client's secret cannot be guessed: only the address
        "for_seconds": 30,
    }


def test_sign_ins_past_their_retention_are_deleted_and_other_entries_kept(workspace):
    """Sign-ins name addresses: a sign-in deletes those older than the retention (other
    entries stay, however old)."""
    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "partner")
        long_ago = datetime.now(UTC) - timedelta(days=31)
        for action in ("signed in", "client registered"):
            record_entry(connection, audit_log, action, {"address": "192.0.2.1"}, actor="x")
        connection.execute(update(audit_log).values(at=long_ago))
    limits = HttpLimits(sign_in_retention_days=30)
    http = TestClient(create_people_app(workspace.people, limits=limits))
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert http.post("/oauth/token", data=form).is_success
    with workspace.people.connect() as connection:
        entries = list_audit(connection, 100)
    assert sorted((e["action"], e["at"] < long_ago + timedelta(days=1)) for e in entries) == [
        ("client registered", True),  # both made old above: kept
        ("client registered", True),
        ("signed in", False),  # the one just now; the old one is gone
    ]
