"""An HTTP client whose requests an ASGI app in this process answers, with no server.

The demo seeds the integration before any server runs, yet campaign reaches
the people service through its real partner-API client
(:class:`~audiencehub.campaign.sharing.people_link.PeopleClient`), which takes
an :class:`httpx.Client`. Starlette's test client did this, but it is made for
tests, and importing it warns (Starlette deprecates its httpx-based client), which
every command printed. Here each request goes to :class:`httpx.ASGITransport` on
an event loop of its own thread, so a caller inside a running loop is served
too. As with the test client, an exception the app raises is raised here.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
from starlette.types import ASGIApp

__all__ = ["app_client"]


class _AppTransport(httpx.BaseTransport):
    """A synchronous transport over :class:`httpx.ASGITransport`."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as bytes: a stream either kind of transport can send
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="app-client") as pool:
            return pool.submit(asyncio.run, self._send(request)).result()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._app.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=request,
        )


def app_client(app: ASGIApp, base_url: str = "http://app.local") -> httpx.Client:
    """A client of ``app``, served in this process."""
    return httpx.Client(transport=_AppTransport(app), base_url=base_url)
