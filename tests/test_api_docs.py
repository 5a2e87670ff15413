"""docs/api.md lists every operation of both apps' OpenAPI documents."""

from __future__ import annotations

from pathlib import Path

from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.people.web.app import create_people_app
from tests.helpers import services_of

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_every_route_is_in_the_route_table(sqlite_workspace):
    table = REFERENCE.read_text(encoding="utf-8")
    apps = (
        create_campaign_app(services_of(sqlite_workspace)),
        create_people_app(sqlite_workspace.people),
    )
    for app in apps:
        for path, operations in app.openapi()["paths"].items():
            for method in operations:
                assert f"`{method.upper()} {path}`" in table, f"{method} {path}"
