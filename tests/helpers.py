"""Helpers the tests import by name: ports, drop locations, files, services, workspaces.

Fixtures stay in ``conftest.py``; what a test calls lives here, so a reader
finds it by following the import.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from sqlalchemy import Engine, Table, create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sharing.people_link import PeopleClient
from audiencehub.config import CONFIG_FILE
from audiencehub.errors import InvalidCredentials
from audiencehub.people.clients import authenticate_client
from audiencehub.workspace import PEOPLE_LAKE, Workspace, init_workspace, open_workspace

PG_ADMIN_URL = os.environ.get(
    "AUDIENCEHUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A loopback port nothing listens on (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_in_thread(app: object, port: int) -> uvicorn.Server:
    """``app`` served for real by uvicorn on ``port`` of the loopback, in a daemon thread
    (set ``should_exit`` to stop it)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server on {port} did not start")
        time.sleep(0.05)
    return server


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


def cli_ok(cli: Callable[..., Any], *args: str) -> Any:
    """Run the CLI through the ``cli`` fixture and insist it succeeds, showing stderr if not."""
    result = cli(*args)
    assert result.code == 0, result.err
    return result


def write_inbound(folder: Path, name: str, lines: list[str]) -> Path:
    """Write an inbound file (gzip when the name ends in .gz) under folder."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


_SERVICE_FIELDS = frozenset(field.name for field in dataclasses.fields(CampaignServices))


def services_of(workspace: Workspace, **changes: Any) -> CampaignServices:
    """The workspace's campaign services, with services or settings replaced by keyword.

    ``signer=...`` or ``mailer=...`` replace a service; any other keyword
    (``api_token=...``, ``tracking_domain=...``) changes a setting.
    """
    services = CampaignServices.of(workspace)
    settings = {k: v for k, v in changes.items() if k not in _SERVICE_FIELDS}
    parts = {k: v for k, v in changes.items() if k in _SERVICE_FIELDS}
    if settings:
        parts["settings"] = services.settings.model_copy(update=settings)
    return dataclasses.replace(services, **parts)


# --- workspaces cloned from a template migrated once per test run -----------------------


def pg_database_url(name: str) -> str:
    """The URL of database ``name`` on the test PostgreSQL server."""
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def pg_admin(statement: str) -> None:
    """Run one statement on the test server's maintenance database, outside a transaction."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is needed for the storage tests ({exc}); "
            "start it or set AUDIENCEHUB_TEST_PG_URL"
        )
    finally:
        admin.dispose()


def new_pg_database(template: str | None = None) -> str:
    """Create an empty database (or a copy of ``template``) and return its name."""
    name = f"ah_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    pg_admin(f'CREATE DATABASE "{name}"{copy}')
    return name


def drop_pg_database(name: str) -> None:
    """Drop a test database, whoever is still connected."""
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_template(folder: Path, database: str | None = None) -> Path:
    """A migrated workspace to clone: SQLite in ``folder``, or both systems on ``database``."""
    url = pg_database_url(database) if database else None
    workspace = init_workspace(folder, campaign_db_url=url, people_db_url=url)
    workspace.dispose()  # SQLite checkpoints its WAL; PostgreSQL lets the template be copied
    return folder


def clone_workspace(template: Path, folder: Path, database: str | None = None) -> Workspace:
    """A workspace in ``folder`` with the template's settings, key and migrated databases.

    SQLite files are copied; a PostgreSQL workspace gets ``database``, which the
    caller made from the template database, in place of the template's.
    """
    shutil.copytree(template, folder)
    if database:
        config = folder / CONFIG_FILE
        settings = open_workspace(template).settings
        old = make_url(settings.campaign_db_url).database or ""
        config.write_text(
            config.read_text(encoding="utf-8").replace(f'/{old}"', f'/{database}"'),
            encoding="utf-8",
        )
    return open_workspace(folder)


def people_partner(workspace: Workspace) -> Callable[[], PeopleClient]:
    """Campaign's client of the workspace's own people service, the app called in process."""
    from fastapi.testclient import TestClient

    from audiencehub.people.clients import register_client
    from audiencehub.people.web.app import create_people_app

    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "campaign")
    http = TestClient(create_people_app(workspace.people))
    return lambda: PeopleClient(http, client_id, secret)


def fillable_segment(workspace: Workspace, segment_id: int, dpid: int) -> None:
    """A people segment that data source ``dpid``'s inbound data can fill (its own trait)."""
    from audiencehub.errors import NotFound
    from audiencehub.people.data_sources import InboundIdType, add_data_source, get_data_source
    from audiencehub.people.shared_audiences import create_shared_segment

    with workspace.people.begin() as connection:
        try:
            get_data_source(connection, dpid)
        except NotFound:
            add_data_source(
                connection, dpid=dpid, name=f"Source {dpid}", inbound_id_type=InboundIdType.CUSTOMER
            )
        create_shared_segment(
            connection, name=f"Shared {segment_id}", data_source_id=dpid, segment_id=segment_id
        )


# --- a shared PostgreSQL database, reset between tests ---------------------------------


def _tables() -> list[Table]:
    from audiencehub.campaign.schema import metadata as campaign_metadata
    from audiencehub.people.schema import metadata as people_metadata

    return [*campaign_metadata.sorted_tables, *people_metadata.sorted_tables]


def seed_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """The rows the migrations themselves wrote (a default key scheme, ...), per table."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {
                table.name: [dict(row) for row in rows]
                for table in _tables()
                if (rows := connection.execute(select(table)).mappings().all())
            }
    finally:
        engine.dispose()


def reset_database(url: str, seed: dict[str, list[dict[str, Any]]]) -> None:
    """Bring a migrated database back to its state right after the migrations.

    Emptying every table and writing back what the migrations wrote costs a few
    tens of milliseconds, where copying a template database costs half a second.
    Connections a test left open are ended first, so none holds a lock.
    """
    engine = create_engine(url, poolclass=NullPool)
    tables = {table.name: table for table in _tables()}
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            names = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            # the people lake's catalog: the next test's workspace makes a new one
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PEOPLE_LAKE} CASCADE"))
            for name, rows in seed.items():
                connection.execute(insert(tables[name]), rows)
    finally:
        engine.dispose()


def an_admin(connection: Any, name: str = "tester") -> Any:
    """A campaign admin named ``name`` (made on first need), to accept terms as."""
    from audiencehub.campaign.users import Role, add_user, get_user
    from audiencehub.errors import NotFound

    try:
        return get_user(connection, name)
    except NotFound:
        return add_user(connection, name, "correct horse battery", Role.ADMIN)


def held_traits(engine: Any, external_id: str, namespace: int | None = None) -> set[int]:
    """The trait ids the people lake says ``external_id`` holds (of ``namespace``, if given)."""
    from audiencehub.people.lake import reading
    from audiencehub.people.schema import users

    query = select(users.c.id).where(users.c.external_id == external_id)
    if namespace is not None:
        query = query.where(users.c.data_source_id == namespace)
    with engine.connect() as connection:
        ids = [int(i) for i in connection.execute(query).scalars()]
    if not ids:
        return set()
    with reading(engine) as session:
        rows = session.execute(
            "SELECT trait_id FROM lake.realisations WHERE list_contains(?, user_id)", [ids]
        ).fetchall()
    return {int(row[0]) for row in rows}


def realise(engine: Any, pairs: list[tuple[int, int]]) -> None:
    """Write trait realisations (user id, trait id) straight into the people lake."""
    import pyarrow as pa

    from audiencehub.people.lake import commit, writing

    with writing(engine) as session:
        session.register(
            "pairs",
            pa.table(
                {
                    "user_id": pa.array([p[0] for p in pairs], pa.int64()),
                    "trait_id": pa.array([p[1] for p in pairs], pa.int32()),
                }
            ),
        )
        session.execute("BEGIN")
        session.execute("INSERT INTO lake.realisations SELECT user_id, trait_id, now() FROM pairs")
        commit(session, "test realisations")


def segment_members(engine: Any, rule: str, merge: str, namespace: int | None = None) -> set[str]:
    """The external IDs a rule holds now under ``merge``, evaluated over the lake."""
    import contextlib

    from audiencehub.engines import extract
    from audiencehub.engines.session import DuckBatch
    from audiencehub.people.lake import reading
    from audiencehub.people.schema import users
    from audiencehub.people.segment_evaluation import Evaluation, evaluate
    from audiencehub.people.segment_rules import parse_rule

    with reading(engine) as session, contextlib.closing(session.cursor()) as work:
        evaluate(engine, DuckBatch(work), [Evaluation(1, parse_rule(rule), str(merge), namespace)])
        work.register("names", extract(engine, select(users.c.id, users.c.external_id)))
        rows = work.execute(
            "SELECT n.external_id FROM evaluated e JOIN names n ON n.id = e.user_id"
        ).fetchall()
    return {str(row[0]) for row in rows}


def spark_submit(*args: str) -> subprocess.CompletedProcess[str]:
    """Run an ``audiencehub`` command with ``spark-submit`` in local mode, in its own JVM
    (one core, no UI), as an operator would on a cluster."""
    from audiencehub.runtime import spark_submit as entry

    return subprocess.run(
        [
            str(Path(sys.executable).parent / "spark-submit"),
            "--master",
            "local[1]",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.driver.bindAddress=127.0.0.1",
            entry.__file__,
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )


BENCH = Path(__file__).resolve().parent.parent / "bench"


def bench_module(name: str) -> Any:
    """The benchmark script ``bench/<name>.py`` as a module. The scripts import their
    neighbours (``measure``) by name, so ``bench`` is on the path
    while they load."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def client_secret_works(engine: Engine, client_id: str, secret: str) -> bool:
    """Whether the people service takes ``secret`` as the client's now."""
    with engine.begin() as connection:
        try:
            authenticate_client(connection, client_id, secret)
        except InvalidCredentials:
            return False
    return True
