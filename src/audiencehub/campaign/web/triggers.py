"""The triggers API: one triggered message to an encrypted declared ID, idempotently.

The bearer token is checked by a dependency, before the body is read or
validated: a caller without it learns nothing about what the API takes.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at run time.
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from audiencehub.campaign.messaging.triggers import trigger
from audiencehub.campaign.services import CampaignServices
from audiencehub.errors import ConfigurationError, InvalidCredentials

__all__ = ["TriggerBody", "triggers_router"]


class TriggerBody(BaseModel):
    """A triggered-message event."""

    data_source_id: str
    encrypted_id: str = Field(min_length=1)
    template: str
    payload: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=255)
    create_profile: bool = False


def triggers_router(services: CampaignServices) -> APIRouter:
    """``POST /api/triggers`` on ``services``, open only with the workspace's API token."""
    router = APIRouter(tags=["triggers"])

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        """The caller holds the API token (a dependency, so it runs before the body)."""
        token = services.settings.api_token
        if not token:
            raise ConfigurationError(
                "the API is not configured (api_token)",
                hint="Set api_token in the workspace settings or AUDIENCEHUB_API_TOKEN.",
            )
        if not authorization or not hmac.compare_digest(authorization, f"Bearer {token}"):
            raise InvalidCredentials(
                "a valid bearer token is required",
                hint="Send Authorization: Bearer <the workspace's api_token>.",
            )

    @router.post("/api/triggers", dependencies=[Depends(authorised)])
    def post_trigger(body: TriggerBody) -> JSONResponse:
        """Send one triggered message; the same idempotency key twice sends once."""
        result = trigger(
            services.engine,
            services.messaging,
            services.vault,
            data_source_id=body.data_source_id,
            encrypted_id=body.encrypted_id,
            template=body.template,
            payload=body.payload,
            idempotency_key=body.idempotency_key,
            create_profile=body.create_profile,
        )
        return JSONResponse(
            {
                "status": result.status,
                "message_id": result.message_id,
                "channel": result.channel,
                "profile_id": result.profile_id,
            },
            status_code=200 if result.status == "duplicate" else 201,
        )

    return router
