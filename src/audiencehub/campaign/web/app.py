"""The campaign app: tracking server (redirects, pixel, unsubscribe) and the triggers API."""

# No `from __future__ import annotations`: FastAPI reads the route annotations at run time.
import base64
import hmac
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, Header, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, update

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.click_writer import ClickWriter
from audiencehub.campaign.messaging.delivery import Mailer
from audiencehub.campaign.messaging.tracking import LinkSigner, choose_visitor, record_open
from audiencehub.campaign.messaging.triggers import trigger
from audiencehub.campaign.schema import profiles
from audiencehub.config import Settings
from audiencehub.errors import AudienceHubError, NotFound

__all__ = ["TriggerBody", "TriggerService", "create_campaign_app"]

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_TWO_YEARS = 2 * 365 * 24 * 3600


class TriggerBody(BaseModel):
    """A triggered-message event."""

    data_source_id: str
    encrypted_id: str = Field(min_length=1)
    template: str
    payload: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=255)
    create_profile: bool = False


class _Refused(Exception):
    """A request refused before its body is read (no API token, a wrong one)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


@dataclass(frozen=True)
class TriggerService:
    """What the trigger route needs: settings, the key vault and a way to get a mailer."""

    settings: Settings
    vault: KeyVault
    mailer: Callable[[], Mailer]


def create_campaign_app(
    engine: Engine,
    signer: LinkSigner,
    *,
    tracking_domain: str | None = None,
    triggers: TriggerService | None = None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    declared_sync: Callable[[int, str], None] | None = None,
) -> FastAPI:
    """Build the campaign app; ``tracking_domain`` scopes the visitor cookie (a site CNAME)."""
    app = FastAPI(
        title="audiencehub campaign",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )

    @app.exception_handler(AudienceHubError)
    async def _problem(_: Request, exc: AudienceHubError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 400
        return JSONResponse({"error": exc.message}, status_code=status)

    @app.exception_handler(_Refused)
    async def _refused(_: Request, exc: _Refused) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    def authorised(authorization: Annotated[str | None, Header()] = None) -> TriggerService:
        """The caller holds the API token. A dependency, so it runs before the body is
        validated: without the token a caller learns nothing about what the API takes."""
        if triggers is None or not triggers.settings.api_token:
            raise _Refused(503, "the API is not configured (api_token)")
        expected = f"Bearer {triggers.settings.api_token}"
        if not authorization or not hmac.compare_digest(authorization, expected):
            raise _Refused(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        return triggers

    clicks = ClickWriter(engine)

    @app.get("/r/{token}")
    async def click(token: str, request: Request) -> Response:
        """Log a click, link the visitor ID to the profile, and redirect to the signed target."""
        link = signer.verify(token)
        enabled, org_id = await clicks.settings()
        visitor = choose_visitor(dict(request.cookies), people_link_enabled=enabled, org_id=org_id)
        await clicks.record((link, visitor, request.headers.get("user-agent")))
        tasks = BackgroundTasks()
        if declared_sync is not None and visitor.is_visitor_id:
            tasks.add_task(declared_sync, link.profile_id, visitor.visitor_id)
        response = RedirectResponse(link.url, status_code=302, background=tasks)
        if visitor.cookie_value is not None:
            response.set_cookie(
                visitor.cookie_name,
                visitor.cookie_value,
                max_age=_TWO_YEARS,
                domain=tracking_domain,
                secure=True,
                samesite="lax",
                httponly=False,
            )
            if visitor.is_visitor_id and org_id:
                response.set_cookie(
                    visitor.cookie_name.replace("AMCV_", "AMCVS_", 1),
                    "1",
                    domain=tracking_domain,
                    secure=True,
                    samesite="lax",
                )
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/api/triggers")
    def post_trigger(
        service: Annotated[TriggerService, Depends(authorised)], body: TriggerBody
    ) -> JSONResponse:
        """Send one triggered message; the same idempotency key twice sends once."""
        mailer = service.mailer()
        try:
            result = trigger(
                engine,
                service.settings,
                service.vault,
                signer,
                mailer,
                data_source_id=body.data_source_id,
                encrypted_id=body.encrypted_id,
                template=body.template,
                payload=body.payload,
                idempotency_key=body.idempotency_key,
                create_profile=body.create_profile,
            )
        finally:
            mailer.close()
        return JSONResponse(
            {
                "status": result.status,
                "message_id": result.message_id,
                "channel": result.channel,
                "profile_id": result.profile_id,
            },
            status_code=200 if result.status == "duplicate" else 201,
        )

    @app.api_route("/u/{token}", methods=["GET", "POST"])
    def unsubscribe(token: str) -> Response:
        """Opt the profile out of the channel (GET from the link, POST for one-click)."""
        profile_id, channel = signer.verify_unsubscribe(token)
        column = "email_opt_out" if channel == "email" else "sms_opt_out"
        with engine.begin() as connection:
            connection.execute(
                update(profiles).where(profiles.c.id == profile_id).values({column: True})
            )
        return HTMLResponse(f"<p>You will receive no more {channel} messages from us.</p>")

    @app.get("/o/{token}")
    def open_pixel(token: str, request: Request) -> Response:
        """Log an open and answer a 1x1 transparent GIF."""
        link = signer.verify(token)
        with engine.begin() as connection:
            record_open(connection, link, request.headers.get("user-agent"))
        return Response(_PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})

    return app
