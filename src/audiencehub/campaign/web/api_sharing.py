"""Sharing's settings and work over ``/api/v1``: the external accounts, the connection to
the people service, the technical jobs, the audit (data sources: :mod:`.api_data_sources`).

Settings are an admin's; running a job is a marketer's; reading is everyone's.
Secrets go in and never come out: an account shows where its credentials come
from, the connection never its client secret.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
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
from audiencehub.campaign.sharing.export_job import ExportRun
from audiencehub.campaign.sharing.import_job import ImportRun
from audiencehub.campaign.sharing.jobs import CampaignJob, job_history, run_campaign_job
from audiencehub.campaign.sharing.people_link import (
    PeopleLink,
    delete_people_link,
    get_people_link,
    set_people_link,
)
from audiencehub.campaign.users import Role, User, actor_of
from audiencehub.campaign.web.access import Access
from audiencehub.db.job_runs import JobRun
from audiencehub.restapi import Cursor, Limit, Page, check_if_match, page_rows, with_etag
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
    """Account, connection, job and audit routes."""
    router = APIRouter(prefix="/api/v1")
    viewer, marketer, admin = (access.needs(role) for role in Role)
    engine, vault = services.engine, services.vault

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
        me: Annotated[User, Depends(admin)],
    ) -> AccountSettings:
        """Point an account at a folder or an S3 prefix."""
        with engine.begin() as connection:
            check_if_match(
                request.headers.get("if-match"), get_account(connection, name, services.path)
            )
            settings: dict[str, Any] = body.model_dump()
            set_account(
                connection, vault, name, settings.pop("url"), actor=actor_of(me), **settings
            )
            return with_etag(response, get_account(connection, name, services.path))

    @router.delete(
        "/accounts/{name}",
        tags=["accounts"],
        status_code=204,
        responses=example(204, "", "text/plain", "Reset to the workspace folder."),
    )
    def reset_external_account(name: Account, me: Annotated[User, Depends(admin)]) -> None:
        """Forget an account's settings: it points at its workspace folder again."""
        with engine.begin() as connection:
            reset_account(connection, name, actor=actor_of(me))

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
        body: ConnectionBody, response: Response, me: Annotated[User, Depends(admin)]
    ) -> PeopleLink:
        """Store the connection; the secret is sealed."""
        with engine.begin() as connection:
            link = set_people_link(
                connection,
                vault,
                **body.model_dump(),
                demo=services.settings.demo,
                actor=actor_of(me),
            )
        return with_etag(response, link)

    @router.delete(
        "/connection",
        tags=["connection"],
        status_code=204,
        responses=example(204, "", "text/plain", "Forgotten, with its secret."),
    )
    def remove_connection(me: Annotated[User, Depends(admin)]) -> None:
        """Forget the connection and its secret."""
        with engine.begin() as connection:
            delete_people_link(connection, actor=actor_of(me))

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
        user: Annotated[User, Depends(viewer)], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[AuditEntry]:
        """Who moved which data through which source, and who changed users, tokens, data
        sources, terms, accounts or the connection, newest first; for an admin, also who
        signed in (from which address, through the pages or the API) or was refused."""
        sign_ins = Role(user["role"]).allows(Role.ADMIN)
        with engine.connect() as connection:
            return page_rows(
                lambda before, n: list_audit(connection, n, before, sign_ins=sign_ins),
                lambda e: e["id"],
                cursor,
                limit,
            )

    return router
