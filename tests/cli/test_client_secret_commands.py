"""``audiencehub people clients rotate`` and the API clients page's *New secret*."""

from __future__ import annotations

from fastapi.testclient import TestClient

from audiencehub.people.clients import ClientRole, register_client
from audiencehub.people.web.app import create_people_app
from audiencehub.workspace import open_workspace
from tests.helpers import cli_ok
from tests.helpers import client_secret_works as works


def test_the_command_line_and_the_page_rotate_a_secret(cli, tmp_path):
    ws = tmp_path / "ws"
    cli_ok(cli, "init", str(ws))
    added = cli_ok(cli, "people", "clients", "add", "--name", "partner", "-w", str(ws)).out
    client_id = added.split("client id:", 1)[1].split()[0]
    old = added.split("client secret:", 1)[1].split()[0]
    shown = cli_ok(cli, "people", "clients", "rotate", client_id, "--overlap-hours", "0",
                   "-w", str(ws)).out  # fmt: skip
    new = shown.split("client secret:", 1)[1].split()[0]
    assert "stopped working" in shown and new != old

    engine = open_workspace(ws).people
    assert works(engine, client_id, new) and not works(engine, client_id, old)
    with engine.begin() as connection:
        admin_id, admin_secret = register_client(connection, "ops", ClientRole.ADMIN)
    http = TestClient(create_people_app(engine), follow_redirects=False)
    signed = http.post("/login", data={"name": admin_id, "password": admin_secret})
    assert signed.status_code == 303
    csrf = http.get("/clients").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    page = http.post(f"/clients/{client_id}/secret", data={"csrf_token": csrf})
    assert page.status_code == 200 and "has a new secret, shown this once" in page.text
    assert "The previous secret works until" in page.text
    newest = page.text.split("shown this once: <code>", 1)[1].split("<", 1)[0]
    assert works(engine, client_id, newest) and works(engine, client_id, new)
