"""Fixtures: workspaces on SQLite and on the local PostgreSQL server, an S3 server.

Each backend's workspace is migrated once per test run, as a template. A SQLite
test gets a copied folder; PostgreSQL tests share one database emptied back to
its migrated state before each (a test that migrates gets a ``CREATE DATABASE
... TEMPLATE`` copy). Both cost a fraction of running the migrations again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from audiencehub.engines.spark import SparkSettings, spark_session
from audiencehub.workspace import Workspace
from tests.helpers import (
    clone_workspace,
    drop_pg_database,
    free_port,
    make_template,
    new_pg_database,
    pg_database_url,
    reset_database,
    seed_rows,
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = new_pg_database()
    yield pg_database_url(name)
    drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend a storage test runs on; every such test runs on both."""
    return str(request.param)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite workspace, made once per run, that tests copy."""
    return make_template(tmp_path_factory.mktemp("template") / "ws")


@pytest.fixture(scope="session")
def postgresql_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A workspace on a migrated PostgreSQL database, made once per run, that tests copy."""
    database = new_pg_database()
    folder = make_template(tmp_path_factory.mktemp("pg-template") / "ws", database)
    yield folder, database
    drop_pg_database(database)


@pytest.fixture(scope="session")
def postgresql_shared(
    postgresql_template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str, dict[str, list[dict[str, Any]]]]]:
    """One migrated PostgreSQL database for the run, reset before each test that uses it."""
    template, template_db = postgresql_template
    database = new_pg_database(template_db)
    folder = tmp_path_factory.mktemp("pg-shared") / "ws"
    clone_workspace(template, folder, database).dispose()
    yield folder, database, seed_rows(pg_database_url(database))
    drop_pg_database(database)


@pytest.fixture
def workspace(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """A migrated workspace whose databases are on ``backend``.

    On PostgreSQL, tests share one database, emptied back to its migrated state
    before each; a test that changes the schema itself (``fresh_database``) gets a
    copy of the template database of its own.
    """
    if backend == "sqlite":
        ws = clone_workspace(request.getfixturevalue("sqlite_template"), tmp_path / "ws")
        yield ws
        ws.dispose()
        return
    if request.node.get_closest_marker("fresh_database"):
        template, template_db = request.getfixturevalue("postgresql_template")
        database = new_pg_database(template_db)
        ws = clone_workspace(template, tmp_path / "ws", database)
        yield ws
        ws.dispose()
        drop_pg_database(database)
        return
    shared, database, seed = request.getfixturevalue("postgresql_shared")
    reset_database(pg_database_url(database), seed)
    ws = clone_workspace(shared, tmp_path / "ws")
    yield ws
    ws.dispose()


@pytest.fixture
def sqlite_workspace(sqlite_template: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on the embedded SQLite default."""
    ws = clone_workspace(sqlite_template, tmp_path / "ws")
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


@pytest.fixture(scope="session")
def spark_settings() -> SparkSettings:
    """Spark in local mode, started once for the run (its JVM takes seconds to start)."""
    settings = SparkSettings(
        "local[2]",
        {
            "spark.driver.memory": "1g",
            "spark.sql.shuffle.partitions": "2",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
        },
    )
    spark_session(settings)
    return settings
