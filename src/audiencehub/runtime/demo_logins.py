"""The demo workspace's logins, so its first screen works with no further step.

The demo admin signs in to campaign's pages; campaign's connection to the
people service is set with a partner client of its own (the home page's
*Test* then answers); an admin client signs in to the people service's pages;
a personal API token lets scripts in. The secrets are written once to
``WORKSPACE/demo-logins.json``, owner-only, and shown by ``audiencehub demo``
and ``audiencehub serve`` on a demo workspace.
"""

from __future__ import annotations

import json
from typing import TypedDict

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sharing.people_link import set_people_link
from audiencehub.campaign.users import create_token
from audiencehub.files import write_private
from audiencehub.people.clients import ClientRole, register_client
from audiencehub.runtime.demo_sharing import DEMO_PASSWORD, DEMO_USER, demo_user
from audiencehub.workspace import Workspace

__all__ = ["LOGINS_FILE", "DemoLogins", "demo_logins", "read_demo_logins"]

LOGINS_FILE = "demo-logins.json"


class DemoLogins(TypedDict):
    """What the demo's first screen needs."""

    campaign_user: str
    campaign_password: str
    api_token: str
    people_client_id: str
    people_client_secret: str


def read_demo_logins(workspace: Workspace) -> DemoLogins | None:
    """The logins a demo wrote, if this workspace is one."""
    path = workspace.path / LOGINS_FILE
    if not path.exists():
        return None
    logins: DemoLogins = json.loads(path.read_text(encoding="utf-8"))
    return logins


def demo_logins(workspace: Workspace, people_url: str = "http://127.0.0.1:8081") -> DemoLogins:
    """Make the demo's logins and the connection once; later runs read them back."""
    found = read_demo_logins(workspace)
    if found is not None:
        return found
    with workspace.people.begin() as connection:
        partner_id, partner_secret = register_client(connection, "campaign (demo connection)")
        admin_id, admin_secret = register_client(connection, "demo data team", ClientRole.ADMIN)
    services = CampaignServices.of(workspace)
    with workspace.campaign.begin() as connection:
        demo_user(connection)
        _, token = create_token(connection, DEMO_USER, "demo scripts")
        set_people_link(
            connection,
            services.vault,
            people_url=people_url,
            client_id=partner_id,
            client_secret=partner_secret,
            org_id="DEMO0000000000000000@AdobeOrg",
            enabled=True,
            demo=True,
        )
    logins = DemoLogins(
        campaign_user=DEMO_USER,
        campaign_password=DEMO_PASSWORD,
        api_token=token,
        people_client_id=admin_id,
        people_client_secret=admin_secret,
    )
    write_private(workspace.path / LOGINS_FILE, json.dumps(logins, indent=2).encode())
    return logins
