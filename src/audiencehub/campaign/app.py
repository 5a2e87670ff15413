"""The campaign app: the tracking server (click redirects and the open pixel)."""

from __future__ import annotations

import base64

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import Engine, update

from audiencehub.campaign.connection import connection_enabled, get_connection
from audiencehub.campaign.schema import profiles
from audiencehub.campaign.tracking import LinkSigner, choose_visitor, record_click, record_open
from audiencehub.errors import AudienceHubError, NotFound

__all__ = ["create_campaign_app"]

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_TWO_YEARS = 2 * 365 * 24 * 3600


def create_campaign_app(
    engine: Engine, signer: LinkSigner, *, tracking_domain: str | None = None
) -> FastAPI:
    """Build the campaign app; ``tracking_domain`` scopes the visitor cookie (a site CNAME)."""
    app = FastAPI(title="audiencehub campaign", version="0.1.0", docs_url=None, redoc_url=None)

    @app.exception_handler(AudienceHubError)
    async def _problem(_: Request, exc: AudienceHubError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 400
        return JSONResponse({"error": exc.message}, status_code=status)

    @app.get("/r/{token}")
    def click(token: str, request: Request) -> Response:
        """Log a click, link the visitor ID to the profile, and redirect to the signed target."""
        link = signer.verify(token)
        with engine.begin() as connection:
            enabled = connection_enabled(connection)
            org_id = get_connection(connection)["org_id"] if enabled else None
            visitor = choose_visitor(
                dict(request.cookies), connection_enabled=enabled, org_id=org_id
            )
            record_click(connection, link, visitor, request.headers.get("user-agent"))
        response = RedirectResponse(link.url, status_code=302)
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
