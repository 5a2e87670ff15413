"""The triggers API: one triggered message to an encrypted declared ID, idempotently.

The bearer token is checked, and the token's rate limit taken, before the body is
read: a caller without the token learns nothing about what the API takes and
cannot make the server hold a large body. Every ID that cannot be used (not
decryptable, bad padding, a failed authentication, a decrypted value that is no
address) gets the one same answer, which quotes nothing decrypted: the API is no
oracle for the data source's key. While a bulk job holds the database, an event
is queued durably and answered ``202 queued``; it is sent when the job ends.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at run time.
import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from audiencehub.campaign.messaging.trigger_queue import TriggerQueue
from audiencehub.campaign.messaging.triggers import TriggerResult
from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.users import TOKEN_PREFIX, Role, authenticate_token, require
from audiencehub.errors import InvalidCredentials, TooManyRequests
from audiencehub.ratelimit import Counts, RateLimiter
from audiencehub.restapi.apps import problem_responses

__all__ = ["TriggerBody", "triggers_router"]


class TriggerBody(BaseModel):
    """A triggered-message event."""

    data_source_id: str = Field(min_length=1, max_length=64)
    encrypted_id: str = Field(min_length=1, max_length=4_096)
    template: str = Field(min_length=1, max_length=255)
    payload: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=255)
    create_profile: bool = False


def _answer(result: TriggerResult) -> JSONResponse:
    """The same body for the first answer and every replay; a replay says so in a header."""
    status = {"pending": 202, "sent": 201, "failed": 201, "skipped": 201}[result.status]
    return JSONResponse(
        {
            "status": result.status,
            "message_id": result.message_id,
            "channel": result.channel,
            "profile_id": result.profile_id,
        },
        status_code=status,
        headers={"Idempotent-Replayed": "true"} if result.replayed else None,
    )


def triggers_router(
    services: CampaignServices, queue: TriggerQueue, counts: Counts | None = None
) -> APIRouter:
    """``POST /api/triggers`` on ``services``, open only with the workspace's API token;
    an event that comes while a bulk job holds the database waits in ``queue``; each
    token's rate is counted in ``counts`` (None: in this process)."""
    router = APIRouter(tags=["triggers"])
    per_minute = services.settings.triggers_per_minute
    limits = RateLimiter(per_minute, name="triggers", counts=counts)  # a tenth at once

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        """The caller holds the workspace's API token, or a personal token of a marketer or
        an admin, and is within its rate (all before the body is read)."""
        given = (authorization or "").encode("utf-8", "surrogateescape")
        token = services.settings.api_token
        bearer = given.removeprefix(b"Bearer ").decode("utf-8", "surrogateescape")
        if token and hmac.compare_digest(given, f"Bearer {token}".encode()):
            pass
        elif given.startswith(b"Bearer " + TOKEN_PREFIX.encode()):
            with services.online_engine.connect() as connection:
                user = authenticate_token(connection, bearer, touch=False)
            require(user, Role.MARKETER)
        else:
            raise InvalidCredentials(
                "a valid bearer token is required",
                hint="Send Authorization: Bearer <a personal token of a marketer or an admin "
                "(audiencehub tokens create), or the workspace's api_token>.",
            )
        wait = limits.wait(hashlib.sha256(given).hexdigest())
        if wait:
            raise TooManyRequests("too many triggered messages for this token", retry_after=wait)

    async def post_trigger(request: Request) -> JSONResponse:
        """Send one triggered message; the same idempotency key twice sends once."""
        try:
            body = TriggerBody.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _invalid(exc) from None
        result = await run_in_threadpool(queue.accept, body.model_dump())
        if result is None:
            return JSONResponse(
                {"status": "queued", "message_id": None, "channel": None, "profile_id": None},
                status_code=202,
            )
        return _answer(result)

    body_schema = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": TriggerBody.model_json_schema(),
                    "example": {
                        "data_source_id": "AMCDS2",
                        "encrypted_id": "3f2a...e9",
                        "template": "order-shipped",
                        "payload": {"order": "A-1001"},
                        "idempotency_key": "order-A-1001-shipped",
                    },
                }
            },
        }
    }
    router.add_api_route(
        "/api/v1/triggers",
        post_trigger,
        methods=["POST"],
        name="send_trigger",
        dependencies=[Depends(authorised)],
        openapi_extra=body_schema,
        responses=problem_responses(429),
    )
    router.add_api_route(
        "/api/triggers",
        post_trigger,
        methods=["POST"],
        name="send_trigger_unversioned",
        dependencies=[Depends(authorised)],
        openapi_extra=body_schema,
        deprecated=True,
        description="The same as POST /api/v1/triggers, kept for existing callers.",
    )
    return router


def _invalid(exc: ValidationError) -> RequestValidationError:
    """The framework's validation error, so the body's problems read like every other's."""
    return RequestValidationError(
        [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_input=False)]
    )
