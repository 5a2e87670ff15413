"""Both apps served for real (uvicorn, free ports) on a demo workspace, and a headless
Chromium (Debian's, driven by Playwright) that checks every page it opens.

Every visit records console errors and failed requests, runs axe-core, and
writes a screenshot to ``artifacts/screenshots/``. The servers run without the
scheduler, so a job runs only when a test (or a page) runs it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from audiencehub.people.destinations import update_destination
from audiencehub.people.segments import add_segment
from audiencehub.runtime.demo import run_demo
from audiencehub.runtime.servers import build_campaign_server, build_people_server
from tests.helpers import free_port, serve_in_thread

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)",
)


@dataclass
class Site:
    """The two apps' base URLs and the demo's logins."""

    campaign: str
    people: str
    logins: dict[str, str]
    workspace: Path


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A demo workspace served on free ports, with one more segment to import by dialog."""
    campaign_port, people_port = free_port(), free_port()
    people_url = f"http://127.0.0.1:{people_port}"
    result = run_demo(tmp_path_factory.mktemp("site") / "ws", count=300, people_url=people_url)
    workspace = result.workspace
    logins = dict(result.logins)
    with workspace.people.begin() as connection:
        add_segment(connection, segment_id=902, name="Sneaker fans", rule="T101")
        update_destination(connection, 46390, segment_ids=[900, 902])
    servers = [
        serve_in_thread(build_campaign_server(workspace, scheduler=False), campaign_port),
        serve_in_thread(build_people_server(workspace, scheduler=False), people_port),
    ]
    yield Site(f"http://127.0.0.1:{campaign_port}", people_url, logins, workspace.path)
    for server in servers:
        server.should_exit = True


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Tab:
    """One page of the browser that checks what it visits."""

    def __init__(self, page: object) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.page = page
        self.errors: list[str] = []
        self.axe = Axe()
        page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on(
            "response",
            lambda r: (
                self.errors.append(f"{r.status}: {r.url}")
                if r.status >= 500 or (r.status >= 400 and r.request.resource_type != "document")
                else None
            ),
        )

    def _failed(self, request: object) -> None:
        failure = request.failure  # type: ignore[attr-defined]
        if failure != "net::ERR_ABORTED":  # a load the next navigation cancelled, not a failure
            self.errors.append(f"failed: {request.url} {failure}")  # type: ignore[attr-defined]

    def _console(self, message: object) -> None:
        if message.type == "error":  # type: ignore[attr-defined]
            self.errors.append(f"console: {message.text}")  # type: ignore[attr-defined]

    def check(self, name: str) -> None:
        """No console error, no failed request, no serious or critical axe violation; and
        a screenshot of the page as it is."""
        self.page.wait_for_load_state("networkidle")
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        results = self.axe.run(self.page)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        problems, self.errors = self.errors + serious, []
        assert not problems, f"{name}: " + "\n".join(problems)

    def visit(self, url: str, name: str, status: int = 200) -> None:
        """Open ``url``, expect ``status`` for it, and check the page."""
        response = self.page.goto(url)
        assert response is not None and response.status == status, (name, response)
        if status != 200:  # the browser reports the page's own status as a console error
            expected = f"status of {status}"
            self.errors = [e for e in self.errors if expected not in e]
        self.check(name)


def sign_in(tab: Tab, base: str, name: str, secret: str) -> None:
    """Sign in through the form."""
    tab.page.goto(f"{base}/login")
    tab.page.fill("#name", name)
    tab.page.fill("#password", secret)
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(re.compile(re.escape(base) + "/$"))
