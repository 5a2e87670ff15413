"""Bringing a batch's data files to local disk, verified against their control file.

A batch is applied only when every file matches its ``.info`` entry (size, line
count, MD5 of the stored bytes). Checking and decompressing are one streaming
pass per file: the stored bytes are hashed as they arrive, gzip is inflated with
ISA-L (several times faster than zlib), lines are counted and the plain text is
written to a scratch folder the bulk engine reads in parallel. Files are staged
on several threads; hashing and inflating release the GIL. Nothing is held in memory
beyond one chunk per file, so a batch of any size stages in constant memory.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from isal import isal_zlib

from audiencehub.drops.base import DropLocation, DropObject
from audiencehub.formats.compression import CORRUPT
from audiencehub.formats.control import FileEntry

__all__ = ["StagedBatch", "stage_files"]

_CHUNK = 4 << 20
_GZIP_WINDOW = 31  # zlib's window bits for a gzip wrapper
# ValueError: the stream ends before its end marker
_CORRUPT: tuple[type[Exception], ...] = (*CORRUPT, ValueError)


@dataclass(frozen=True, slots=True)
class StagedBatch:
    """Plain-text copies of a batch's files, and what was observed of the stored ones."""

    paths: tuple[Path, ...]
    observed: tuple[FileEntry, ...]
    #: valid UTF-8 with no CR and no U+0001 anywhere: a columnar CSV reader splits
    #: these files into exactly the lines the format defines (it would also break
    #: lines at a lone CR, U+0001 is the column separator it is given, and it
    #: refuses whole files over one bad byte)
    plain_lines: bool
    #: the names of the files that are not UTF-8 text
    not_utf8: tuple[str, ...] = ()


class _Inflater:
    """Gzip inflation across member boundaries (concatenated gzip files are valid)."""

    def __init__(self) -> None:
        self._inflate = isal_zlib.decompressobj(_GZIP_WINDOW)

    def feed(self, data: bytes) -> bytes:
        out = [self._inflate.decompress(data)]
        while self._inflate.eof and self._inflate.unused_data:
            rest = self._inflate.unused_data
            self._inflate = isal_zlib.decompressobj(_GZIP_WINDOW)
            out.append(self._inflate.decompress(rest))
        return b"".join(out)

    def finish(self) -> bytes:
        tail = self._inflate.flush()
        if not self._inflate.eof:
            raise ValueError("the gzip stream ends before its end marker")
        return tail


def _stage_one(
    drop: DropLocation, obj: DropObject, entry: FileEntry, target: Path
) -> tuple[FileEntry, bool, bool]:
    """Copy one object to ``target`` as plain text; a corrupt gzip counts -1 lines.
    Also says whether the text is UTF-8, and whether it is free of CR and U+0001."""
    md5 = hashlib.md5()  # noqa: S324 -- the format's checksum, not a security measure
    size = lines = special = 0
    inflater = _Inflater() if entry.name.endswith(".gz") else None
    utf8 = codecs.getincrementaldecoder("utf-8")()
    readable = True

    def check(plain: bytes, *, final: bool = False) -> int:
        """Whether ``plain`` holds a CR or U+0001; notes when the text stops being UTF-8.

        ASCII (nearly every batch) is valid UTF-8 on its own, at a quarter of the
        decoder's cost, when no multi-byte character is pending from the last
        chunk; ``find`` stops at the first hit, where ``count`` reads everything.
        """
        nonlocal readable
        if readable and not (plain.isascii() and not utf8.getstate()[0]):
            try:
                utf8.decode(plain, final=final)
            except UnicodeDecodeError:
                readable = False
        return int(plain.find(b"\r") >= 0 or plain.find(b"\x01") >= 0)

    with drop.open_read(obj.key) as source, target.open("wb") as sink:
        try:
            while chunk := source.read(_CHUNK):
                md5.update(chunk)
                size += len(chunk)
                plain = inflater.feed(chunk) if inflater else chunk
                lines += plain.count(b"\n")
                special += check(plain)
                sink.write(plain)
            plain = inflater.finish() if inflater else b""
            lines += plain.count(b"\n")
            special += check(plain, final=True)
            sink.write(plain)
        except _CORRUPT:
            lines = -1
            while chunk := source.read(_CHUNK):  # keep hashing: size and MD5 still tell
                md5.update(chunk)
                size += len(chunk)
    entry_seen = FileEntry(entry.name, size, lines, entry.sequence, md5.hexdigest())
    return entry_seen, readable, special == 0


def stage_files(
    drop: DropLocation,
    entries: Sequence[FileEntry],
    objects: Mapping[str, DropObject],
    folder: Path,
    *,
    workers: int = 2,
) -> StagedBatch:
    """Stage the files of ``entries`` present in ``objects`` into ``folder``.

    Missing files are skipped: the control file comparison reports them. Paths come
    back in sequence order, the order the batch's lines were written in. ``workers``
    files are staged at once: one per core that nothing else is using.
    """
    wanted = sorted((e for e in entries if e.name in objects), key=lambda e: e.sequence)
    targets = [folder / f"{index:05d}.txt" for index in range(len(wanted))]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        staged = list(
            pool.map(
                lambda pair: _stage_one(drop, objects[pair[0].name], pair[0], pair[1]),
                zip(wanted, targets, strict=True),
            )
        )
    return StagedBatch(
        tuple(targets),
        tuple(entry for entry, _, _ in staged),
        all(utf8 and plain for _, utf8, plain in staged),
        tuple(entry.name for entry, utf8, _ in staged if not utf8),
    )
