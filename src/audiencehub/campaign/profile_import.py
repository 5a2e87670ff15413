"""Streaming import of profile files (CSV or TSV, optionally gzip) into the store.

The parent process reads and parses the file and owns the one database
transaction; row validation (email syntax, phone parsing, hashing) runs in a
pool of worker processes, with a bounded number of chunks in flight so memory
stays flat whatever the file size. Results are applied in file order, so the
outcome is the same as a sequential import. The whole file is applied or
nothing is; bad rows go to a rejects file and never stop the import.
"""

from __future__ import annotations

import csv
import gzip
import io
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from audiencehub.campaign.profile_fields import (
    REJECT_COLUMNS,
    ColumnMapping,
    UpsertKey,
    build_mapping,
)
from audiencehub.campaign.profile_rows import ProfileChange, RejectedRow, RowValidator
from audiencehub.campaign.profile_store import ChunkOutcome, apply_changes, schemes_in_use
from audiencehub.errors import InputFileError
from audiencehub.identity.schemes import HashScheme

__all__ = ["ImportReport", "import_profiles"]

Progress = Callable[[int, int], None]
_CHUNK_ROWS = 5_000
_INLINE_BYTES = 4 * 1024 * 1024  # below this a worker pool costs more than it saves
_GZIP_MAGIC = b"\x1f\x8b"
_validator: RowValidator | None = None


@dataclass(frozen=True)
class ImportReport:
    """What an import did; ``read`` always equals the sum of the other four counts."""

    path: Path
    read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    rejects_path: Path | None
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Throughput, for progress lines and benchmarks."""
        return self.read / self.seconds if self.seconds else 0.0


def _init_worker(mapping: ColumnMapping, schemes: tuple[HashScheme, ...], region: str | None) -> None:
    global _validator  # noqa: PLW0603 -- one validator per worker process, built once
    _validator = RowValidator(mapping, schemes, region)


def _validate_chunk(rows: list[tuple[int, list[str]]]) -> list[ProfileChange | RejectedRow]:
    assert _validator is not None  # noqa: S101 -- set by the pool initializer
    return _validator.validate_many(rows)


class _Source:
    """An open data file: text rows for csv, and the raw position for progress."""

    def __init__(self, path: Path) -> None:
        try:
            self.raw: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise InputFileError(f"cannot open {path}: {exc.strerror}") from None
        self.size = path.stat().st_size
        binary: IO[bytes] = self.raw
        if self.raw.read(2) == _GZIP_MAGIC:
            self.raw.seek(0)
            binary = gzip.GzipFile(fileobj=self.raw, mode="rb")
        else:
            self.raw.seek(0)
        self.text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")

    def close(self) -> None:
        self.text.close()
        self.raw.close()


def _delimiter(path: Path, header_line: str, explicit: str | None) -> str:
    if explicit:
        return "\t" if explicit in ("\\t", "tab") else explicit
    suffixes = [s.lower() for s in path.suffixes]
    if ".tsv" in suffixes:
        return "\t"
    if ".csv" in suffixes:
        return ","
    return "\t" if "\t" in header_line else ","


def _chunks(reader: Iterator[list[str]], line_of: Callable[[], int]) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    for fields in reader:
        if not fields or fields == [""]:
            continue  # blank lines are not rows
        chunk.append((line_of(), fields))
        if len(chunk) == _CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Rejects:
    """The rejects file, opened on the first bad row."""

    def __init__(self, path: Path | None, header: list[str]) -> None:
        self.path, self.header, self.count = path, header, 0
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None
        self._out: Callable[[list[str]], object] | None = None

    def add(self, row: RejectedRow) -> None:
        self.count += 1
        if self.path is None:
            return
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8", newline="")
            writer = csv.writer(self._file)
            writer.writerow([*REJECT_COLUMNS, *self.header])
            self._out = writer.writerow
        self._out([str(row.line), row.reason, *row.fields])

    def close(self, *, keep: bool) -> Path | None:
        if self._file is not None:
            self._file.close()
            if not keep and self.path is not None:
                self.path.unlink(missing_ok=True)
        return self.path if self._file is not None and keep else None


def import_profiles(
    engine: Engine,
    path: Path,
    *,
    key: UpsertKey = UpsertKey.EMAIL,
    mapping: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    default_region: str | None = None,
    rejects_path: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Upsert every row of ``path`` into the profile store, in one transaction.

    Rows are matched on the normalised ``key``; each bad row is written to
    ``rejects_path`` with its line number and reason. ``progress`` is called
    with (bytes read, file size) after each chunk.
    """
    started = time.perf_counter()
    source = _Source(path)
    outcome = ChunkOutcome()
    read = 0
    rejects: _Rejects | None = None
    try:
        header_text = source.text.readline()
        if not header_text.strip():
            raise InputFileError(f"{path} is empty: it needs a header row and data rows")
        sep = _delimiter(path, header_text, delimiter)
        header = next(csv.reader([header_text], delimiter=sep))
        column_mapping = build_mapping(header, key, mapping)
        rejects = _Rejects(rejects_path, header)
        reader = csv.reader(source.text, delimiter=sep)
        line_of: Callable[[], int] = lambda: reader.line_num + 1  # noqa: E731 -- header read apart
        with engine.begin() as connection:
            schemes = tuple(schemes_in_use(connection))
            pool_size = workers or os.cpu_count() or 1
            inline = pool_size == 1 or source.size < _INLINE_BYTES
            for results in _validated(
                _chunks(reader, line_of), column_mapping, schemes, default_region,
                None if inline else pool_size,
            ):
                read += len(results)
                changes = []
                for result in results:
                    if isinstance(result, RejectedRow):
                        rejects.add(result)
                    else:
                        changes.append(result)
                chunk = apply_changes(connection, column_mapping, changes)
                for rejected in chunk.rejected:
                    rejects.add(rejected)
                outcome.inserted += chunk.inserted
                outcome.updated += chunk.updated
                outcome.unchanged += chunk.unchanged
                if progress is not None:
                    progress(source.raw.tell(), source.size)
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path} is not UTF-8 text (byte {exc.start} of a block near line {read + 1}); "
            "nothing was imported",
            hint="Re-save the file as UTF-8.",
        ) from None
    except csv.Error as exc:
        raise InputFileError(f"{path} cannot be read as CSV: {exc}; nothing was imported") from None
    except BaseException:
        if rejects is not None:
            rejects.close(keep=False)
        raise
    finally:
        source.close()
    assert rejects is not None  # noqa: S101 -- set before any row is read
    kept = rejects.close(keep=True)
    return ImportReport(
        path=path,
        read=read,
        inserted=outcome.inserted,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        rejected=rejects.count,
        rejects_path=kept,
        seconds=time.perf_counter() - started,
    )


def _validated(
    chunks: Iterator[list[tuple[int, list[str]]]],
    mapping: ColumnMapping,
    schemes: tuple[HashScheme, ...],
    region: str | None,
    pool_size: int | None,
) -> Iterator[list[ProfileChange | RejectedRow]]:
    """Validated chunks in file order, inline or from a bounded worker pool."""
    if pool_size is None:
        validator = RowValidator(mapping, schemes, region)
        for chunk in chunks:
            yield validator.validate_many(chunk)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=pool_size,
        mp_context=context,
        initializer=_init_worker,
        initargs=(mapping, schemes, region),
    ) as pool:
        in_flight: deque[Future[list[ProfileChange | RejectedRow]]] = deque()
        for chunk in chunks:
            in_flight.append(pool.submit(_validate_chunk, chunk))
            if len(in_flight) > 2 * pool_size:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()

