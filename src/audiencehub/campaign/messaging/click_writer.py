"""Group commit of clicks: each redirect waits until its click is stored, batched with others.

A redirect is answered only once its click is committed, so no click is lost;
clicks arriving while a batch is being written go into the next batch, one
transaction for all of them (or one spool append while a bulk job holds the
database). The connection settings the tracking server needs are read at most
every few seconds.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Engine

from audiencehub.campaign.messaging.tracking import Click, click_event
from audiencehub.campaign.sharing.people_link import get_people_link, people_link_enabled
from audiencehub.spool import OnlineWrites

__all__ = ["ClickWriter"]

_SETTINGS_SECONDS = 5.0


class ClickWriter:
    """Stores clicks in batches from the event loop, the database work in a thread."""

    def __init__(self, engine: Engine, online: OnlineWrites, max_batch: int = 1_000) -> None:
        self.engine, self.online, self.max_batch = engine, online, max_batch
        self._pending: list[tuple[Click, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._settings: tuple[float, bool, str | None] = (0.0, False, None)

    async def settings(self) -> tuple[bool, str | None]:
        """Whether the people connection is enabled, and its org id (cached briefly)."""
        read_at, enabled, org_id = self._settings
        if time.monotonic() - read_at > _SETTINGS_SECONDS:
            enabled, org_id = await asyncio.to_thread(self._read_settings)
            self._settings = (time.monotonic(), enabled, org_id)
        return enabled, org_id

    def _read_settings(self) -> tuple[bool, str | None]:
        with self.engine.connect() as connection:
            enabled = people_link_enabled(connection)
            return enabled, (get_people_link(connection)["org_id"] if enabled else None)

    async def record(self, click: Click) -> None:
        """Return once ``click`` is committed (raises if its batch failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((click, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                await asyncio.to_thread(self._write, [click for click, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def _write(self, clicks: list[Click]) -> None:
        self.online.write("click", [click_event(*click) for click in clicks])
