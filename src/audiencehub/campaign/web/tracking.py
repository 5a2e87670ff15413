"""Tracking routes: the signed click redirect, the open pixel and the unsubscribe link.

Clicks are group-committed before the redirect is answered (nothing lost); a
click that reveals a visitor ID may also be synced to the people service as a
declared ID, after the answer.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at run time.
import base64
import html

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from audiencehub.campaign.messaging.click_writer import ClickWriter
from audiencehub.campaign.messaging.tracking import (
    choose_visitor,
    open_event,
    unsubscribe_event,
)
from audiencehub.campaign.services import CampaignServices
from audiencehub.restapi.apps import example
from audiencehub.spool import OnlineWrites

__all__ = ["tracking_router"]

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_TWO_YEARS = 2 * 365 * 24 * 3600


def tracking_router(services: CampaignServices, online: OnlineWrites) -> APIRouter:
    """The tracking routes on ``services``' link signer; their writes go through ``online``."""
    router = APIRouter(tags=["tracking"])
    signer = services.signer
    tracking_domain = services.settings.tracking_domain
    declared_sync = services.declared_sync()
    clicks = ClickWriter(services.engine, online)

    @router.get(
        "/r/{token}",
        responses=example(
            302, "", "text/plain", "To the signed target (an HTML page if tampered)."
        ),
    )
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

    @router.get(
        "/u/{token}",
        responses=example(200, "<form method=post>...</form>", "text/html", "The confirmation."),
    )
    def confirm_unsubscribe(token: str) -> Response:
        """Ask the person to confirm: a GET changes nothing, so link scanners that follow
        every link in a message unsubscribe no one (RFC 8058)."""
        request = signer.verify_unsubscribe(token)
        return HTMLResponse(
            "<!doctype html><title>Unsubscribe</title>"
            f"<form method=post><p>Stop receiving {html.escape(request.channel)} messages "
            "from us?</p><button type=submit>Unsubscribe</button></form>",
            headers={"Cache-Control": "no-store"},
        )

    @router.post(
        "/u/{token}",
        responses=example(
            200, "<p>You will receive no more email messages from us.</p>", "text/html"
        ),
    )
    def unsubscribe(token: str) -> Response:
        """Opt the profile out of the channel (the confirmation form, or a mail client's
        one-click POST)."""
        request = signer.verify_unsubscribe(token)
        online.write("unsubscribe", [unsubscribe_event(request)])
        return HTMLResponse(
            f"<p>You will receive no more {html.escape(request.channel)} messages from us.</p>"
        )

    @router.get(
        "/o/{token}", responses=example(200, "GIF89a...", "image/gif", "A 1x1 transparent GIF.")
    )
    def open_pixel(token: str, request: Request) -> Response:
        """Log an open and answer a 1x1 transparent GIF."""
        mark = signer.verify_open(token)
        online.write("open", [open_event(mark, request.headers.get("user-agent"))])
        return Response(_PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})

    return router
