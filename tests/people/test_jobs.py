"""Technical jobs: on-demand runs are recorded, and the scheduler runs what is due."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiencehub.errors import ConfigurationError
from audiencehub.people.jobs import PeopleJob, due_jobs, run_job
from audiencehub.people.schema import job_runs
from audiencehub.runtime.servers import build_people_server
from tests.helpers import write_inbound


def _runs(workspace):
    with workspace.people.connect() as connection:
        return [tuple(r) for r in connection.execute(select(job_runs.c.job, job_runs.c.status))]


def test_on_demand_runs_are_recorded_and_reset_the_schedule(people):
    """A run now makes its job not due until its interval has passed."""
    drop = people.settings.people_inbound_drop
    write_inbound(Path(drop), "ftp_dpm_7001_1764300000.sync", ["c1\td_sid=101"])
    summary = run_job(people.people, PeopleJob.INGEST, inbound_drop=drop)
    assert summary["receipts"][0]["stored_records"] == 1
    assert PeopleJob.INGEST not in due_jobs(people.people)
    assert PeopleJob.INGEST in due_jobs(people.people, datetime.now(UTC) + timedelta(hours=12))
    assert PeopleJob.PUBLISH in due_jobs(people.people)
    assert _runs(people) == [("ingest", "succeeded")]


def test_failed_runs_are_recorded(people):
    """A job that fails is recorded as failed, and the error reaches the caller."""
    with pytest.raises(ConfigurationError):
        run_job(people.people, PeopleJob.INGEST, inbound_drop="s3://")
    assert _runs(people) == [("ingest", "failed")]


def test_the_server_runs_due_jobs(people):
    """Started with the app, the scheduler runs every job that never ran."""
    app = build_people_server(people)
    with TestClient(app) as client:
        assert client.get("/id").status_code == 200
        deadline = time.monotonic() + 20
        while len(_runs(people)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert sorted(_runs(people)) == [
        ("compaction", "succeeded"),
        ("ingest", "succeeded"),
        ("publish", "succeeded"),
        ("retention", "succeeded"),
    ]
    assert due_jobs(people.people) == []
