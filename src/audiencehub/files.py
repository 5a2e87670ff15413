"""Files and folders that hold secrets or personal data, created owner-only from the start.

Databases, rejects files (raw rows of people), the outbox (addressed messages)
and the master key are created with mode 0600 (folders 0700) by the call that
creates them, never widened afterwards: there is no moment at which another
user of the machine could open them. The process umask is left alone (that is
the entry point's business); these modes only ever narrow it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from audiencehub.errors import ConfigurationError

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "open_private_text",
    "private_dir",
    "scratch_folder",
    "touch_private",
    "write_private",
]

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; an existing folder is left as it is."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    return path


def touch_private(path: Path) -> bool:
    """Create an empty owner-only file if none exists; True when this call created it."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    os.close(descriptor)
    return True


def open_private_text(path: Path) -> IO[str]:
    """Open ``path`` for writing text (CSV-ready: no newline translation), owner-only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="")


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path``, owner-only (``exclusive``: fail if it exists)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    with os.fdopen(os.open(path, flags, PRIVATE_FILE), "wb") as out:
        out.write(data)


@contextmanager
def scratch_folder(parent: Path | None, prefix: str) -> Iterator[Path]:
    """A private temporary folder under ``parent`` (the system's by default), removed after.

    Its name carries the process id, so a run first removes the folders that
    runs killed before they could clean up (their process is gone): a ``kill -9``
    during an import or a publication leaves no staged copy of people's data
    behind for long.
    """
    where = parent if parent is not None else Path(tempfile.gettempdir())
    try:
        private_dir(where)
        for stale in where.glob(f"{prefix}-*-*"):
            pid = stale.name.removeprefix(f"{prefix}-").split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)
        made = tempfile.TemporaryDirectory(dir=where, prefix=f"{prefix}-{os.getpid()}-")
    except OSError as exc:
        blocking = next((p for p in (where, *where.parents) if p.exists()), where)
        reason = f"{blocking} is not a folder" if not blocking.is_dir() else exc.strerror or exc
        raise ConfigurationError(
            f"cannot make a scratch folder in {where}: {reason}",
            hint="Set scratch_path (or TMPDIR) to a writable folder with room for the job's "
            "copies of its files and its spills.",
        ) from exc
    with made as folder:
        yield Path(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
