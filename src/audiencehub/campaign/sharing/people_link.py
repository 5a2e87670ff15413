"""The people link: campaign's connection to the people service (OAuth2 client
credentials) and its partner API; named so it is never taken for a database connection.

The client secret is sealed with the workspace key and never printed. Enabling
the connection also switches click tracking from campaign's own permanent
cookie to visitor IDs (the tracking server reads :func:`people_link_enabled`).
"""

from __future__ import annotations

from typing import Any, cast

import httpx
from sqlalchemy import Connection, delete, select
from typing_extensions import TypedDict

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import audit_log, people_connection
from audiencehub.config import placeholder_reason
from audiencehub.db.audit_trail import record_change
from audiencehub.db.bulk import upsert
from audiencehub.errors import ConfigurationError, NotFound, RemoteError

__all__ = [
    "CreatedSegment",
    "PeopleClient",
    "PeopleLink",
    "PeopleSegment",
    "delete_people_link",
    "get_people_link",
    "people_client",
    "people_link_enabled",
    "set_people_link",
]


class PeopleLink(TypedDict):
    """The stored link to the people service, without its secret."""

    id: int
    people_url: str
    client_id: str
    org_id: str
    enabled: bool


class PeopleSegment(TypedDict):
    """A segment as the people service's partner API lists it (a shared audience)."""

    id: int
    title: str
    source: str
    size: int
    active: bool
    modified: str  # ISO 8601
    integration_code: str | None  # of its one onboarded trait; None: partner data cannot fill it
    data_source_id: int | None  # the data source that trait belongs to


class CreatedSegment(TypedDict):
    """What the partner API answers for a segment it created for campaign to fill."""

    id: int
    title: str
    data_source_id: int
    trait_id: int
    integration_code: str


def set_people_link(
    connection: Connection,
    vault: KeyVault,
    *,
    people_url: str,
    client_id: str,
    client_secret: str,
    org_id: str,
    enabled: bool = True,
    demo: bool = False,
    actor: str | None = None,
) -> PeopleLink:
    """Store the connection settings (the secret sealed; the audit trail says it was
    replaced, never what to: ``actor`` is who, None the operating-system user).

    A placeholder secret is refused outside a demo workspace: a connection that
    cannot authenticate should fail here, not at the first hourly import.
    """
    if not people_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{people_url!r} is not an http(s) URL")
    reason = None if demo else placeholder_reason(client_secret)
    if reason:
        raise ConfigurationError(
            f"the client secret is refused: {reason}",
            hint="Pass the secret the people service issued for this client id.",
        )
    current = _link(connection)
    upsert(
        connection,
        people_connection,
        [
            {
                "id": 1,
                "people_url": people_url.rstrip("/"),
                "client_id": client_id,
                "secret": vault.seal({"client_secret": client_secret}),
                "org_id": org_id,
                "enabled": enabled,
            }
        ],
        keys=("id",),
        update=("people_url", "client_id", "secret", "org_id", "enabled"),
    )
    changed = get_people_link(connection)
    record_change(
        connection,
        audit_log,
        "connection set",
        actor=actor,
        before=None if current is None else {**_shown(current), "client_secret": "(sealed)"},
        after={**_shown(changed), "client_secret": "replaced"},
    )
    return changed


def _link(connection: Connection) -> PeopleLink | None:
    """The connection settings, without the secret, or None when none is set."""
    row = connection.execute(select(people_connection)).mappings().first()
    return (
        None if row is None else cast(PeopleLink, {k: v for k, v in row.items() if k != "secret"})
    )


def get_people_link(connection: Connection) -> PeopleLink:
    """The connection settings, without the secret."""
    link = _link(connection)
    if link is None:
        raise NotFound(
            "no connection to the people service is set",
            hint="Set one with `audiencehub connection set --people-url URL --client-id ID "
            "--client-secret SECRET --org-id ORG`.",
        )
    return link


def delete_people_link(connection: Connection, *, actor: str | None = None) -> None:
    """Forget the connection and its sealed secret; tracking goes back to campaign's own
    cookie and imports and exports through the API stop until one is set again."""
    current = get_people_link(connection)
    connection.execute(delete(people_connection))
    record_change(connection, audit_log, "connection deleted", actor=actor, before=_shown(current))


def _shown(link: PeopleLink) -> dict[str, object]:
    """What the audit trail keeps of the connection: its settings (not its row's id)."""
    return {k: v for k, v in link.items() if k != "id"}


def people_link_enabled(connection: Connection) -> bool:
    """Whether tracking uses visitor IDs (a connection is set and enabled)."""
    row = connection.execute(select(people_connection.c.enabled)).first()
    return bool(row and row.enabled)


class PeopleClient:
    """The people service's partner API, authenticated by client credentials.

    Every failure says what went wrong in the user's terms and never carries the
    secret: a :class:`RemoteError` when the service cannot be reached or fails
    (HTTP 5xx), which a job retries; a :class:`ConfigurationError` when it refuses
    the credentials or the request, which a person must fix.
    """

    def __init__(self, http: httpx.Client, client_id: str, client_secret: str) -> None:
        self._http, self._id, self._secret = http, client_id, client_secret
        self._token: str | None = None

    def _call(self, method: str, path: str, action: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise RemoteError(
                f"cannot reach the people service at {self._http.base_url}: {exc}",
                hint="Check --people-url of `audiencehub connection set` and that the "
                "service is up.",
            ) from exc
        if response.status_code == 401:
            raise ConfigurationError(
                "the people service refused the client id or secret",
                hint="Check them with the people service's administrator, then run "
                "`audiencehub connection set` again.",
            )
        if response.is_error:
            kind = RemoteError if response.is_server_error else ConfigurationError
            raise kind(
                f"the people service could not {action}: HTTP {response.status_code} "
                f"{response.text[:200]}",
                hint="Its answer says why; `audiencehub connection test` checks the connection.",
            )
        return response

    def _authorised(self) -> dict[str, str]:
        if self._token is None:
            response = self._call(
                "POST",
                "/oauth/token",
                "issue a token",
                data={"grant_type": "client_credentials"},
                auth=(self._id, self._secret),
            )
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def shared_audiences(self) -> list[PeopleSegment]:
        """Segments the people service shares: title, source, size, active, modified."""
        response = self._call(
            "GET", "/api/v1/segments", "list shared audiences", headers=self._authorised()
        )
        audiences: list[PeopleSegment] = response.json()
        return audiences

    def create_segment(self, name: str, data_source_id: int) -> CreatedSegment:
        """Create a segment campaign will fill; returns its id and trait integration code."""
        response = self._call(
            "POST",
            "/api/v1/segments",
            f"create the segment {name!r}",
            json={"name": name, "data_source_id": data_source_id},
            headers=self._authorised(),
        )
        created: CreatedSegment = response.json()
        return created


def people_client(
    connection: Connection, vault: KeyVault, http: httpx.Client | None = None
) -> PeopleClient:
    """A client for the configured connection (``http`` lets tests reach an in-process app)."""
    settings = get_people_link(connection)
    row = connection.execute(select(people_connection.c.secret)).one()
    secret = vault.open(row.secret)["client_secret"]
    transport = http or httpx.Client(base_url=settings["people_url"], timeout=30)
    return PeopleClient(transport, settings["client_id"], secret)
