"""Sharing's settings and work over ``/api/v1``: shared data sources and their terms, the
external accounts, the connection to the people service, the technical jobs, the audit.

Settings are an admin's; running a job is a marketer's; reading is everyone's.
Secrets go in and never come out: an account shows where its credentials come
from, the connection never its client secret, a data source never its key.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sharing.accounts import (
    Account,
    AccountSettings,
    check_account,
    get_account,
    reset_account,
    set_account,
)
from audiencehub.campaign.sharing.audit import AuditEntry, list_audit
from audiencehub.campaign.sharing.data_sources import (
    Channel,
    Encryption,
    ReconciliationKey,
    SharedDataSource,
    accept_terms,
    add_shared_data_source,
    delete_shared_data_source,
    get_shared_data_source,
    list_shared_data_sources,
    update_shared_data_source,
)
from audiencehub.campaign.sharing.export_job import ExportRun
from audiencehub.campaign.sharing.import_job import ImportRun
from audiencehub.campaign.sharing.jobs import CampaignJob, job_history, run_campaign_job
from audiencehub.campaign.sharing.people_link import (
    PeopleLink,
    delete_people_link,
    get_people_link,
    set_people_link,
)
from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.access import Access
from audiencehub.db.job_runs import JobRun
from audiencehub.identity import HashScheme
from audiencehub.restapi import Cursor, Limit, Page, check_if_match, page_of, page_rows, with_etag
from audiencehub.restapi.apps import example

__all__ = ["sharing_router"]

_ACCOUNT = {
    "name": "importSharedAudience",
    "url": "s3://shared/import/",
    "endpoint_url": None,
    "region": "eu-west-1",
    "server_side_encryption": True,
    "access_key_id": None,
    "credentials": "AWS environment",
}
SourceId = Annotated[
    str, Path(max_length=32, description="defaultDataSource or AMCDS<n>.", examples=["AMCDS1"])
]


class NewDataSource(BaseModel):
    """A declared-ID data source; key material is stored sealed and never shown again."""

    label: str = Field(min_length=1, max_length=255, examples=["CRM (hashed emails)"])
    key: ReconciliationKey = Field(examples=["email"])
    hashing: HashScheme | None = Field(default=None, examples=["aam"])
    encryption: Encryption | None = None
    enc_key: str | None = Field(default=None, max_length=128, description="Hex.")
    enc_iv: str | None = Field(default=None, max_length=64, description="Hex (AES-CBC).")
    enc_key_env: str | None = Field(default=None, max_length=128)
    enc_iv_env: str | None = Field(default=None, max_length=128)
    channel: Channel | None = None
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    alias_dpid: int | None = Field(default=None, gt=0, le=2_147_483_647, examples=[7001])
    destination_id: int | None = Field(default=None, gt=0, le=2_147_483_647, examples=[46390])


class DataSourceChange(BaseModel):
    """What can change of a data source without re-keying it."""

    label: str | None = Field(default=None, min_length=1, max_length=255)
    priority: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    destination_id: int | None = Field(default=None, gt=0, le=2_147_483_647)


class AccountBody(BaseModel):
    """Where an external account points: a local folder or ``s3://BUCKET/PREFIX``."""

    url: str = Field(min_length=1, max_length=2048, examples=["s3://shared/campaign/"])
    endpoint_url: str | None = Field(default=None, max_length=2048)
    region: str | None = Field(default=None, max_length=32)
    server_side_encryption: bool = False
    access_key_id: str | None = Field(default=None, max_length=128)
    secret_access_key: str | None = Field(default=None, max_length=256, description="Sealed.")


class ConnectionBody(BaseModel):
    """The connection to the people service (OAuth2 client credentials)."""

    people_url: str = Field(min_length=1, max_length=2048, examples=["https://people.example"])
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str = Field(min_length=1, max_length=1024, description="Sealed, never shown.")
    org_id: str = Field(min_length=1, max_length=255, examples=["ABC123@AdobeOrg"])
    enabled: bool = True


class Reachable(BaseModel):
    """A test's outcome: what was found there."""

    ok: bool
    found: int
    sample: list[str]


def sharing_router(services: CampaignServices, access: Access) -> APIRouter:
    """Data source, account, connection, job and audit routes."""
    router = APIRouter(prefix="/api/v1")
    viewer, marketer, admin = (access.needs(role) for role in Role)
    engine, vault = services.engine, services.vault

    @router.get("/datasources", tags=["data sources"])
    def data_sources(
        _: Annotated[User, Depends(viewer)], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[SharedDataSource]:
        """Shared data sources (never their keys), with who accepted their terms and when."""
        with engine.connect() as connection:
            return page_of(list_shared_data_sources(connection), lambda s: s["id"], cursor, limit)

    @router.post("/datasources", tags=["data sources"], status_code=201)
    def create_data_source(
        body: NewDataSource, _: Annotated[User, Depends(admin)]
    ) -> SharedDataSource:
        """Create a declared-ID data source (AMCDS<n>)."""
        with engine.begin() as connection:
            return add_shared_data_source(connection, vault, **body.model_dump())

    @router.get("/datasources/{source_id}", tags=["data sources"])
    def show_data_source(
        source_id: SourceId, response: Response, _: Annotated[User, Depends(viewer)]
    ) -> SharedDataSource:
        """One data source, with its ETag."""
        with engine.connect() as connection:
            return with_etag(response, get_shared_data_source(connection, source_id))

    @router.patch("/datasources/{source_id}", tags=["data sources"])
    def change_data_source(
        source_id: SourceId,
        body: DataSourceChange,
        request: Request,
        response: Response,
        _: Annotated[User, Depends(admin)],
    ) -> SharedDataSource:
        """Change a data source's label, priority or destination."""
        with engine.begin() as connection:
            current = get_shared_data_source(connection, source_id)
            check_if_match(request.headers.get("if-match"), current)
            changed = update_shared_data_source(connection, source_id, **body.model_dump())
            return with_etag(response, changed)

    @router.delete("/datasources/{source_id}", tags=["data sources"], status_code=204)
    def remove_data_source(source_id: SourceId, _: Annotated[User, Depends(admin)]) -> None:
        """Delete a data source no audience or share uses."""
        with engine.begin() as connection:
            delete_shared_data_source(connection, source_id)

    @router.post("/datasources/{source_id}/terms", tags=["data sources"])
    def accept_data_source_terms(
        source_id: SourceId, user: Annotated[User, Depends(admin)]
    ) -> SharedDataSource:
        """Accept the data-use terms, as the signed-in admin (recorded with the time)."""
        with engine.begin() as connection:
            return accept_terms(connection, source_id, user)

    @router.get(
        "/accounts",
        tags=["accounts"],
        responses=example(200, [_ACCOUNT]),
    )
    def accounts(_: Annotated[User, Depends(viewer)]) -> list[AccountSettings]:
        """Both external accounts: where they point and where credentials come from."""
        with engine.connect() as connection:
            return [get_account(connection, name, services.path) for name in Account]

    @router.get(
        "/accounts/{name}",
        tags=["accounts"],
        responses=example(200, _ACCOUNT),
    )
    def show_account(
        name: Account, response: Response, _: Annotated[User, Depends(viewer)]
    ) -> AccountSettings:
        """One external account, with its ETag."""
        with engine.connect() as connection:
            return with_etag(response, get_account(connection, name, services.path))

    @router.put("/accounts/{name}", tags=["accounts"])
    def set_external_account(
        name: Account,
        body: AccountBody,
        request: Request,
        response: Response,
        _: Annotated[User, Depends(admin)],
    ) -> AccountSettings:
        """Point an account at a folder or an S3 prefix."""
        with engine.begin() as connection:
            check_if_match(
                request.headers.get("if-match"), get_account(connection, name, services.path)
            )
            settings: dict[str, Any] = body.model_dump()
            set_account(connection, vault, name, settings.pop("url"), **settings)
            return with_etag(response, get_account(connection, name, services.path))

    @router.delete(
        "/accounts/{name}",
        tags=["accounts"],
        status_code=204,
        responses=example(204, "", "text/plain", "Reset to the workspace folder."),
    )
    def reset_external_account(name: Account, _: Annotated[User, Depends(admin)]) -> None:
        """Forget an account's settings: it points at its workspace folder again."""
        with engine.begin() as connection:
            reset_account(connection, name)

    @router.post(
        "/accounts/{name}/test",
        tags=["accounts"],
        responses=example(
            200,
            {
                "ok": True,
                "found": 1,
                "sample": ["S3_46390_7001_audiencehub_full_1764300000000.info"],
            },
        ),
    )
    def check_external_account(name: Account, _: Annotated[User, Depends(viewer)]) -> Reachable:
        """List the account's location, or answer precisely what is wrong."""
        with engine.connect() as connection:
            keys = check_account(connection, vault, name, services.path)
        return Reachable(ok=True, found=len(keys), sample=keys[:20])

    @router.get(
        "/connection",
        tags=["connection"],
        responses=example(
            200,
            {
                "people_url": "https://people.example",
                "client_id": "ah_1f2e3d4c5b6a7988",
                "org_id": "ABC123@AdobeOrg",
                "enabled": True,
            },
        ),
    )
    def connection_settings(response: Response, _: Annotated[User, Depends(viewer)]) -> PeopleLink:
        """The connection to the people service, never its secret."""
        with engine.connect() as connection:
            return with_etag(response, get_people_link(connection))

    @router.put("/connection", tags=["connection"])
    def set_connection(
        body: ConnectionBody, response: Response, _: Annotated[User, Depends(admin)]
    ) -> PeopleLink:
        """Store the connection; the secret is sealed."""
        with engine.begin() as connection:
            link = set_people_link(
                connection, vault, **body.model_dump(), demo=services.settings.demo
            )
        return with_etag(response, link)

    @router.delete(
        "/connection",
        tags=["connection"],
        status_code=204,
        responses=example(204, "", "text/plain", "Forgotten, with its secret."),
    )
    def remove_connection(_: Annotated[User, Depends(admin)]) -> None:
        """Forget the connection and its secret."""
        with engine.begin() as connection:
            delete_people_link(connection)

    @router.post(
        "/connection/test",
        tags=["connection"],
        responses=example(
            200, {"ok": True, "found": 2, "sample": ["900: Shoe buyers", "901: French profiles"]}
        ),
    )
    def check_connection(_: Annotated[User, Depends(viewer)]) -> Reachable:
        """Obtain a token and list the people service's shared audiences."""
        with engine.connect() as connection:
            client = services.people_client(connection)
        found = client.shared_audiences()
        return Reachable(
            ok=True, found=len(found), sample=[f"{s['id']}: {s['title']}" for s in found[:20]]
        )

    @router.get("/jobs", tags=["jobs"])
    def jobs(_: Annotated[User, Depends(viewer)], limit: Limit = 20) -> list[JobRun]:
        """The latest runs of importSharedAudience and exportSharedAudience, newest first."""
        return job_history(engine, limit)

    @router.post(
        "/jobs/{job}/runs",
        tags=["jobs"],
        responses=example(200, {"reports": [], "waiting": [], "refused": []}),
    )
    def run_job(job: CampaignJob, _: Annotated[User, Depends(marketer)]) -> ImportRun | ExportRun:
        """Run a job now (recorded like a scheduled run) and answer what it did."""
        return run_campaign_job(engine, vault, services.path, job)

    @router.get("/audit", tags=["audit"])
    def audit(
        _: Annotated[User, Depends(viewer)], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[AuditEntry]:
        """Who moved which data through which source, newest first."""
        with engine.connect() as connection:
            return page_rows(
                lambda before, n: list_audit(connection, n, before),
                lambda e: e["id"],
                cursor,
                limit,
            )

    return router
