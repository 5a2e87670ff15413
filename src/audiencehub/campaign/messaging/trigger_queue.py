"""Triggered messages that arrive while a bulk job holds the campaign database.

A trigger first tries the database through an engine that waits a few
milliseconds for a lock. When an import holds it, the event is queued in a
spool of its own (committed before the caller is answered ``202 queued``), and
sent, in order, as soon as the database is free: the caller is never kept
waiting by a bulk job, and no event is lost. A queued event is handled by the
same :func:`~.triggers.trigger`, so its idempotency key still sends once; an
event that turns out to be unusable is logged and dropped, as it would have been
refused had it come a minute later.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.sending import Messaging
from audiencehub.campaign.messaging.triggers import TriggerResult, trigger
from audiencehub.errors import AudienceHubError
from audiencehub.spool import Spool, is_lock_wait, keep_applying

__all__ = ["TriggerQueue"]

_log = logging.getLogger(__name__)


class TriggerQueue:
    """Sends triggers now when the database is free, else queues them durably."""

    def __init__(
        self, online: Engine, engine: Engine, messaging: Messaging, vault: KeyVault, spool: Spool
    ) -> None:
        self.online, self.engine, self.messaging, self.vault = online, engine, messaging, vault
        self.spool = spool
        self._queued = spool.count() > 0
        self._guard = threading.Lock()

    def _send(self, engine: Engine, event: dict[str, Any]) -> TriggerResult:
        return trigger(engine, self.messaging, self.vault, record=self.engine, **event)

    def accept(self, event: dict[str, Any]) -> TriggerResult | None:
        """Handle ``event`` now, or queue it (None) while a bulk job holds the database."""
        with self._guard:
            queued = self._queued
        if not queued:
            try:
                return self._send(self.online, event)
            except Exception as exc:
                if not is_lock_wait(exc):
                    raise
        with self._guard:
            self.spool.append("trigger", [event])
            self._queued = True
        return None

    def process(self) -> int:
        """Send queued events in order until the queue is empty or the database is held."""
        done = 0
        for event_id, _, event in self.spool.oldest(100):
            try:
                self._send(self.online, event)
            except AudienceHubError as exc:
                _log.warning("a queued trigger was refused: %s", exc.message)
            except Exception as exc:
                if is_lock_wait(exc):
                    return done  # still held: the next tick tries again
                raise
            self.spool.forget_through(event_id)
            done += 1
        if done == 0:
            with self._guard:
                self._queued = self.spool.count() > 0
        return done

    async def run_applier(self, interval: float = 0.2) -> None:
        """Send the queue forever, off the event loop; a failure is logged and retried."""
        await keep_applying(self.process, interval, "queued triggers")

    def drain(self) -> None:
        """Send everything queued now (tests, a clean shutdown)."""
        while self.process():
            pass
