"""The people service's operations over ``/api/v1``: ingest receipts, publications, running
a job now, and the API clients.

A viewer client reads receipts and publications; an admin client also runs jobs
and manages the clients (a secret is answered once, at registration).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from audiencehub.db.job_runs import JobRun
from audiencehub.errors import ConfigurationError, InvalidInput
from audiencehub.people.clients import (
    ApiClient,
    ClientRole,
    actor_of,
    list_clients,
    register_client,
    replace_secret,
    revoke_client,
)
from audiencehub.people.jobs import PeopleJob, job_history
from audiencehub.people.receipts import StoredReceipt, receipt_page
from audiencehub.restapi import Cursor, Limit, Page, page_of, page_rows
from audiencehub.restapi.apps import example

__all__ = ["JobRunner", "operations_router", "run_now"]

JobRunner = Callable[[PeopleJob], dict[str, Any]]


def run_now(jobs: JobRunner | None, job: PeopleJob) -> dict[str, Any]:
    """Run ``job`` with the server's runner; an app built without one says so."""
    if jobs is None:
        raise ConfigurationError(
            "this server runs no job on demand",
            hint=f"Run it with: audiencehub people jobs run {job.value}",
        )
    return jobs(job)


class NewClient(BaseModel):
    """An API client to register."""

    name: str = Field(min_length=1, max_length=255, examples=["campaign"])
    role: ClientRole = ClientRole.PARTNER


class RegisteredClient(BaseModel):
    """A registered client: the secret is shown this once."""

    client_id: str
    client_secret: str
    role: ClientRole


class SecretRotation(BaseModel):
    """How long a client's previous secret keeps working beside the new one."""

    overlap_hours: int = Field(
        default=24,
        ge=0,
        le=24 * 30,
        description="0 when the secret leaked: it stops at once, with the client's tokens.",
    )


class ReplacedSecret(BaseModel):
    """A client's new secret, shown this once, and until when the previous one works."""

    client_id: str
    client_secret: str
    previous_secret_until: datetime | None


def _receipt_key(value: Any) -> bool:
    """A receipts cursor: the last receipt's processing time and batch."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return False
    try:
        datetime.fromisoformat(value[0])
    except ValueError:
        return False
    return True


def operations_router(engine: Engine, admits: Any, jobs: JobRunner | None = None) -> APIRouter:
    """Receipt, publication, job and client routes; ``admits(*roles)`` lets clients of those
    roles in; ``jobs`` runs a job now."""
    router = APIRouter(prefix="/api/v1")
    # type aliases of the route parameters, made here because they close over ``admits``
    Reader = Annotated[ApiClient, Depends(admits(ClientRole.VIEWER, ClientRole.ADMIN))]  # noqa: N806
    Admin = Annotated[ApiClient, Depends(admits(ClientRole.ADMIN))]  # noqa: N806

    @router.get("/receipts", tags=["ingest"])
    def receipts(_: Reader, cursor: Cursor = None, limit: Limit = 50) -> Page[StoredReceipt]:
        """Processing receipts of ingested batches, newest first, every counter."""
        with engine.connect() as connection:
            return page_rows(
                lambda after, n: receipt_page(connection, tuple(after) if after else None, n),
                lambda r: [str(r["processed_at"].isoformat()), r["batch"]],
                cursor,
                limit,
                _receipt_key,
            )

    @router.get("/publications", tags=["publication"])
    def publications(_: Reader, limit: Limit = 20) -> list[JobRun]:
        """Publication runs, newest first: per destination the batch, its files and counts."""
        return job_history(engine, limit, PeopleJob.PUBLISH)

    @router.post(
        "/jobs/{job}/runs",
        tags=["jobs"],
        responses=example(
            200,
            {
                "publications": [
                    {
                        "destination_id": 46390,
                        "full": False,
                        "batch": "S3_46390_7001_audiencehub_iter_1764300000000",
                        "files": [],
                        "rows": 120,
                        "added": 100,
                        "removed": 20,
                    }
                ]
            },
        ),
    )
    def run_job_now(job: PeopleJob, _: Admin) -> dict[str, Any]:
        """Run ingest, publication or retention now (recorded like a scheduled run)."""
        return run_now(jobs, job)

    @router.get("/clients", tags=["clients"])
    def clients(_: Admin, cursor: Cursor = None, limit: Limit = 100) -> Page[ApiClient]:
        """API clients and their roles, never their secrets."""
        with engine.connect() as connection:
            return page_of(list_clients(connection), lambda c: c["client_id"], cursor, limit)

    @router.post("/clients", tags=["clients"], status_code=201)
    def create_client(body: NewClient, caller: Admin, response: Response) -> RegisteredClient:
        """Register a client; its secret is answered this once."""
        response.headers["Cache-Control"] = "no-store"  # it holds a secret
        with engine.begin() as connection:
            client_id, secret = register_client(
                connection, body.name, body.role, actor=actor_of(caller)
            )
        return RegisteredClient(client_id=client_id, client_secret=secret, role=body.role)

    @router.post("/clients/{client_id}/secret", tags=["clients"])
    def rotate_secret(
        client_id: Annotated[str, Path(max_length=64, examples=["ah_1f2e3d4c5b6a7988"])],
        body: SecretRotation,
        caller: Admin,
        response: Response,
    ) -> ReplacedSecret:
        """Give a client a new secret, answered this once. The previous one keeps working
        for ``overlap_hours`` beside it (a routine rotation, with no gap for the partner);
        with 0 it stops at once, and so do the client's tokens and page sessions."""
        response.headers["Cache-Control"] = "no-store"  # it holds a secret
        with engine.begin() as connection:
            secret, until = replace_secret(
                connection,
                client_id,
                overlap=timedelta(hours=body.overlap_hours),
                actor=actor_of(caller),
            )
        return ReplacedSecret(
            client_id=client_id, client_secret=secret, previous_secret_until=until
        )

    @router.delete("/clients/{client_id}", tags=["clients"], status_code=204)
    def remove_client(
        client_id: Annotated[str, Path(max_length=64, examples=["ah_1f2e3d4c5b6a7988"])],
        caller: Admin,
    ) -> None:
        """Revoke a client: its secret and tokens stop working at once."""
        if client_id == caller["client_id"]:
            raise InvalidInput("a client cannot revoke itself", hint="Use another admin client.")
        with engine.begin() as connection:
            revoke_client(connection, client_id, actor=actor_of(caller))

    return router
