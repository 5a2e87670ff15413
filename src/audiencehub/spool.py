"""Online writes that never wait for a bulk job: straight to the database when it is free,
else into a durable spool that is applied, in order, as soon as it is free again.

A click redirect, an open pixel, an unsubscribe, a visitor-ID sync must answer in
milliseconds, but a profile import or an ingest holds the database's write lock
(SQLite has one writer) or the rows it changes (PostgreSQL) for minutes. So an
online write first tries the database with a lock wait of a few milliseconds;
when the lock is held, its events go to a spool: a small SQLite file of its own
in the workspace, committed before the request is answered (a ``kill -9`` loses
nothing). Once a process has spooled, its later events queue behind, so its
events are applied in the order they happened. An applier in the server moves
the spool into the database every tenth of a second, waiting the same few
milliseconds; a watermark kept in the database, in the same transaction as the
events, makes each event apply exactly once, even if the server dies between
applying and forgetting them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import BigInteger, Column, Connection, Engine, MetaData, String, Table, select
from sqlalchemy.exc import DBAPIError

from audiencehub.db.bulk import upsert
from audiencehub.files import private_dir, touch_private

__all__ = [
    "Applier",
    "Event",
    "Handler",
    "Lifespan",
    "OnlineWrites",
    "Spool",
    "is_lock_wait",
    "keep_applying",
    "spool_marks_table",
    "with_appliers",
]

_log = logging.getLogger(__name__)

Event = dict[str, Any]
Handler = Callable[[Connection, Sequence[Event]], None]
"""Applies events of one kind in the caller's transaction (the same code as a direct write)."""


def spool_marks_table(name: str, metadata: MetaData) -> Table:
    """A system's table of how far each spool has been applied (its exactly-once record)."""
    return Table(
        name,
        metadata,
        Column("spool_id", String(36), primary_key=True),
        Column("applied_through", BigInteger, nullable=False),
    )


def is_lock_wait(exc: BaseException) -> bool:
    """Whether the database refused because a lock was held (so the spool should take over).

    Bulk helpers talk to the driver directly, so its own errors count as well as
    SQLAlchemy's wrapping of them.
    """
    driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(driver_error, "sqlstate", None) in ("55P03", "40P01", "40001"):
        return True  # PostgreSQL: lock not available, deadlock, serialization failure
    message = str(driver_error).lower()
    return "database is locked" in message or "database table is locked" in message


class Spool:
    """A durable first-in first-out queue of small JSON events, in a SQLite file of its own.

    Its id (a UUID kept in the file) names it in the database's watermark table,
    so a new spool file never inherits an old one's progress.
    """

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        touch_private(path)  # owner-only: the events carry visitor and declared IDs
        self.path = path
        self._local = threading.local()
        connection = self._connection()
        with connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "kind TEXT NOT NULL, body TEXT NOT NULL)"
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            connection.execute(
                "INSERT OR IGNORE INTO meta VALUES ('spool_id', ?)", (str(uuid.uuid4()),)
            )
        self.spool_id = str(
            connection.execute("SELECT value FROM meta WHERE name = 'spool_id'").fetchone()[0]
        )

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
            self._local.connection = connection
        return connection

    def append(self, kind: str, events: Sequence[Event]) -> None:
        """Add events, committed before this returns."""
        connection = self._connection()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO events (kind, body) VALUES (?, ?)",
                [(kind, json.dumps(event, default=str)) for event in events],
            )

    def oldest(self, limit: int) -> list[tuple[int, str, Event]]:
        """Up to ``limit`` events, oldest first."""
        rows = self._connection().execute(
            "SELECT id, kind, body FROM events ORDER BY id LIMIT ?", (limit,)
        )
        return [(int(i), str(kind), json.loads(body)) for i, kind, body in rows]

    def forget_through(self, event_id: int) -> None:
        """Remove the events up to ``event_id`` (they are applied)."""
        connection = self._connection()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("DELETE FROM events WHERE id <= ?", (event_id,))

    def count(self) -> int:
        """How many events wait."""
        return int(self._connection().execute("SELECT count(*) FROM events").fetchone()[0])


class OnlineWrites:
    """Writes online events directly when the database is free, else through the spool.

    ``engine`` must wait only a few milliseconds for locks (see ``lock_timeout_ms``
    of :func:`audiencehub.db.engine.create_db_engine`).
    """

    def __init__(
        self,
        engine: Engine,
        spool: Spool | None,
        handlers: Mapping[str, Handler],
        marks: Table,
    ) -> None:
        self.engine, self._spool, self.handlers, self.marks = engine, spool, handlers, marks
        self._spooling = spool is not None and spool.count() > 0
        self._guard = threading.Lock()

    @property
    def spool(self) -> Spool:
        """The spool (an app built without one writes directly and never spools)."""
        if self._spool is None:
            raise RuntimeError("these online writes have no spool")
        return self._spool

    def backlog(self) -> int:
        """How many events wait in the spool (none without one)."""
        return 0 if self._spool is None else self._spool.count()

    def write(self, kind: str, events: Sequence[Event]) -> None:
        """Record ``events``: applied now, or spooled (durably) to be applied shortly."""
        if self._spool is None:
            with self.engine.begin() as connection:
                self.handlers[kind](connection, events)
            return
        with self._guard:
            direct = not self._spooling
        if direct:
            try:
                with self.engine.begin() as connection:
                    self.handlers[kind](connection, events)
            except Exception as exc:
                if not is_lock_wait(exc):
                    raise
            else:
                return
        with self._guard:
            self.spool.append(kind, events)
            self._spooling = True

    def apply_spooled(self, limit: int = 5_000) -> int:
        """Apply up to ``limit`` spooled events in one transaction; 0 when none or locked."""
        if self._spool is None:
            return 0
        events = self.spool.oldest(limit)
        if not events:
            with self._guard:
                if self.spool.count() == 0:
                    self._spooling = False
            return 0
        try:
            with self.engine.begin() as connection:
                done = self._applied_through(connection)
                todo = [event for event in events if event[0] > done]
                for kind, run in itertools.groupby(todo, key=lambda event: event[1]):
                    self.handlers[kind](connection, [body for _, _, body in run])
                upsert(
                    connection,
                    self.marks,
                    [
                        {
                            "spool_id": self.spool.spool_id,
                            "applied_through": max(done, events[-1][0]),
                        }
                    ],
                    keys=("spool_id",),
                    update=("applied_through",),
                )
        except Exception as exc:
            if is_lock_wait(exc):
                return 0  # still busy: the next tick tries again
            raise
        self.spool.forget_through(events[-1][0])
        return len(events)

    def _applied_through(self, connection: Connection) -> int:
        query = select(self.marks.c.applied_through).where(
            self.marks.c.spool_id == self.spool.spool_id
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()  # two appliers of one spool take turns
        found = connection.execute(query).scalar()
        return int(found) if found is not None else 0

    def drain(self) -> None:
        """Apply everything spooled now (for tests and a clean shutdown); may wait on locks."""
        while self.apply_spooled():
            pass

    async def run_applier(self, interval: float = 0.1) -> None:
        """Apply the spool forever, off the event loop; a failure is logged and retried."""
        await keep_applying(self.apply_spooled, interval, "the online spool")


async def keep_applying(step: Callable[[], int], interval: float, what: str) -> None:
    """Call ``step`` (off the event loop) while it makes progress, then wait ``interval``,
    forever; a failure is logged and retried at the next tick."""
    while True:
        try:
            while await asyncio.to_thread(step):
                pass
        except Exception:
            _log.exception("applying %s failed; retrying", what)
        await asyncio.sleep(interval)


Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[None]]


class Applier(Protocol):
    """Anything that moves a spool into the database for as long as it runs."""

    async def run_applier(self) -> None:
        """Apply forever."""
        ...


def with_appliers(writes: Sequence[Applier], inner: Lifespan | None = None) -> Lifespan:
    """An app lifespan that runs the appliers of ``writes`` around ``inner`` (if any)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(w.run_applier()) for w in writes]
        try:
            if inner is None:
                yield
            else:
                async with inner(app):
                    yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan
