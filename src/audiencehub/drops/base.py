"""What a drop location offers: list, read and write objects by key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Protocol

__all__ = ["DropLocation", "DropObject"]


@dataclass(frozen=True, slots=True)
class DropObject:
    """An object in a drop location: its key (``/``-separated, relative) and size."""

    key: str
    size: int

    @property
    def name(self) -> str:
        """The last part of the key: the file name the formats parse."""
        return self.key.rsplit("/", 1)[-1]


class DropLocation(Protocol):
    """A folder or an S3 prefix that files are exchanged through."""

    url: str

    def list(self) -> Iterator[DropObject]:
        """Every object under the location, at any depth (``date=`` prefixes included)."""
        ...

    def open_read(self, key: str) -> AbstractContextManager[IO[bytes]]:
        """A binary stream of one object."""
        ...

    def open_write(self, key: str) -> AbstractContextManager[IO[bytes]]:
        """A binary stream whose content becomes the object only when it closes cleanly."""
        ...
