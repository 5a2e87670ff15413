"""Inbound processing: every new ``ftp_dpm_*`` and ``adobe_id_*`` batch in a drop location.

A batch (a file and its split siblings) is read, checked and resolved in DuckDB
and committed with its receipt as one snapshot of the people lake, so a re-run
skips it; a batch that cannot be applied (unknown data source, empty file, not
UTF-8) leaves no trace and is reported on every run. Bad lines are counted by
reason and never stop a batch. Each batch gets a receipt with the reference
product's counters. ID sync files (``adobe_id_*``) write the ID graph, in one
transaction of the people database.
"""

from __future__ import annotations

import contextlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import DBAPIError

from audiencehub.drops import DropLocation, DropObject, FolderDrop
from audiencehub.drops.staging import StagedBatch, stage_files
from audiencehub.engines.bulk_settings import pass_memory_limit_of, scratch_of
from audiencehub.engines.session import BatchSession, DuckBatch
from audiencehub.engines.spark import SparkBatch
from audiencehub.errors import AudienceHubError, InputFileError, InvalidInput
from audiencehub.files import scratch_folder
from audiencehub.formats.compression import gzip_inflated
from audiencehub.formats.control import FileEntry
from audiencehub.formats.names import (
    IdSyncName,
    InboundName,
    SyncMode,
    is_id_sync_name,
    parse_id_sync_name,
    parse_inbound_name,
)
from audiencehub.people.data_sources import DEVICE_NAMESPACE, InboundIdType, get_data_source
from audiencehub.people.encrypted_files import (
    DecryptedDrop,
    encryption_problem,
    is_encrypted,
    plain_name,
)
from audiencehub.people.id_sync_ingest import apply_id_sync
from audiencehub.people.inbound_batch import (
    Target,
    classify,
    count_receipt,
    known_users,
    resolve_users,
)
from audiencehub.people.inbound_effects import (
    Effects,
    apply_effects,
    signal_effects,
    work_out_effects,
)
from audiencehub.people.inbound_limits import size_problem
from audiencehub.people.inbound_pass import Batch, run_pass
from audiencehub.people.inbound_rows import drop_lines, read_batch, read_files
from audiencehub.people.lake import LakeTables, commit, sync_users, writing
from audiencehub.people.materialise import materialise
from audiencehub.people.pgp_keys import PgpKeys
from audiencehub.people.receipts import Receipt
from audiencehub.people.schema import ingested_files
from audiencehub.people.spark_lake import job_session, registered, write_rows
from audiencehub.people.trait_index import TraitIndex

__all__ = ["IngestRun", "Receipt", "ingest"]

_log = logging.getLogger(__name__)


@dataclass
class IngestRun:
    """One run of the ingest job: a receipt per batch, and the files it could not name."""

    receipts: list[Receipt] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    key: str
    name: InboundName | IdSyncName
    objects: list[DropObject]


def _batches(drop: DropLocation, run: IngestRun) -> list[_Batch]:
    grouped: dict[str, _Batch] = {}
    for obj in drop.list():
        parsed: InboundName | IdSyncName
        if problem := encryption_problem(obj.name):
            run.unrecognised.append(f"{obj.key}: {problem}")
            continue
        name = plain_name(obj.name)  # an encrypted file is named as its plain text would be
        try:
            parsed = parse_id_sync_name(name) if is_id_sync_name(name) else parse_inbound_name(name)
        except InvalidInput as exc:
            run.unrecognised.append(f"{obj.key}: {exc.message}")
            continue
        folder = obj.key[: -len(obj.name)]
        key = folder + parsed.batch
        grouped.setdefault(key, _Batch(key, parsed, [])).objects.append(obj)
    for batch in grouped.values():
        batch.objects.sort(key=lambda o: (_split_of(o.name), o.name))
    return sorted(grouped.values(), key=lambda b: (b.name.timestamp, b.key))


def _split_of(name: str) -> int:
    name = plain_name(name)
    try:
        parsed = parse_id_sync_name(name) if is_id_sync_name(name) else parse_inbound_name(name)
    except InvalidInput:
        return 0
    return parsed.split or 0


def ingest(
    engine: Engine,
    drop: DropLocation,
    keys: PgpKeys | None = None,
    *,
    refresh_segments: bool = True,
    scratch: Path | None = None,
) -> IngestRun:
    """Process every batch of ``drop`` not processed before, oldest first; ``keys``
    decrypt PGP-encrypted files (a run without them refuses such batches).

    The run holds the lake's writer lock: a second run (the scheduler's, a command's)
    waits, then skips what this one applied. When a batch was applied the segments
    are materialised again (``refresh_segments``), so their sizes say what they hold.
    Copies of the batches and spills go to private folders in ``scratch`` (by default
    the workspace's ``scratch_path``, else the system's temporary folder).
    """
    run = IngestRun()
    scratch = scratch_of(engine, scratch)
    with writing(engine, scratch=scratch) as session:
        if _ingest_batches(engine, drop, run, keys, session, scratch) and refresh_segments:
            materialise(engine, session)
    return run


def _readable(
    drop: DropLocation, batch: _Batch, keys: PgpKeys | None, stack: ExitStack, scratch: Path | None
) -> DropLocation:
    """``drop``, or a view of it where the batch's encrypted files read decrypted with the
    key of the file's data source (the first DPID of its name)."""
    if not any(is_encrypted(o.name) for o in batch.objects):
        return drop
    name = batch.name
    dpid = name.dpid if isinstance(name, InboundName) else name.dpids[0]
    folder = stack.enter_context(scratch_folder(scratch, "audiencehub-decrypt"))
    return DecryptedDrop(drop, batch.objects, keys, dpid, folder)


def _ingest_batches(
    engine: Engine,
    drop: DropLocation,
    run: IngestRun,
    keys: PgpKeys | None,
    session: duckdb.DuckDBPyConnection,
    scratch: Path | None,
) -> int:
    """Apply the new batches (copies and spills in ``scratch``); returns how many were
    applied."""
    done = _recorded(engine, session)
    applied = 0
    for batch in _batches(drop, run):
        if batch.key in done:
            continue
        receipt = Receipt(batch.key, [o.key for o in batch.objects])
        receipt.started_at = datetime.now(UTC).isoformat()
        try:
            if too_large := [p for p in map(size_problem, batch.objects) if p]:
                raise InputFileError("; ".join(too_large))
            with ExitStack() as stack:
                source = _readable(drop, batch, keys, stack, scratch)
                if isinstance(batch.name, IdSyncName):
                    _apply_id_sync(engine, source, batch, batch.name, receipt)
                else:
                    _apply_inbound(engine, session, source, batch, batch.name, receipt, scratch)
            applied += 1
        except AudienceHubError as exc:
            receipt = _refused(batch, exc.message + (f" ({exc.hint})" if exc.hint else ""))
        except DBAPIError as exc:
            # The database refused a value the checks let through. The batch is refused
            # whole and the run goes on: one bad batch never blocks those after it. The
            # driver's message is not quoted, since it may carry the batch's IDs.
            _log.warning("%s: the database refused it (%s)", batch.key, type(exc.orig).__name__)
            receipt = _refused(
                batch,
                f"the database refused a value of this batch ({type(exc.orig).__name__}); "
                "nothing of it was applied",
            )
        run.receipts.append(receipt)
    return applied


def _recorded(engine: Engine, session: duckdb.DuckDBPyConnection) -> set[str]:
    """The batches applied before. A batch's receipt is committed with its data in the
    lake, then copied to the people database; one whose copy was cut short is copied now."""
    with engine.connect() as connection:
        done = set(connection.execute(select(ingested_files.c.batch)).scalars())
    in_lake = session.execute(
        "SELECT batch, receipt, epoch_us(processed_at) FROM lake.batches"
    ).fetchall()
    missing = [row for row in in_lake if row[0] not in done]
    if missing:
        with engine.begin() as connection:
            for _, text_receipt, micros in missing:
                _record(
                    connection, json.loads(text_receipt), datetime.fromtimestamp(micros / 1e6, UTC)
                )
    return done | {row[0] for row in in_lake}


def _record(connection: Connection, receipt: dict[str, Any], moment: datetime) -> None:
    connection.execute(
        insert(ingested_files),
        {
            "batch": receipt["batch"],
            "files": receipt["files"],
            "receipt": receipt,
            "processed_at": moment,
        },
    )


def _finish(receipt: Receipt, key: str) -> None:
    """Refuse an empty batch before anything is written; stamp the receipt (again at the
    end, with the final time)."""
    if receipt.records_received == 0:
        raise InputFileError(f"{key} is empty; an empty file is invalid")
    receipt.records_processed = receipt.records_received
    receipt.ended_at = datetime.now(UTC).isoformat()


def _apply_id_sync(
    engine: Engine, drop: DropLocation, batch: _Batch, name: IdSyncName, receipt: Receipt
) -> None:
    """ID sync files write the graph: one transaction of the people database."""
    with engine.begin() as connection:
        apply_id_sync(connection, drop, batch.objects, name, receipt)
        _finish(receipt, batch.key)
        _record(connection, asdict(receipt), datetime.now(UTC))


def _refused(batch: _Batch, problem: str) -> Receipt:
    """The receipt of a batch refused whole."""
    receipt = Receipt(batch.key, [o.key for o in batch.objects], status="refused")
    receipt.started_at = receipt.ended_at = datetime.now(UTC).isoformat()
    receipt.problems = [problem]
    return receipt


def _plain_files(
    drop: DropLocation, batch: _Batch, folder: Path, stack: ExitStack
) -> list[Path] | None:
    """The batch's files as plain files read where they are (kept until ``stack`` closes);
    None when the files are elsewhere, encrypted or damaged (then they are staged, which
    says what is wrong). A gzip file is first inflated into ``folder`` by ISA-L, and
    checked whole there: DuckDB inflates on one core, and its read of a batch's lines,
    their checks and their split is one pass that would then run on that core alone."""
    if not isinstance(drop, FolderDrop):
        return None
    files: list[Path] = []
    for number, obj in enumerate(batch.objects):
        path = drop.local_path(obj.key)
        if obj.name.endswith(".gz"):
            inflated = gzip_inflated(path, folder / f"inflated-{number}.txt")
            if (plain := stack.enter_context(inflated)) is None:
                return None
            path = plain
        files.append(path)
    return files


def _stage(drop: DropLocation, batch: _Batch, folder: Path) -> StagedBatch:
    """Copy the batch's files into ``folder``, decompressed, checking that each is whole
    and UTF-8."""
    entries = [FileEntry(o.name, o.size, 0, i, "") for i, o in enumerate(batch.objects)]
    staged = stage_files(drop, entries, {o.name: o for o in batch.objects}, folder)
    for obj, seen in zip(batch.objects, staged.observed, strict=True):
        if seen.line_count < 0:
            raise InputFileError(f"{obj.key} cannot be decompressed: the stream is damaged")
        if obj.name in staged.not_utf8:
            raise InputFileError(f"{obj.key} is not UTF-8 text", hint="Send UTF-8 files only.")
    return staged


def _apply_inbound(
    engine: Engine,
    session: duckdb.DuckDBPyConnection,
    drop: DropLocation,
    batch: _Batch,
    name: InboundName,
    receipt: Receipt,
    scratch: Path | None,
) -> None:
    """Read, check and resolve the batch (in DuckDB, or on Spark when the workspace says
    so), then commit its effects and its receipt as one lake snapshot. Unknown customer
    IDs are created in the graph first (harmless if the rest is cut short: a re-run
    finds them)."""
    # ftp_dpm_<DPID>_<TARGET>: the IDs belong to the first data source, the traits and
    # signals to the second ("qualifying customer IDs belonging to data source 33 for
    # traits or signals belonging to data source 21", Amazon S3 name requirements)
    with engine.connect() as connection:
        ids_of = get_data_source(connection, name.dpid)
        traits_of = get_data_source(connection, name.target_dpid) if name.target_dpid else ids_of
        index = TraitIndex.of(connection, traits_of["id"])
    device = InboundIdType(ids_of["inbound_id_type"]).is_device
    target = Target(
        namespace=DEVICE_NAMESPACE if device else ids_of["id"],
        device=device,
        source=traits_of["id"],
        overwrite=name.mode is SyncMode.OVERWRITE,
    )
    files = [o.key for o in batch.objects]
    now = datetime.now(UTC)
    with ExitStack() as stack:
        folder = stack.enter_context(scratch_folder(scratch, "ingest"))
        work = stack.enter_context(contextlib.closing(session.cursor()))
        sync_users(engine, work)  # the IDs earlier batches of this run created
        run, tables = stack.enter_context(job_session(engine, work, ["graph_users", "signals"]))
        spark = run if isinstance(run, SparkBatch) else None
        plain, compiled = None, False
        if spark is None:  # the files made ready while the pass loads the graph's IDs
            with ThreadPoolExecutor(1) as pool:
                ready = pool.submit(_plain_files, drop, batch, Path(folder), stack)
                budget = pass_memory_limit_of(engine)
                by_pass = Batch(
                    ready.result, files, index, target, tables, engine.begin, now, budget
                )
                # files elsewhere (S3, encrypted) are staged: no pass, no graph loaded
                if isinstance(run, DuckBatch) and isinstance(drop, FolderDrop):
                    compiled = run_pass(run, by_pass, receipt)
                plain = ready.result()
        if compiled:
            _finish(receipt, batch.key)
            effects = signal_effects(run, index, tables)
        else:
            reading = _Reading(drop, batch, plain, Path(folder), index, target, tables)
            effects = _read_by_plan(engine, run, reading, receipt, now)
        added: dict[str, list[str]] = {"realisations": [], "signals": []}
        if spark is not None:
            added = _write_effects(engine, spark, effects, now)
        source = {name: run.as_duckdb(name) for name in _EFFECTS}
        work.execute("BEGIN")
        receipt.realized_traits += apply_effects(
            work, effects, target, index, now, source=source, add_rows=spark is None
        )
        for table, written in added.items():  # after the deletions, which must not see them
            stack.enter_context(registered(work, table, written))
        _finish(receipt, batch.key)
        work.execute(
            "INSERT INTO lake.batches VALUES (?, ?, ?::TIMESTAMPTZ)",
            [batch.key, json.dumps(asdict(receipt)), now],
        )
        commit(work, f"ingest {batch.key}")
    with engine.begin() as connection:
        _record(connection, asdict(receipt), now)


@dataclass(frozen=True)
class _Reading:
    """What reading an inbound batch needs: where its files are, and what they name."""

    drop: DropLocation
    batch: _Batch
    plain: list[Path] | None  # its files read in place (see _plain_files)
    folder: Path  # the job's scratch folder, where the files are staged otherwise
    index: TraitIndex
    target: Target
    tables: LakeTables


def _read_by_plan(
    engine: Engine, run: BatchSession, reading: _Reading, receipt: Receipt, now: datetime
) -> Effects:
    """The batch read, checked, resolved and counted by the SQL plan, in DuckDB (its
    plain files read in place, else staged) or Spark, and its effects worked out."""
    batch, index, target, tables = reading.batch, reading.index, reading.target, reading.tables
    files = [o.key for o in batch.objects]
    plain = reading.plain
    if plain is None or not isinstance(run, DuckBatch) or not read_files(run, plain, index):
        read_batch(run, _stage(reading.drop, batch, reading.folder), index)
    [(lines,)] = run.rows("SELECT count(*) FROM in_lines")
    receipt.records_received = int(lines)
    _finish(receipt, batch.key)
    classify(run, target)
    known_users(run, target.namespace, tables)
    with engine.begin() as connection:
        resolve_users(connection, run, target, now)
    drop_lines(run)  # every line's ID: what follows reads the matched lines
    count_receipt(run, target, receipt, files)
    for counted in ("line_counts", "line_problems", "id_problems"):
        run.drop(counted)  # what the effects need is matched, in_refs and in_pairs
    return work_out_effects(run, target, index, tables)


# the relations work_out_effects makes (and the lines matched) that the lake's writes read
_EFFECTS = ("matched", "final_traits", "new_signals", "rule_users", "rule_holds")


def _write_effects(
    engine: Engine, spark: SparkBatch, effects: Effects, now: datetime
) -> dict[str, list[str]]:
    """The rows Spark worked out to add, written as new files of the lake's tables."""
    moment = f"timestamp_micros({int(now.timestamp() * 1_000_000)})"
    realised = f"SELECT user_id, trait_id, {moment} AS realized_at FROM final_traits WHERE held"
    if effects.rules:
        realised += f" UNION ALL SELECT user_id, trait_id, {moment} FROM rule_holds"
    added = {"realisations": write_rows(engine, spark, "realisations", realised), "signals": []}
    if effects.signals:
        added["signals"] = write_rows(
            engine, spark, "signals", "SELECT user_id, key, value_list FROM new_signals"
        )
    return added
