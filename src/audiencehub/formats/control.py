"""Transfer-control files (``<batch root>.info``) and the streams that fill them.

A reader never applies a batch whose files do not match their control file:
same names, byte sizes, line counts and MD5 digests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, cast

from audiencehub.errors import InvalidInput
from audiencehub.formats.compression import gzip_writer

__all__ = ["ControlFile", "FileEntry", "LineWriter"]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """What the control file says of one data file."""

    name: str
    byte_size: int
    line_count: int
    sequence: int
    md5: str


@dataclass(frozen=True, slots=True)
class ControlFile:
    """A batch's ``.info``: its files and totals."""

    name: str
    files: tuple[FileEntry, ...]

    def to_json(self) -> str:
        """The control file's text, in the reference product's field names."""
        return json.dumps(
            {
                "Files": [
                    {
                        "FileByteSize": f.byte_size,
                        "FileLineCount": f.line_count,
                        "FileName": f.name,
                        "FileSequenceNumber": f.sequence,
                        "md5": f.md5,
                    }
                    for f in self.files
                ],
                "Totals": {
                    "FileName": self.name,
                    "TotalByteSize": sum(f.byte_size for f in self.files),
                    "TotalNumberFiles": len(self.files),
                    "TotalNumberLines": sum(f.line_count for f in self.files),
                },
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> ControlFile:
        """Parse and cross-check a control file; totals must agree with the file list."""
        try:
            data: Any = json.loads(text)
            files = tuple(
                FileEntry(
                    name=str(f["FileName"]),
                    byte_size=int(f["FileByteSize"]),
                    line_count=int(f["FileLineCount"]),
                    sequence=int(f["FileSequenceNumber"]),
                    md5=str(f["md5"]).lower(),
                )
                for f in data["Files"]
            )
            totals: Mapping[str, Any] = data["Totals"]
            control = cls(str(totals["FileName"]), files)
            expected = (
                int(totals["TotalNumberFiles"]),
                int(totals["TotalNumberLines"]),
                int(totals["TotalByteSize"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"the control file is malformed: {exc!r}") from None
        actual = (len(files), sum(f.line_count for f in files), sum(f.byte_size for f in files))
        if expected != actual:
            raise InvalidInput(
                f"the control file's totals {expected} disagree with its file list {actual}"
            )
        return control

    def mismatches(self, observed: Sequence[FileEntry]) -> list[str]:
        """Why ``observed`` is not the batch this file describes; empty when it is."""
        problems: list[str] = []
        seen = {f.name: f for f in observed}
        for entry in self.files:
            found = seen.get(entry.name)
            if found is None:
                problems.append(f"{entry.name} is missing")
                continue
            for what, want, got in (
                ("byte size", entry.byte_size, found.byte_size),
                ("line count", entry.line_count, found.line_count),
                ("md5", entry.md5, found.md5),
            ):
                if want != got:
                    problems.append(f"{entry.name}: {what} is {got}, the control file says {want}")
        return problems


class _Counting:
    """A binary sink that counts bytes and computes the MD5 of what passes through."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink, self.size, self.md5 = sink, 0, hashlib.md5()  # noqa: S324 -- md5 is the format's checksum

    def write(self, data: bytes) -> int:
        self.sink.write(data)
        self.size += len(data)
        self.md5.update(data)
        return len(data)

    def flush(self) -> None:
        self.sink.flush()


class LineWriter:
    """Writes text lines to a binary stream, optionally gzipped, and describes the result."""

    def __init__(self, sink: IO[bytes], name: str, sequence: int, *, compress: bool) -> None:
        self.name, self.sequence, self.lines = name, sequence, 0
        self._counting = _Counting(sink)
        self._gzip = gzip_writer(cast(IO[bytes], self._counting)) if compress else None

    def write_line(self, line: str) -> None:
        """Write one line; the newline is added here."""
        self.write_lines([line])

    def write_lines(self, lines: Iterable[str]) -> None:
        """Write many lines in one block: gzip costs per call, not per byte."""
        block = [line + "\n" for line in lines]
        self.write_text("".join(block).encode("utf-8"), len(block))

    def write_text(self, data: bytes, lines: int) -> None:
        """Write ``lines`` lines already encoded, each ending in a newline."""
        if self._gzip is not None:
            self._gzip.write(data)
        else:
            self._counting.write(data)
        self.lines += lines

    def close(self) -> FileEntry:
        """Finish the stream and return the control-file entry describing it."""
        if self._gzip is not None:
            self._gzip.close()
        return FileEntry(
            self.name,
            self._counting.size,
            self.lines,
            self.sequence,
            self._counting.md5.hexdigest(),
        )
