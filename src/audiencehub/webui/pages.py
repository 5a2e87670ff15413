"""Rendering pages: one Jinja environment per app, autoescaping everything.

Templates come from the app's own folder first (``campaign/web/templates``)
and then from the shared one (the layout, macros). Every value is escaped
unless a template marks it safe, and none of ours marks user text safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from audiencehub import __version__

__all__ = ["STATIC_URL", "Pages", "mount_static"]

STATIC_URL = "/static"
_SHARED = Path(__file__).parent


def mount_static(app: FastAPI) -> None:
    """Serve the shared stylesheet and scripts under ``/static`` (cached, versioned)."""
    app.mount(STATIC_URL, StaticFiles(directory=_SHARED / "static"), name="static")


class Pages:
    """The templates of one app, rendered with what every page needs."""

    def __init__(self, folder: Path, app_name: str, nav: list[tuple[str, str]]) -> None:
        self.environment = Environment(
            loader=FileSystemLoader([str(folder), str(_SHARED / "templates")]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.globals.update(
            app_name=app_name, nav=nav, static=STATIC_URL, version=__version__
        )
        self.environment.filters["number"] = lambda n: f"{n:,}" if isinstance(n, int) else n
        self.environment.filters["percent"] = lambda x: (
            f"{x:.0%}" if isinstance(x, (int, float)) else ""
        )
        self.environment.filters["when"] = lambda d: (
            d.strftime("%Y-%m-%d %H:%M") if hasattr(d, "strftime") else (d or "")
        )

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """An HTML response of ``template`` with ``context``; the request and the signed-in
        user's CSRF token (``request.state``) are always there."""
        values = {
            "request": request,
            "user": getattr(request.state, "user", None),
            "csrf_token": getattr(request.state, "csrf_token", ""),
            "path": request.url.path,
            **(context or {}),
        }
        body = self.environment.get_template(template).render(values)
        return HTMLResponse(body, status_code=status_code, headers=dict(headers or {}))

    def error_page(self, request: Request, status: int, message: str, hint: str) -> HTMLResponse:
        """An error as a page for the person who met it (a tampered link, a missing
        audience, a role that does not allow the page)."""
        title = _TITLES.get(status, "Something is wrong" if status < 500 else "Unavailable")
        return self.render(
            request,
            "error.html",
            {"heading": title, "message": message, "hint": hint},
            status_code=status,
        )


_TITLES = {401: "Sign in needed", 403: "Not allowed", 404: "Not found", 409: "In use"}
