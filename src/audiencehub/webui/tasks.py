"""Long work started from a page, run in the server and followed by polling.

An import, a job run or a delivery can take minutes; a page starts it as a
task and polls its state. The task runs in a thread of the server process, so
closing the page does not stop it, and what it did is recorded where the work
records itself (job runs, the message log); the registry only keeps recent
tasks' state for the pages that follow them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audiencehub.errors import AudienceHubError

__all__ = ["Task", "Tasks"]

_KEPT = 200


@dataclass
class Task:
    """A piece of work and what became of it."""

    id: int
    title: str
    owner: str
    link: str = ""  # where to look at the outcome
    state: str = "running"  # running | done | failed
    started: float = field(default_factory=time.time)
    ended: float | None = None
    result: Any = None
    error: str = ""
    hint: str = ""

    @property
    def seconds(self) -> float:
        """How long it ran (so far)."""
        return (self.ended or time.time()) - self.started


class Tasks:
    """The recent tasks of one server process."""

    def __init__(self) -> None:
        self._tasks: OrderedDict[int, Task] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(
        self,
        title: str,
        owner: str,
        work: Callable[[], Any],
        link: str | Callable[[Any], str] = "",
    ) -> Task:
        """Run ``work`` in a thread of its own; a user error becomes the task's message.
        ``link`` is where to see the outcome, or makes it from ``work``'s result."""
        with self._lock:
            task = Task(next(self._ids), title, owner, link if isinstance(link, str) else "")
            self._tasks[task.id] = task
            while len(self._tasks) > _KEPT:
                self._tasks.popitem(last=False)

        def run() -> None:
            try:
                task.result = work()
                if callable(link):
                    task.link = link(task.result)
                task.state = "done"
            except AudienceHubError as exc:
                task.error, task.hint, task.state = exc.message, exc.hint, "failed"
            except Exception as exc:
                task.error, task.state = f"internal error ({type(exc).__name__})", "failed"
            finally:
                task.ended = time.time()

        threading.Thread(target=run, name=f"task-{task.id}", daemon=True).start()
        return task

    def get(self, task_id: int) -> Task | None:
        """A recent task, if it is still kept."""
        return self._tasks.get(task_id)

    def recent(self, limit: int = 10) -> list[Task]:
        """The newest tasks first."""
        return list(reversed(self._tasks.values()))[:limit]
