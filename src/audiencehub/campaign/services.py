"""Campaign's long-lived collaborators, built once from a workspace.

The key vault, the link signer (its key derived from the vault), the mailer
factory, the messaging bundle of delivery activities and the people client used
to be assembled by hand in the server, the CLI and the demo; they drifted. Every
entry point now asks :meth:`CampaignServices.of` and gets the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Connection, Engine

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.delivery import Mailer, mailer_for
from audiencehub.campaign.messaging.sending import Messaging
from audiencehub.campaign.messaging.tracking import LinkSigner
from audiencehub.campaign.sharing.declared_sync import DeclaredSync
from audiencehub.campaign.sharing.people_link import PeopleClient, get_people_link, people_client
from audiencehub.config import Settings
from audiencehub.db import System
from audiencehub.workspace import Workspace

__all__ = ["CampaignServices"]


@dataclass(frozen=True)
class CampaignServices:
    """What campaign's entry points work with; tests replace a part with ``dataclasses.replace``."""

    engine: Engine
    settings: Settings
    vault: KeyVault
    signer: LinkSigner
    mailer: Callable[[], Mailer]
    online_engine: Engine  # waits milliseconds for locks: online writes spool instead
    spool_path: Path
    people_http: Callable[[str], httpx.Client] = field(default=lambda url: _http(url))

    @classmethod
    def of(cls, workspace: Workspace) -> CampaignServices:
        """The services of ``workspace``: its campaign database, settings and vault."""
        vault = KeyVault(workspace.path)
        settings = workspace.settings
        return cls(
            engine=workspace.campaign,
            settings=settings,
            vault=vault,
            signer=LinkSigner(vault.derive("tracking"), max_age_days=settings.tracking_token_days),
            mailer=lambda: mailer_for(settings),
            online_engine=workspace.online_engine(System.CAMPAIGN),
            spool_path=workspace.spool_path(System.CAMPAIGN),
        )

    @property
    def path(self) -> Path:
        """The workspace folder (scratch space, the kept key copy, the outbox)."""
        return self.settings.workspace

    @property
    def messaging(self) -> Messaging:
        """What delivery activities and triggers need to send."""
        return Messaging(self.settings, self.signer, self.mailer)

    def people_client(self, connection: Connection) -> PeopleClient:
        """A client of the people service's partner API, through the stored people link."""
        url = get_people_link(connection)["people_url"]
        return people_client(connection, self.vault, self.people_http(url))

    def people_clients(self) -> Callable[[], PeopleClient]:
        """A factory of people clients, each reading the people link when it is called."""

        def make() -> PeopleClient:
            with self.engine.connect() as connection:
                return self.people_client(connection)

        return make

    def declared_sync(self) -> DeclaredSync | None:
        """The tracking server's declared-ID mode, when a data source is configured for it."""
        source = self.settings.tracking_declared_source
        if not source:
            return None
        return DeclaredSync(self.engine, self.vault, source, http=self.people_http)


def _http(base_url: str) -> httpx.Client:
    """An HTTP client of the people service at ``base_url``."""
    return httpx.Client(base_url=base_url, timeout=30)
