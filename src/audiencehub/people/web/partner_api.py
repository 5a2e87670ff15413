"""The partner API: an OAuth2 token endpoint and the shared-audience routes behind it.

``POST /oauth/token`` (client credentials, form fields or HTTP Basic) returns a
bearer token; ``/api/v1/...`` routes need it, and answer 401 with a
``WWW-Authenticate: Bearer`` header when it is missing, unknown or expired.
Too many failed token requests for one client id, or from one address, lock
them out for a while (429 with ``Retry-After``), so secrets cannot be guessed.
"""

# No `from __future__ import annotations` here: FastAPI resolves the route
# annotations at run time, and `Depends(client)` names a local function.
import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine

from audiencehub.errors import InvalidCredentials, TooManyRequests
from audiencehub.people.clients import ApiClient, ClientRole, actor_of, issue_token
from audiencehub.people.segments import refresh_segment
from audiencehub.people.shared_audiences import (
    SharedAudience,
    SharedSegment,
    create_shared_segment,
    list_shared_audiences,
)
from audiencehub.ratelimit import RateLimiter
from audiencehub.restapi.apps import example
from audiencehub.sign_ins import SignInGate

__all__ = ["MAX_ID", "SegmentCreate", "partner_router"]

MAX_ID = 2_147_483_647  # data source, segment and trait ids are 32-bit integers


class SegmentCreate(BaseModel):
    """A segment a partner asks for, to fill with its own inbound files."""

    name: str = Field(min_length=1, max_length=255, examples=["Campaign openers"])
    data_source_id: int = Field(gt=0, le=MAX_ID, examples=[7001])
    id: int | None = Field(default=None, gt=0, le=MAX_ID, examples=[901])


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
    except ValueError:  # not base64 (or not ASCII), or not UTF-8 once decoded
        return None
    return client_id, secret


def partner_router(engine: Engine, gate: SignInGate, admits: Any, tokens: RateLimiter) -> APIRouter:
    """Token endpoint and partner routes on ``engine``'s people database; ``gate`` locks
    out an address after too many failed token requests, and records each token issued
    or refused; ``tokens`` limits the tokens one client takes (counted once its secret is
    proved, so no one else can use up a partner's share); ``admits(*roles)`` lets clients
    of those roles in."""
    router = APIRouter()
    lister = admits(ClientRole.PARTNER, ClientRole.VIEWER, ClientRole.ADMIN)
    creator = admits(ClientRole.PARTNER, ClientRole.ADMIN)

    @router.post(
        "/oauth/token",
        tags=["oauth"],
        responses=example(
            200, {"access_token": "q3...Xk", "token_type": "Bearer", "expires_in": 3600}
        ),
    )
    def token(
        request: Request,
        grant_type: Annotated[str | None, Form()] = None,
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Exchange client credentials for a bearer token (RFC 6749, section 4.4).

        Errors are the RFC's (section 5.2), not the framework's validation report.
        """
        if not grant_type:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "grant_type is required"},
                status_code=400,
            )
        if grant_type != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        credentials = _basic(authorization) or (client_id or "", client_secret or "")
        address = request.client.host if request.client else ""

        def issue(connection: Connection) -> tuple[str, int]:
            issued = issue_token(connection, *credentials)
            wait = tokens.wait(credentials[0])
            if wait:  # rolls the token back, with its entry
                raise TooManyRequests(
                    "too many tokens for this client; reuse one until it expires",
                    retry_after=wait,
                )
            return issued

        try:
            access_token, lifetime = gate.attempt(credentials[0], address, "OAuth token", issue)
        except TooManyRequests as exc:
            return JSONResponse(
                {"error": "temporarily_unavailable", "error_description": exc.message},
                status_code=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        except InvalidCredentials:
            return JSONResponse(
                {"error": "invalid_client"}, status_code=401, headers={"WWW-Authenticate": "Basic"}
            )
        return JSONResponse(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime},
            headers={"Cache-Control": "no-store"},
        )

    @router.get(
        "/api/v1/segments",
        tags=["shared audiences"],
        responses=example(
            200,
            [
                {
                    "id": 900,
                    "title": "Shoe buyers",
                    "source": "CRM",
                    "size": 33400,
                    "active": True,
                    "modified": "2026-12-01T06:00:00+00:00",
                    "integration_code": None,
                    "data_source_id": None,
                }
            ],
        ),
    )
    def segments(_: Annotated[ApiClient, Depends(lister)]) -> list[SharedAudience]:
        """Shared audiences: title, source, current size, active, date modified."""
        with engine.connect() as connection:
            return list_shared_audiences(connection)

    @router.post("/api/v1/segments", tags=["shared audiences"], status_code=201)
    def create_segment(
        body: SegmentCreate, caller: Annotated[ApiClient, Depends(creator)]
    ) -> SharedSegment:
        """Create a segment the partner will fill (campaign's share mode)."""
        with engine.begin() as connection:
            created = create_shared_segment(
                connection,
                name=body.name,
                data_source_id=body.data_source_id,
                segment_id=body.id,
                actor=actor_of(caller),
            )
        refresh_segment(engine, created["id"])
        return created

    return router
