"""Reading PGP-encrypted inbound files as if they had been sent in plain text.

An encrypted object is copied from the drop and decrypted into a private scratch
folder, both streamed to disk, so a file of gigabytes never sits in memory; the
batch then reads the plain copy. The scratch folder goes when the batch is done
(and a killed run's is swept by the next run), so no decrypted copy of people's
data outlives its batch.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from audiencehub.drops import DropLocation, DropObject
from audiencehub.errors import ConfigurationError
from audiencehub.people.pgp_keys import PgpKeys

__all__ = [
    "ENCRYPTED_SUFFIXES",
    "DecryptedDrop",
    "encryption_problem",
    "is_encrypted",
    "plain_name",
]

ENCRYPTED_SUFFIXES = (".pgp", ".gpg")


def is_encrypted(name: str) -> bool:
    """Whether ``name`` is a PGP-encrypted file (``.pgp`` or ``.gpg``)."""
    return name.endswith(ENCRYPTED_SUFFIXES)


def plain_name(name: str) -> str:
    """The file name without its encryption suffix, which the formats parse."""
    return name[:-4] if is_encrypted(name) else name


def encryption_problem(name: str) -> str | None:
    """Why an encrypted file is refused by its name, or None: a PGP file must not also be
    gzip-compressed (PGP compresses, and the reference rejects ``.gz`` inside PGP); saying
    so beats calling the file badly named."""
    if is_encrypted(name) and plain_name(name).endswith(".gz"):
        return (
            "a PGP file must not also be gzip-compressed (PGP compresses; the reference "
            "rejects .gz inside .pgp/.gpg): encrypt the plain file"
        )
    return None


class DecryptedDrop:
    """A view of a drop in which a batch's encrypted objects read as plain text."""

    def __init__(
        self,
        drop: DropLocation,
        objects: Sequence[DropObject],
        keys: PgpKeys | None,
        dpid: int,
        scratch: Path,
    ) -> None:
        self.url = drop.url
        self._drop = drop
        self._plain: dict[str, Path] = {}
        for number, obj in enumerate(o for o in objects if is_encrypted(o.name)):
            if keys is None:
                raise ConfigurationError(
                    f"{obj.key} is encrypted and this run has no PGP keys",
                    hint="Run the ingest from a workspace (audiencehub people ingest).",
                )
            sealed, plain = scratch / f"{number}.pgp", scratch / f"{number}.txt"
            with drop.open_read(obj.key) as source, sealed.open("wb") as copy:
                shutil.copyfileobj(source, copy, 4 << 20)
            keys.decrypt_file(dpid, sealed, plain, obj.key)
            sealed.unlink()
            self._plain[obj.key] = plain

    def list(self) -> Iterator[DropObject]:
        return self._drop.list()

    def open_read(self, key: str) -> AbstractContextManager[IO[bytes]]:
        plain = self._plain.get(key)
        return plain.open("rb") if plain is not None else self._drop.open_read(key)

    def open_write(self, key: str) -> AbstractContextManager[IO[bytes]]:
        return self._drop.open_write(key)
