"""One way to build an app of audiencehub: problem details, the size limit, offline docs.

Both apps answer errors in one shape (:mod:`audiencehub.problems`), refuse
bodies over the workspace's limit before holding them, and serve their
interactive documentation (Swagger UI at ``/api/docs``, ReDoc at
``/api/redoc``) with scripts and styles shipped in the package: the machines
that run this often have no internet. Operation ids are the route functions'
names, checked unique when the schema is built, so generated clients get
readable method names and no two operations collide.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from audiencehub import __version__
from audiencehub.problems import BodyLimit, install_problem_handlers

__all__ = ["OPENAPI_URL", "create_api_app", "example", "problem_responses"]

OPENAPI_URL = "/api/openapi.json"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_PROBLEM = {
    "content": {
        "application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": {
                "type": "about:blank",
                "title": "Not Found",
                "status": 404,
                "detail": "no audience is named 'vip'",
                "hint": "List them with GET /api/v1/audiences.",
            },
        }
    }
}
_PROBLEM_SCHEMA = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details; `hint` says how to fix it.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "hint": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry documenting problem answers of ``statuses``."""
    return {status: {"description": "A problem (RFC 9457).", **_PROBLEM} for status in statuses}


def example(
    status: int, body: Any, media_type: str = "application/json", description: str = "An example."
) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry giving an example answer of ``status``."""
    return {status: {"description": description, "content": {media_type: {"example": body}}}}


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_api_app(
    title: str, description: str, *, max_request_bytes: int, lifespan: Lifespan | None
) -> FastAPI:
    """An app with the house conventions; the caller adds its routers."""
    app = FastAPIOffline(
        title=title,
        description=description,
        version=__version__,
        openapi_url=OPENAPI_URL,
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        static_url="/api/docs-assets",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        generate_unique_id_function=_operation_id,
        responses=problem_responses(400, 401, 403, 413, 422),
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                _PROBLEM_SCHEMA
            )
            _check_unique_ids(schema)
        return app.openapi_schema or schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _check_unique_ids(schema: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            name = operation.get("operationId")
            if name in seen:
                raise RuntimeError(f"operation id {name!r} of {method} {path} is also {seen[name]}")
            seen[name] = f"{method} {path}"
