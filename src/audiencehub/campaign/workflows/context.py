"""What every workflow activity works with: the run's transaction and working sets.

Each transition is a working set in ``workflow_sets``, keyed by run and output
name, so activities pass millions of profiles as SQL, never through Python.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Connection, Select, func, insert, literal, select

from audiencehub.campaign.audiences import audience_id
from audiencehub.campaign.messaging.sending import Messaging
from audiencehub.campaign.schema import workflow_sets
from audiencehub.campaign.sharing.people_link import PeopleClient

__all__ = ["WorkflowContext"]


class WorkflowContext:
    """One run: its transaction, its clock, and its working sets by output name."""

    def __init__(
        self,
        connection: Connection,
        run_id: int,
        now: datetime,
        client: Callable[[], PeopleClient] | None,
        messaging: Messaging | None,
    ) -> None:
        self.connection, self.run_id, self.now, self.client = connection, run_id, now, client
        self.messaging = messaging

    def members(self, output: str) -> Select[Any]:
        return select(workflow_sets.c.profile_id).where(
            workflow_sets.c.run_id == self.run_id, workflow_sets.c.output == output
        )

    def store(self, output: str, query: Select[Any] | CompoundSelect[Any]) -> int:
        source = query.subquery()
        self.connection.execute(
            insert(workflow_sets).from_select(
                ["run_id", "output", "profile_id"],
                select(literal(self.run_id), literal(output), source.c[0]),
            )
        )
        return self.count(output)

    def count(self, output: str) -> int:
        return int(
            self.connection.execute(
                select(func.count()).select_from(self.members(output).subquery())
            ).scalar_one()
        )

    def audience(self, name: str) -> int:
        return audience_id(self.connection, name)
