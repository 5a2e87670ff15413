"""Shared fixtures: workspaces on SQLite and on the local PostgreSQL server."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from audiencehub.workspace import Workspace, init_workspace

PG_ADMIN_URL = os.environ.get(
    "AUDIENCEHUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A loopback port nothing listens on (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 30.0) -> None:
    """Return once something accepts connections on the loopback ``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        else:
            return


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = f"ah_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is needed for the storage tests ({exc}); "
            "start it or set AUDIENCEHUB_TEST_PG_URL"
        )
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend a storage test runs on; every such test runs on both."""
    return str(request.param)


@pytest.fixture
def workspace(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """A migrated workspace whose campaign database is on ``backend``."""
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    ws = init_workspace(tmp_path / "ws", campaign_db_url=url, people_db_url=url)
    yield ws
    ws.dispose()


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on the embedded SQLite default."""
    ws = init_workspace(tmp_path / "ws")
    yield ws
    ws.dispose()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for the whole session."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials the local S3 server accepts, in the standard AWS variables."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def drop_urls(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[str, str, str | None]:
    """(export URL, import URL, S3 endpoint): folders, or a fresh bucket on the S3 server."""
    if kind == "folder":
        return str(tmp_path / "export"), str(tmp_path / "import"), None
    request.getfixturevalue("aws_env")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket = f"drops-{tmp_path.name.replace('_', '-').lower()[:40]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/exportSharedAudience", f"s3://{bucket}/importSharedAudience", endpoint
