"""Shared data sources over ``/api/v1``: list, create, read, change, delete, and accept
their data-use terms.

Creating, changing and accepting terms are an admin's; reading is everyone's.
Key material goes in and never comes out.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from audiencehub.campaign.services import CampaignServices
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
from audiencehub.campaign.users import Role, User, actor_of
from audiencehub.campaign.web.access import Access
from audiencehub.identity import HashScheme
from audiencehub.restapi import Cursor, Limit, Page, check_if_match, page_of, with_etag

__all__ = ["data_sources_router"]

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


def data_sources_router(services: CampaignServices, access: Access) -> APIRouter:
    """Shared data source routes."""
    router = APIRouter(prefix="/api/v1")
    viewer, admin = access.needs(Role.VIEWER), access.needs(Role.ADMIN)
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
        body: NewDataSource, me: Annotated[User, Depends(admin)]
    ) -> SharedDataSource:
        """Create a declared-ID data source (AMCDS<n>)."""
        with engine.begin() as connection:
            return add_shared_data_source(
                connection, vault, actor=actor_of(me), **body.model_dump()
            )

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
        me: Annotated[User, Depends(admin)],
    ) -> SharedDataSource:
        """Change a data source's label, priority or destination."""
        with engine.begin() as connection:
            current = get_shared_data_source(connection, source_id)
            check_if_match(request.headers.get("if-match"), current)
            changed = update_shared_data_source(
                connection, source_id, actor=actor_of(me), **body.model_dump()
            )
            return with_etag(response, changed)

    @router.delete("/datasources/{source_id}", tags=["data sources"], status_code=204)
    def remove_data_source(source_id: SourceId, me: Annotated[User, Depends(admin)]) -> None:
        """Delete a data source no audience or share uses."""
        with engine.begin() as connection:
            delete_shared_data_source(connection, source_id, actor=actor_of(me))

    @router.post("/datasources/{source_id}/terms", tags=["data sources"])
    def accept_data_source_terms(
        source_id: SourceId, user: Annotated[User, Depends(admin)]
    ) -> SharedDataSource:
        """Accept the data-use terms, as the signed-in admin (recorded with the time)."""
        with engine.begin() as connection:
            return accept_terms(connection, source_id, user, actor=actor_of(user))

    return router
