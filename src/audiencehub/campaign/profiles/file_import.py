"""Streaming import of profile files (CSV or TSV, optionally gzip) into the store.

The parent process reads the file in blocks of whole records and owns the one
database transaction; parsing and validating each block (email syntax, phone
numbers, hashing) runs in a pool of worker processes, with a bounded number of
blocks in flight so memory stays flat whatever the file size. Results are
applied in file order, so the outcome is that of a sequential import. The whole
file is applied or nothing is; bad rows go to a rejects file and never stop it.
"""

from __future__ import annotations

import csv
import io
import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine

from audiencehub.campaign.profiles.bulk_merge import BulkMerge, merge_applies, merge_in
from audiencehub.campaign.profiles.fields import REJECT_COLUMNS, UpsertKey, build_mapping
from audiencehub.campaign.profiles.first_load import FirstLoad, first_load_applies, load_first
from audiencehub.campaign.profiles.key_stage import KeyStage
from audiencehub.campaign.profiles.merging import CrmClaims
from audiencehub.campaign.profiles.rows import (
    PackedBlock,
    ProfileChange,
    RejectedRow,
    RowValidator,
)
from audiencehub.campaign.profiles.store import ChunkOutcome, apply_changes, schemes_in_use
from audiencehub.db.locks import write_lock
from audiencehub.engines.bulk_settings import memory_limit_of, scratch_of
from audiencehub.errors import InputFileError
from audiencehub.files import open_private_text, private_dir, scratch_folder
from audiencehub.formats.compression import CORRUPT, gzip_reader

__all__ = ["ImportReport", "Progress", "import_profiles"]

Progress = Callable[[int, int], None]
Results = list[ProfileChange | RejectedRow]
_BLOCK_ROWS = 5_000
_PG_CHUNK_ROWS = 25_000
# Blocks handed to each worker ahead of the one being read. On PostgreSQL the
# importing process applies 25,000 rows at a time, and while it writes them the
# workers go on checking the next chunk instead of idling after two blocks each
# (measured: 12 % faster at 1 M rows, 48 MB more). SQLite applies each block as it
# comes, and more blocks ahead only cost memory there.
_PG_BLOCKS_AHEAD = 8
_BLOCKS_AHEAD = 2
_GZIP_MAGIC = b"\x1f\x8b"
_validator: tuple[RowValidator, str] | None = None


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
    kept_opt_outs: int = 0  # opt-outs people made themselves that the file's "no" left alone

    @property
    def rows_per_second(self) -> float:
        """Throughput, for progress lines and benchmarks."""
        return self.read / self.seconds if self.seconds else 0.0


def _init_worker(validator: RowValidator, delimiter: str) -> None:
    global _validator
    _validator = (validator, delimiter)


def _validate_block(first_line: int, block: str) -> PackedBlock:
    if _validator is None:
        raise RuntimeError("worker used before its initializer ran")
    validator, delimiter = _validator
    return validator.validate_packed(first_line, block, delimiter)


class _Source:
    """An open data file: text for csv, and the raw position for progress."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.raw: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise InputFileError(f"cannot open {path}: {exc.strerror}") from None
        self.size = path.stat().st_size
        binary: IO[bytes] = self.raw
        self.gzipped = self.raw.read(2) == _GZIP_MAGIC
        if self.gzipped:
            binary = gzip_reader(self.raw)
        self.raw.seek(0)
        self.text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        self.line = 0  # physical lines handed out so far

    def header(self) -> str:
        """The header line; an empty file is refused before anything else happens."""
        line = self.text.readline()
        self.line = 1
        if not line.strip():
            raise InputFileError(f"{self.path} is empty: it needs a header row and data rows")
        return line

    def blocks(self) -> Iterator[tuple[int, str]]:
        """Blocks of about ``_BLOCK_ROWS`` lines, never cutting a quoted field in two.

        A quote still open at the end of the file means the file is broken (a
        field runs to the end): it is refused whole, naming the line it opens on.
        """
        lines: list[str] = []
        quotes = 0
        opened_at = 0
        for line in self.text:
            lines.append(line)
            count = line.count('"')
            if quotes % 2 == 0 and (quotes + count) % 2 == 1:
                opened_at = self.line + len(lines)
            quotes += count
            if len(lines) >= _BLOCK_ROWS and quotes % 2 == 0:
                yield self._emit(lines)
                lines, quotes = [], 0
        if quotes % 2:
            raise csv.Error(f"a quoted field opened on line {opened_at} is never closed")
        if lines:
            yield self._emit(lines)

    def bad_byte_line(self) -> int:
        """The line of the first byte that is not UTF-8 (read again from the start).

        The text layer decodes ahead of the lines handed out, so its own count
        cannot tell; this only runs when the import has already failed.
        """
        with self.path.open("rb") as raw:
            binary: IO[bytes] = raw
            if raw.read(2) == _GZIP_MAGIC:
                raw.seek(0)
                binary = gzip_reader(raw)
            else:
                raw.seek(0)
            first = True
            for number, line in enumerate(binary, start=1):
                try:
                    (line[3:] if first and line.startswith(b"\xef\xbb\xbf") else line).decode()
                except UnicodeDecodeError:
                    return number
                first = False
        return self.line

    def _emit(self, lines: list[str]) -> tuple[int, str]:
        first = self.line + 1
        self.line += len(lines)
        return first, "".join(lines)

    def close(self) -> None:
        self.text.close()
        self.raw.close()


def _delimiter(path: Path, header_line: str, explicit: str | None) -> str:
    if explicit:
        return "\t" if explicit in ("\\t", "tab") else explicit
    suffixes = [s.lower() for s in path.suffixes]
    if ".tsv" in suffixes:
        return "\t"
    # Spreadsheets in many locales save ".csv" files separated by semicolons.
    if ";" in header_line and "," not in header_line and "\t" not in header_line:
        return ";"
    if ".csv" in suffixes:
        return ","
    return "\t" if "\t" in header_line else ","


class _Rejects:
    """The rejects file, opened on the first bad row and removed if the import fails."""

    def __init__(self, path: Path | None, header: list[str]) -> None:
        self.path, self.header, self.count = path, header, 0
        self._file: IO[str] | None = None
        self._out: Callable[[list[str]], object] | None = None

    def add(self, row: RejectedRow) -> None:
        self.count += 1
        if self.path is None:
            return
        if self._out is None:
            private_dir(self.path.parent)
            self._file = open_private_text(self.path)  # raw rows of people: owner-only
            writer = csv.writer(self._file)
            writer.writerow([*REJECT_COLUMNS, *self.header])
            self._out = writer.writerow
        self._out([str(row.line), row.reason, *row.fields])

    def close(self, *, keep: bool) -> Path | None:
        if self._file is None:
            return None
        self._file.close()
        if not keep and self.path is not None:
            self.path.unlink(missing_ok=True)
        return self.path if keep else None


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
    resubscribe: bool = False,
) -> ImportReport:
    """Upsert every row of ``path`` into the profile store, in one transaction.

    Rows are matched on the normalised ``key``; each bad row is written to
    ``rejects_path`` with its line number and reason. ``progress`` is called
    with (bytes read, file size) after each block. An opt-out a person made
    through an unsubscribe link stays, whatever the file says, unless
    ``resubscribe`` (the file carries their renewed consent).
    """
    started = time.perf_counter()
    source = _Source(path)
    outcome = ChunkOutcome()
    read = 0
    rejects: _Rejects | None = None
    try:
        header_text = source.header()
        sep = _delimiter(path, header_text, delimiter)
        header = next(csv.reader([header_text], delimiter=sep))
        column_mapping = build_mapping(header, key, mapping)
        rejects = _Rejects(rejects_path, header)
        with engine.begin() as connection:
            # a second import of the same (or another) file waits for this one
            write_lock(connection, "campaign profile import", what="the import")
            stage = KeyStage(connection)
            validator = RowValidator(column_mapping, schemes_in_use(connection), default_region)
            cores = workers or os.cpu_count() or 1
            by_columns = _by_columns(
                connection, source, sep, validator, stage, rejects, resubscribe, cores
            )
            if by_columns is not None:
                read, outcome = by_columns
                if progress is not None:
                    progress(source.size, source.size)
            else:
                read = _apply_rows(
                    connection,
                    source,
                    sep,
                    validator,
                    stage,
                    rejects,
                    outcome,
                    pool_size=cores,
                    resubscribe=resubscribe,
                    progress=progress,
                )
            stage.write()
    except UnicodeDecodeError as exc:
        _discard(rejects)
        raise InputFileError(
            f"{path} is not UTF-8 text (an invalid byte on line {source.bad_byte_line()}); "
            "nothing was imported",
            hint="Re-save the file as UTF-8.",
        ) from exc
    except csv.Error as exc:
        _discard(rejects)
        raise InputFileError(f"{path} cannot be read as CSV: {exc}; nothing was imported") from exc
    except CORRUPT as exc:
        _discard(rejects)
        raise InputFileError(
            f"{path} cannot be decompressed after line {source.line}: {exc}; nothing was imported",
            hint="Send the whole file again: it looks truncated or damaged.",
        ) from exc
    except BaseException:
        _discard(rejects)
        raise
    finally:
        source.close()
    kept = rejects.close(keep=True) if rejects is not None else None
    return ImportReport(
        path=path,
        read=read,
        inserted=outcome.inserted,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        kept_opt_outs=outcome.kept_opt_outs,
        rejected=rejects.count if rejects is not None else 0,
        rejects_path=kept,
        seconds=time.perf_counter() - started,
    )


def _by_columns(
    connection: Connection,
    source: _Source,
    delimiter: str,
    validator: RowValidator,
    stage: KeyStage,
    rejects: _Rejects,
    resubscribe: bool,
    cores: int,
) -> tuple[int, ChunkOutcome] | None:
    """The file read and checked by columns, then loaded into the empty store
    (:mod:`.first_load`) or merged with the stored profiles by sets (:mod:`.bulk_merge`),
    on PostgreSQL; ``None`` when the row import must read it (see
    :meth:`.CheckedFile.check`)."""
    first = first_load_applies(connection)
    if not first and not merge_applies(connection):
        return None
    kind = FirstLoad if first else BulkMerge
    with scratch_folder(scratch_of(connection.engine), "profile-load") as scratch:
        load = kind(
            source.path,
            gzipped=source.gzipped,
            delimiter=delimiter,
            validator=validator,
            scratch=scratch,
            memory_limit=memory_limit_of(connection.engine),
            cores=cores,
        )
        try:
            if not load.check():
                return None
            outcome = (
                merge_in(connection, load, stage, rejects.add, resubscribe=resubscribe)
                if isinstance(load, BulkMerge)
                else load_first(connection, load, stage, rejects.add, resubscribe=resubscribe)
            )
        finally:
            load.close()
    return None if outcome is None else (load.read, outcome)


def _apply_rows(
    connection: Connection,
    source: _Source,
    sep: str,
    validator: RowValidator,
    stage: KeyStage,
    rejects: _Rejects,
    outcome: ChunkOutcome,
    *,
    pool_size: int,
    resubscribe: bool,
    progress: Progress | None,
) -> int:
    """Validate the file's rows in the worker pool and apply them chunk by chunk, in file
    order, adding to ``outcome``; returns how many rows were read."""
    read = 0
    # PostgreSQL answers each statement over a socket: it gets fewer, larger chunks
    postgresql = connection.dialect.name == "postgresql"
    least = _PG_CHUNK_ROWS if postgresql else 1
    changes: list[ProfileChange] = []
    ahead = _PG_BLOCKS_AHEAD if postgresql else _BLOCKS_AHEAD
    blocks = _validated(source.blocks(), validator, sep, pool_size, ahead)
    column_mapping = validator.mapping
    claims = CrmClaims(column_mapping)  # kept from chunk to chunk
    # a chunk's rejected rows, written in line order once its merge has rejected its own
    refused: list[RejectedRow] = []
    for results in itertools.chain(blocks, [None]):
        if results is not None:
            read += len(results)
            for result in results:
                if isinstance(result, RejectedRow):
                    refused.append(result)
                else:
                    changes.append(result)
            if len(changes) < least and len(refused) < least:
                continue
        chunk = apply_changes(
            connection,
            column_mapping,
            changes,
            validator.schemes,
            resubscribe=resubscribe,
            stage=stage,
            claims=claims,
        )
        changes = []
        for rejected in sorted([*refused, *chunk.rejected], key=lambda row: row.line):
            rejects.add(rejected)
        refused = []
        outcome.inserted += chunk.inserted
        outcome.updated += chunk.updated
        outcome.unchanged += chunk.unchanged
        outcome.kept_opt_outs += chunk.kept_opt_outs
        if progress is not None:
            progress(source.raw.tell(), source.size)
    return read


def _discard(rejects: _Rejects | None) -> None:
    if rejects is not None:
        rejects.close(keep=False)


def _validated(
    blocks: Iterator[tuple[int, str]],
    validator: RowValidator,
    delimiter: str,
    pool_size: int,
    ahead: int = _BLOCKS_AHEAD,
) -> Iterator[Results]:
    """Validation results block by block, in file order, inline or from a bounded pool
    (``ahead`` blocks a worker in flight).

    A file of one block is validated inline: starting workers would cost more
    than they save.
    """
    first = next(blocks, None)
    if first is None:
        return
    second = next(blocks, None) if pool_size > 1 else None
    if second is None:
        for first_line, block in itertools.chain([first], blocks):
            yield validator.validate_block(first_line, block, delimiter)
        return
    # fork: workers inherit the loaded code and start in milliseconds; they never
    # touch the database connection or the console of the parent.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=pool_size,
        mp_context=context,
        initializer=_init_worker,
        initargs=(validator, delimiter),
    ) as pool:
        in_flight: deque[Future[PackedBlock]] = deque()
        for first_line, block in itertools.chain([first, second], blocks):
            in_flight.append(pool.submit(_validate_block, first_line, block))
            if len(in_flight) > ahead * pool_size:
                yield validator.unpack(in_flight.popleft().result())
        while in_flight:
            yield validator.unpack(in_flight.popleft().result())
