"""Declared-ID mode of the tracking server: tell the people service who clicked.

After a click reveals a visitor ID, the profile's declared ID (in the form its
data source shares it: hashed, encrypted or a CRM id) is synced to the people
service's visitor ID service with ``d_cid`` and an authenticated state, so the
people service links the visitor ID and the declared ID. It runs after the
redirect is answered; a failure is logged and never affects the click.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, select

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import profiles
from audiencehub.campaign.sharing.data_sources import (
    cipher_of,
    get_shared_data_source,
    reconciliation_key_of,
    require_terms,
)
from audiencehub.campaign.sharing.people_link import get_people_link
from audiencehub.campaign.sharing.shared_ids import declared_id_of
from audiencehub.errors import AudienceHubError
from audiencehub.identity.declared import AuthState, DeclaredIdSync, format_declared_sync

__all__ = ["DeclaredSync"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeclaredSync:
    """Which data source's IDs to sync, and how to reach the people service."""

    engine: Engine
    vault: KeyVault
    source_id: str
    http: Callable[[str], httpx.Client] = lambda base_url: httpx.Client(
        base_url=base_url, timeout=10
    )

    def __call__(self, profile_id: int, visitor_id: str) -> None:
        """Sync one profile's declared ID with a visitor ID; errors are logged, not raised."""
        try:
            with self.engine.connect() as connection:
                source = get_shared_data_source(connection, self.source_id)
                require_terms(source)  # a sync moves an ID to the people service
                cipher = cipher_of(connection, self.vault, self.source_id)
                people_url = get_people_link(connection)["people_url"]
                value = connection.execute(
                    select(profiles.c[reconciliation_key_of(source).value]).where(
                        profiles.c.id == profile_id
                    )
                ).scalar()
            declared = declared_id_of(source, value, cipher) if value else None
            if declared is None or source["alias_dpid"] is None:
                return
            sync = DeclaredIdSync(str(source["alias_dpid"]), declared, AuthState.AUTHENTICATED)
            query = f"d_mid={visitor_id}&" + format_declared_sync(sync)
            with self.http(people_url) as client:
                response = client.get(f"/id?{query}")
                response.raise_for_status()
        except (AudienceHubError, httpx.HTTPError) as exc:
            logger.warning("declared-ID sync for profile %s failed: %s", profile_id, exc)
