"""The REST API used as a script would use it, against `audiencehub serve` in a subprocess.

An admin made with the CLI signs in, creates a marketer and a token for them;
with that token the script imports profiles, runs a workflow, sends a
delivery, clicks a tracked link from the outbox, and reads the delivery's
report with the click counted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from email import message_from_bytes

import httpx

from tests.helpers import free_port

WORKFLOW = """name: French
activities:
  - {id: q, type: query, filter: "country = 'FR'"}
  - {id: s, type: save_audience, input: q, mode: create_or_update, audience: French}
"""


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        else:
            return


def test_a_script_drives_the_api_end_to_end(tmp_path):
    workspace = tmp_path / "ws"
    campaign, people = free_port(), free_port()
    base = f"http://127.0.0.1:{campaign}"
    env = {
        **os.environ,
        "AUDIENCEHUB_WORKSPACE": str(workspace),
        "AUDIENCEHUB_PASSWORD": "the admin's long password",
        "AUDIENCEHUB_TRACKING_BASE_URL": base,
    }
    cli = [sys.executable, "-m", "audiencehub"]
    subprocess.run([*cli, "init", str(workspace)], check=True, env=env, capture_output=True)
    subprocess.run(
        [*cli, "users", "add", "boss", "--role", "admin"], check=True, env=env, capture_output=True
    )
    server = subprocess.Popen(
        [*cli, "serve", "--campaign-port", str(campaign), "--people-port", str(people)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"{base}/api/openapi.json")
        with httpx.Client(base_url=base, timeout=30) as admin:
            signed = admin.post(
                "/api/v1/session", json={"name": "boss", "password": env["AUDIENCEHUB_PASSWORD"]}
            )
            assert signed.status_code == 200, signed.text
            csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
            made = admin.post(
                "/api/v1/users",
                json={"name": "mara", "password": "mara's long password", "role": "marketer"},
                headers=csrf,
            )
            assert made.status_code == 201, made.text
            token = admin.post(
                "/api/v1/tokens", json={"name": "weekly script", "user": "mara"}, headers=csrf
            ).json()["token"]

        with httpx.Client(
            base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            imported = api.post(
                "/api/v1/profiles/imports",
                content="email,first_name,country\njo@example.com,Jo,FR\nbo@example.com,Bo,DE\n",
                headers={"Content-Type": "text/csv"},
            ).json()
            assert imported["inserted"] == 2
            ran = api.post(
                "/api/v1/workflows/runs",
                content=WORKFLOW,
                headers={"Content-Type": "application/yaml"},
            )
            assert ran.status_code == 201 and ran.json()["activities"]["q"]["outputs"]["q"] == 1
            sent = api.post(
                "/api/v1/deliveries",
                json={
                    "audience": "French",
                    "name": "Bonjour",
                    "subject": "Bonjour {{ profile.first_name }}",
                    "text": "Soldes : https://shop.example.com/soldes",
                    "html": '<a href="https://shop.example.com/soldes">soldes</a>',
                },
            ).json()
            assert sent["sent"] == 1
            [eml] = (workspace / "outbox").glob("*.eml")
            text = next(
                part.get_payload(decode=True).decode()
                for part in message_from_bytes(eml.read_bytes()).walk()
                if part.get_content_type() == "text/plain"
            )
            link = re.search(re.escape(base) + r"/r/\S+", text)[0]
            clicked = httpx.get(link, follow_redirects=False, timeout=10)
            assert clicked.headers["location"] == "https://shop.example.com/soldes"
            report = api.get(f"/api/v1/deliveries/{sent['delivery_id']}/report").json()
            assert (report["sent"], report["unique_clicks"], report["total_clicks"]) == (1, 1, 1)
            assert report["links"][0]["url"] == "https://shop.example.com/soldes"
            refused = api.post("/api/v1/users", json={"name": "x", "password": "y" * 12})
            assert refused.status_code == 403  # a marketer does not add users
    finally:
        server.terminate()
        server.communicate(timeout=10)
