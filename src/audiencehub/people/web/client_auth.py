"""The bearer token of an API client, and the roles a route admits.

Both the partner routes and the administration routes authenticate the same
way: an OAuth2 client-credentials token from ``/oauth/token``. The client's
role then decides (:class:`~audiencehub.people.clients.ClientRole`); the check
runs before the body is read.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy import Engine

from audiencehub.errors import InvalidCredentials
from audiencehub.people.clients import (
    TOKEN_HINT,
    ApiClient,
    ClientRole,
    require_role,
    verify_client,
)

__all__ = ["client_with"]


def client_with(engine: Engine) -> Callable[..., Callable[..., ApiClient]]:
    """``admits(*roles)`` for ``engine``'s clients: a dependency answering the calling
    client when its role is one of ``roles``."""

    def client(
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> ApiClient:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise InvalidCredentials("the request has no bearer token", hint=TOKEN_HINT)
        with engine.connect() as connection:
            return verify_client(connection, authorization[7:].strip())

    def admits(*roles: ClientRole) -> Callable[..., ApiClient]:
        def allowed(caller: Annotated[ApiClient, Depends(client)]) -> ApiClient:
            require_role(caller, *roles)
            return caller

        return allowed

    return admits
