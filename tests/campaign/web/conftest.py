"""An API client of the campaign app with a user of each role and their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from audiencehub.campaign.users import Role, add_user, create_token
from audiencehub.campaign.web.app import create_campaign_app
from tests.helpers import services_of

PASSWORD = "correct horse battery"


@dataclass
class Api:
    """The app's client, each role's bearer header, and the services behind them."""

    client: TestClient
    headers: dict[Role, dict[str, str]]
    services: object

    def as_(self, role: Role) -> dict[str, str]:
        """The bearer header of the user with ``role`` (named after it)."""
        return self.headers[role]


@pytest.fixture
def api(workspace) -> Iterator[Api]:
    services = services_of(workspace, tracking_base_url="https://t.example.com")
    headers = {}
    with workspace.campaign.begin() as connection:
        for role in Role:
            add_user(connection, role.value, PASSWORD, role)
            _, token = create_token(connection, role.value, "tests")
            headers[role] = {"Authorization": f"Bearer {token}"}
    with TestClient(create_campaign_app(services), follow_redirects=False) as client:
        yield Api(client, headers, services)
