"""`audiencehub serve` starts both apps for real, on loopback ports."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time

import httpx

from tests.helpers import free_port


@dataclasses.dataclass
class Served:
    """The two apps' base URLs, and what the server printed (once it has stopped)."""

    campaign: str
    people: str
    log: bytes = b""


@contextlib.contextmanager
def _served(workspace, **popen):
    """``audiencehub serve`` on a fresh workspace and free ports until the block ends,
    once its people port answers."""
    env = {**os.environ, "AUDIENCEHUB_WORKSPACE": str(workspace)}
    subprocess.run(
        [sys.executable, "-m", "audiencehub", "init", str(workspace)],
        check=True,
        env=env,
        capture_output=True,
    )
    campaign, people = free_port(), free_port()
    command = [sys.executable, "-m", "audiencehub", "serve"]
    ports = ["--campaign-port", str(campaign), "--people-port", str(people)]
    server = subprocess.Popen([*command, *ports], env=env, **popen)
    served = Served(f"http://127.0.0.1:{campaign}", f"http://127.0.0.1:{people}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{served.people}/id", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield served
    finally:
        server.terminate()
        served.log = server.communicate(timeout=10)[0] or b""


def test_serve_answers_on_both_ports(tmp_path):
    """The people service issues visitor IDs and the tracking server refuses forged links."""
    # uvicorn's access log on stdout
    with _served(tmp_path / "ws", stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as served:
        issued = httpx.get(f"{served.people}/id", timeout=2)
        assert issued.status_code == 200 and len(issued.json()["d_mid"]) == 38
        forged = httpx.get(f"{served.campaign}/r/forged", timeout=5, follow_redirects=False)
        assert forged.status_code == 404 and "location" not in forged.headers
        synced = httpx.get(f"{served.people}/id?d_cid=7015%01secret-crm-id%011")
        assert synced.status_code == 400  # no such data source; the request is logged anyway
    assert b"GET /id HTTP/1.1" in served.log  # the access log works ...
    assert b"secret-crm-id" not in served.log and b"d_cid" not in served.log  # ... unqueried


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path, cli):
    """A port something else holds: exit 2 and one line naming the port and the option."""
    import socket

    cli("init", str(tmp_path / "ws"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = cli("serve", "-w", str(tmp_path / "ws"), "--campaign-port", str(port))
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.err and "--campaign-port" in result.err


def test_serve_from_a_fresh_workspace_shows_both_sign_in_pages(tmp_path):
    """As the README's first command does: a fresh workspace served, and the home page of
    each app leads to its sign-in page."""
    with _served(tmp_path / "ws", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as served:
        for base in (served.campaign, served.people):
            home = httpx.get(f"{base}/", timeout=5)
            assert home.status_code == 303 and home.headers["location"] == "/login?next=/"
            login = httpx.get(f"{base}/login", timeout=5)
            assert login.status_code == 200 and "text/html" in login.headers["content-type"]
            assert '<form class="card narrow" method="post" action="/login">' in login.text
            assert "script-src 'self'" in login.headers["content-security-policy"]
