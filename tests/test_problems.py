"""Errors over HTTP: an internal error reveals nothing, as a problem for the APIs and as a
page for people."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.testclient import TestClient

from audiencehub.errors import NotFound
from audiencehub.problems import install_problem_handlers


def _app() -> FastAPI:
    def page(_: Request, status: int, message: str, hint: str) -> Response:
        return HTMLResponse(f"<h1>{status}</h1><p>{message}</p><p>{hint}</p>", status_code=status)

    app = FastAPI()
    install_problem_handlers(app, html=page)

    @app.get("/api/v1/boom")
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the secret detail of a bug")

    @app.post("/form")
    def form(number: Annotated[int, Form()]) -> int:
        return number

    @app.get("/missing")
    def missing() -> None:
        raise NotFound("no audience is named 'x'")

    return app


def test_a_bug_is_one_plain_answer_that_reveals_nothing():
    with TestClient(_app(), raise_server_exceptions=False) as client:
        api = client.get("/api/v1/boom")
        assert api.status_code == 500 and api.headers["content-type"] == "application/problem+json"
        assert api.json()["detail"] == "something went wrong on our side"
        page = client.get("/boom")
        assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
        for answer in (api, page):
            assert "secret detail" not in answer.text and "RuntimeError" not in answer.text


def test_user_errors_of_pages_are_pages():
    with TestClient(_app()) as client:
        page = client.get("/missing")
        assert page.status_code == 404 and "<h1>404</h1>" in page.text


def test_a_value_the_database_refuses_is_the_requests_fault(pg_url):
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    app = _app()

    @app.get("/api/v1/echo/{value}")
    def echo(value: str) -> str:
        with engine.connect() as connection:
            return str(connection.execute(text("select :v"), {"v": value}).scalar())

    with TestClient(app) as client:
        answer = client.get("/api/v1/echo/a%00b")
        assert answer.status_code == 400 and "NUL" in answer.json()["hint"]
        assert "psycopg" not in answer.text


def test_a_forms_bad_field_is_a_page_that_names_it():
    with TestClient(_app()) as client:
        page = client.post("/form", data={"number": "twelve"})
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
        assert "number:" in page.text
