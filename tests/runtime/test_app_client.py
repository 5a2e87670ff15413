"""An app served in this process answers the client as a server would, and the CLI that
carries it says nothing on standard error when nothing is wrong."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from fastapi import FastAPI, Form, Header, Request
from fastapi.responses import JSONResponse

from audiencehub.runtime.app_client import app_client


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo/{name}")
    async def echo(name: str, request: Request, x_token: str = Header("")) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            {"name": name, "body": body, "token": x_token, "query": dict(request.query_params)},
            status_code=201,
            headers={"X-Seen": "yes"},
        )

    @app.post("/form")
    def form(grant_type: str = Form(...)) -> dict[str, str]:
        return {"grant_type": grant_type}

    @app.get("/fails")
    def fails() -> None:
        raise RuntimeError("the app's own error")

    return app


def test_a_request_reaches_the_app_whole_and_its_answer_comes_back_whole():
    with app_client(_app()) as http:
        response = http.post(
            "/echo/zoë", json={"ids": [1, 2]}, params={"page": "2"}, headers={"X-Token": "t"}
        )
        assert response.status_code == 201
        assert response.headers["x-seen"] == "yes"
        assert response.json() == {
            "name": "zoë",
            "body": {"ids": [1, 2]},
            "token": "t",
            "query": {"page": "2"},
        }
        assert http.post("/form", data={"grant_type": "client_credentials"}).json() == {
            "grant_type": "client_credentials"
        }


def test_a_caller_inside_a_running_event_loop_is_served():
    async def inside() -> int:
        with app_client(_app()) as http:
            return http.post("/echo/x", json={}).status_code

    assert asyncio.run(inside()) == 201


def test_the_app_s_exception_is_raised_to_the_caller():
    with app_client(_app()) as http, pytest.raises(RuntimeError, match="the app's own error"):
        http.get("/fails")


def test_the_cli_prints_no_warning():
    """Every command imports the demo, which once imported a test client that warns."""
    done = subprocess.run(
        [sys.executable, "-W", "default", "-m", "audiencehub", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""
    assert "Usage" in done.stdout
