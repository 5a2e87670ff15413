"""Both apps' ``GET /metrics``: requests counted by route template (never by the path
asked), spools and the scheduled jobs' latest runs, for a viewer's credentials only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from audiencehub.campaign.schema import job_runs as campaign_runs
from audiencehub.campaign.users import Role, add_user, create_token
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.db.job_runs import run_recorded
from audiencehub.errors import RemoteError
from audiencehub.people.clients import ClientRole, issue_token, register_client
from audiencehub.people.schema import job_runs as people_runs
from audiencehub.people.web.app import create_people_app
from tests.helpers import services_of

PROBLEM = "application/problem+json"


@pytest.fixture(params=["campaign", "people"])
def app(request, workspace):
    """An app, a viewer's bearer header, its database, its job history and a path that
    names one (missing) thing by a template of the app's."""
    if request.param == "campaign":
        with workspace.campaign.begin() as connection:
            add_user(connection, "vic", "correct horse battery", Role.VIEWER)
            _, token = create_token(connection, "vic", "monitor")
        built = create_campaign_app(services_of(workspace))
        return (built, token, workspace.campaign, campaign_runs,
                ("/api/v1/profiles/jo@example.com", "/api/v1/profiles/{key}"))  # fmt: skip
    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "monitor", ClientRole.VIEWER)
        token, _ = issue_token(connection, client_id, secret)
    built = create_people_app(workspace.people)
    return (built, token, workspace.people, people_runs,
            ("/api/v1/segments/4242", "/api/v1/segments/{segment_id}"))  # fmt: skip


def _samples(text):
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_requests_are_counted_by_their_route_and_jobs_by_their_latest_run(app):
    built, token, engine, runs, (asked, template) = app
    http = TestClient(built)
    viewer = {"Authorization": f"Bearer {token}"}
    refused = http.get("/metrics")
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
    assert http.get(asked, headers=viewer).status_code == 404
    assert http.get("/no/such/page/4242", headers=viewer).status_code == 404
    run_recorded(engine, runs, "nightly", lambda: {"done": 1})

    def fails():
        raise RemoteError("the drop location did not answer")

    with pytest.raises(RemoteError):
        run_recorded(engine, runs, "hourly", fails)

    answer = http.get("/metrics", headers=viewer)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    counted = (("method", "GET"), ("route", template), ("status", "404"))
    assert samples[("audiencehub_http_requests_total", counted)] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("audiencehub_http_requests_total", unmatched)] == 1
    assert "4242" not in answer.text and "jo@example.com" not in answer.text
    assert samples[("audiencehub_job_last_run_failed", (("job", "hourly"),))] == 1
    assert samples[("audiencehub_job_last_run_failed", (("job", "nightly"),))] == 0
    assert ("audiencehub_job_last_success_timestamp_seconds", (("job", "nightly"),)) in samples
    assert ("audiencehub_job_last_success_timestamp_seconds", (("job", "hourly"),)) not in samples
    spooled = [v for (name, _), v in samples.items() if name == "audiencehub_spooled_events"]
    assert spooled and all(value == 0 for value in spooled)
    assert re.search(r"audiencehub_http_request_duration_seconds_count\{[^}]*\} 1\.0", answer.text)
