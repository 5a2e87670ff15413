"""SMS through an HTTP gateway: a real server on loopback receives each message."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Header, Request, Response

from audiencehub.campaign.messaging.delivery import SendFailed, send_sms
from tests.helpers import free_port


@pytest.fixture
def gateway():
    """A gateway accepting one token, refusing one number, keeping what it got."""
    received: list[dict] = []
    app = FastAPI()

    @app.post("/sms")
    async def sms(request: Request, authorization: str | None = Header(default=None)) -> Response:
        if authorization != "Bearer gw-token":
            return Response(status_code=401)
        body = await request.json()
        if body["to"] == "+33600000000":
            return Response("number blocked", status_code=422)
        received.append(body)
        return Response(status_code=202)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/sms", received
    server.should_exit = True
    thread.join(timeout=5)


def test_messages_reach_the_gateway_with_its_token(sqlite_workspace, gateway):
    """The gateway gets the number and body with the bearer token; refusals carry its answer."""
    url, received = gateway
    settings = sqlite_workspace.settings.model_copy(
        update={"sms_gateway_url": url, "sms_gateway_token": "gw-token"}
    )
    send_sms(settings, "+33612345678", "Hello")
    assert received == [{"to": "+33612345678", "body": "Hello"}]
    with pytest.raises(SendFailed, match="422: number blocked"):
        send_sms(settings, "+33600000000", "Hello")
    wrong = settings.model_copy(update={"sms_gateway_token": "nope"})
    with pytest.raises(SendFailed, match="answered 401"):
        send_sms(wrong, "+33612345678", "Hello")
