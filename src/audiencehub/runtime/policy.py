"""Process-wide policy that entry points choose and library code never sets.

Bulk jobs (a profile import, an ingest) allocate millions of short-lived
acyclic objects; the cyclic garbage collector's passes over them cost about a
third of a run and free nothing. Whether to pause it is the process's choice,
not the library's: a CLI command that does only that job pauses it; the server,
where requests share the process, tunes it instead
(:func:`audiencehub.runtime.servers.tune_gc_for_serving`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (restored as it was)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
