"""Both apps' health probes: liveness looks at nothing; readiness checks the database
with a time limit, counts what waits in the spools, and says no more than a check's
name and state to callers without credentials."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.people.web.app import create_people_app
from audiencehub.restapi import health
from tests.helpers import services_of

PROBLEM = "application/problem+json"


@pytest.fixture(params=["campaign", "people"])
def app(request, sqlite_workspace):
    if request.param == "campaign":
        return create_campaign_app(services_of(sqlite_workspace)), sqlite_workspace.campaign
    return create_people_app(sqlite_workspace.people), sqlite_workspace.people


def test_both_probes_answer_without_credentials(app):
    built, _ = app
    http = TestClient(built)
    live = http.get("/healthz")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    ready = http.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["checks"] == {"database": "ok"}
    assert body["spooled"] and all(count == 0 for count in body["spooled"].values())


def test_a_database_that_fails_or_hangs_makes_the_app_not_ready_but_alive(app, monkeypatch, caplog):
    built, engine = app
    http = TestClient(built)
    url = engine.url.render_as_string(hide_password=False)

    def broken():
        raise RuntimeError(f"cannot reach {url}")

    release = threading.Event()
    monkeypatch.setattr(health, "CHECK_SECONDS", 0.2)
    for failure in (broken, lambda: release.wait(5)):
        monkeypatch.setattr(engine, "connect", failure)
        answer = http.get("/readyz")
        assert answer.status_code == 503 and answer.headers["content-type"] == PROBLEM
        assert answer.json()["checks"] == {"database": "failing"}
        assert "database" in answer.json()["detail"] and url not in answer.text
        assert http.get("/healthz").status_code == 200
    assert f"cannot reach {url}" in caplog.text  # why is in the log, for the operator
    monkeypatch.undo()  # the database is back while the hung check still hangs
    assert http.get("/readyz").status_code == 200
    release.set()
