"""Signing in to campaign's pages: the API's sessions (:mod:`audiencehub.campaign.sessions`),
the same cookie and the same roles, behind the shared page guard."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import APIRouter, Request
from sqlalchemy import Connection

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sessions import end_session, session_user, start_session
from audiencehub.campaign.users import Role, User, authenticate_password, require
from audiencehub.campaign.web.access import SESSION_COOKIE
from audiencehub.sign_ins import SignInGate
from audiencehub.webui import Pages, Tasks
from audiencehub.webui.guard import guard
from audiencehub.webui.signin import SignIn, signin_router

__all__ = ["PageAccess"]


class PageAccess:
    """Sessions for the pages of one app."""

    def __init__(
        self, services: CampaignServices, pages: Pages, gate: SignInGate, tasks: Tasks
    ) -> None:
        self.services, self.pages, self.gate, self.tasks = services, pages, gate, tasks

    def needs(self, role: Role) -> Callable[[Request], Awaitable[User]]:
        """A page dependency: the signed-in user, if their role allows ``role``."""
        engine = self.services.engine

        def lookup(session: str) -> User:
            with engine.connect() as connection:
                return session_user(connection, session)

        return guard(SESSION_COOKIE, lookup, lambda user: require(user, role))

    def router(self) -> APIRouter:
        """Sign-in, sign-out and the progress of background tasks."""
        hours = self.services.settings.session_hours

        def start(connection: Connection, name: str, password: str) -> str:
            user = authenticate_password(connection, name, password)
            return start_session(connection, user, timedelta(hours=hours)).token

        sign_in = SignIn(SESSION_COOKIE, hours * 3600, self.gate, start, end_session)
        return signin_router(self.pages, sign_in, self.needs(Role.VIEWER), self.tasks)
