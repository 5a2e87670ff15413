"""`connection set|test` against the people service over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from audiencehub.people.clients import register_client
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.segments import add_segment
from audiencehub.people.traits import add_trait
from audiencehub.people.web.app import create_people_app
from audiencehub.workspace import open_workspace
from tests.helpers import free_port


@pytest.fixture
def people(cli, tmp_path) -> Iterator[tuple[str, str, str, str]]:
    """(workspace, people URL, client id, secret): a served people service with one segment."""
    ws = str(tmp_path / "ws")
    assert cli("init", ws).code == 0
    workspace = open_workspace(Path(ws))
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_trait(connection, trait_id=101, name="Shoes", data_source_id=7001)
        add_segment(connection, segment_id=900, name="Shoe lovers", rule="T101")
        client_id, secret = register_client(connection, "campaign")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_people_app(workspace.people), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield ws, f"http://127.0.0.1:{port}", client_id, secret
    server.should_exit = True
    thread.join(timeout=5)
    workspace.dispose()


def _set(cli, ws, url, client_id, secret):
    return cli(
        "connection",
        "set",
        "--people-url",
        url,
        "--client-id",
        client_id,
        "--client-secret",
        secret,
        "--org-id",
        "ABC123@AdobeOrg",
        "-w",
        ws,
    )


def test_connection_test_gets_a_token_and_lists_shared_audiences(cli, people):
    ws, url, client_id, secret = people
    assert _set(cli, ws, url, client_id, secret).code == 0
    result = cli("connection", "test", "-w", ws)
    assert result.code == 0, result.err
    assert "Connected: 1 shared audience(s)" in result.out
    assert "900: Shoe lovers" in result.out
    assert secret not in result.out + result.err


def test_a_wrong_secret_and_an_unreachable_service_are_told_apart(cli, people):
    ws, url, client_id, secret = people
    assert _set(cli, ws, url, client_id, "not-the-secret-" + secret[:8]).code == 0
    refused = cli("connection", "test", "-w", ws)
    assert refused.code != 0
    assert "refused the client id or secret" in refused.err
    assert "not-the-secret" not in refused.out + refused.err
    assert _set(cli, ws, f"http://127.0.0.1:{free_port()}", client_id, secret).code == 0
    unreachable = cli("connection", "test", "-w", ws)
    assert unreachable.code != 0
    assert "cannot reach the people service" in unreachable.err
    assert "--people-url" in unreachable.err
