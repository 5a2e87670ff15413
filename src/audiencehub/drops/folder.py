"""A drop location on the local file system (the embedded default)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from audiencehub.drops.base import DropObject
from audiencehub.errors import ConfigurationError

__all__ = ["FolderDrop"]


class FolderDrop:
    """Objects are files under ``root``; keys are their relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ConfigurationError(f"{key!r} points outside the drop location {self.root}")
        return path

    def local_path(self, key: str) -> Path:
        """The file of ``key`` (inside the root), for an engine that reads files itself."""
        return self._path(key)

    def list(self) -> Iterator[DropObject]:
        """Every file below the root, in key order; temporary files are skipped."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                yield DropObject(path.relative_to(self.root).as_posix(), path.stat().st_size)

    @contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        """Open one file for reading."""
        with self._path(key).open("rb") as handle:
            yield handle

    @contextmanager
    def open_write(self, key: str) -> Iterator[IO[bytes]]:
        """Write to a hidden temporary file, renamed into place only on success."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                yield handle
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
