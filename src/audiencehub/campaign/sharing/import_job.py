"""The ``importSharedAudience`` job: outbound batches of the people service into audiences.

A batch (split data files and their ``.info``) is applied only once its files
match the control file exactly; until then it waits. Batches apply in time
order, in one transaction each: *full* ones replace the audiences' membership,
*iter* ones add and remove. Each applied batch is recorded, so a re-run
changes nothing, and leaves a report per audience and an audit entry.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import (
    Connection,
    Engine,
    delete,
    insert,
    select,
    update,
)
from typing_extensions import TypedDict

from audiencehub.campaign.audiences import add_profile_members, get_audience
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import (
    audience_addresses,
    audience_members,
    audiences,
    processed_batches,
    shared_data_sources,
)
from audiencehub.campaign.sharing.audit import record
from audiencehub.campaign.sharing.batches import (
    Batch,
    find_batches,
    last_full,
    precheck,
    skip_stale,
)
from audiencehub.campaign.sharing.bulk_matching import (
    MembershipChange,
    membership_change,
    resolve_lines,
)
from audiencehub.campaign.sharing.data_sources import SharedDataSource, require_terms, source_record
from audiencehub.campaign.sharing.stored_keys import Lookups, prefetch, reads_database
from audiencehub.db.bulk import bulk_insert
from audiencehub.db.locks import write_lock
from audiencehub.db.value_lists import value_list
from audiencehub.drops import DropLocation
from audiencehub.drops.staging import StagedBatch, stage_files
from audiencehub.engines import open_session, sql_text
from audiencehub.engines.bulk_settings import memory_limit_of, scratch_of
from audiencehub.engines.outbound import open_lines
from audiencehub.engines.session import BatchSession, DuckBatch
from audiencehub.engines.spark import SparkBatch, SparkSettings, spark_of, spark_session
from audiencehub.errors import AudienceHubError, InvalidInput
from audiencehub.files import scratch_folder
from audiencehub.formats.control import ControlFile

__all__ = ["BatchReport", "ImportRun", "run_import"]

_log = logging.getLogger(__name__)


class BatchReport(TypedDict):
    """What one batch did to one audience; lines are counted once each:
    ``matched + unmatched + invalid_ids + format_errors = rows_read``."""

    audience: str
    batch: str
    full: bool
    rows_read: int
    format_errors: int
    invalid_ids: int
    matched: int
    unmatched: int
    added: int
    removed: int
    match_rate: float
    size: int  # the audience's size once the batch is applied (its history, over time)


@dataclass
class ImportRun:
    """What a run did: reports of applied batches, and batches left for later, with why."""

    reports: list[BatchReport] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def run_import(
    engine: Engine,
    vault: KeyVault,
    drop: DropLocation,
    *,
    scratch: Path | None = None,
    cache: Path | None = None,
) -> ImportRun:
    """Apply every new, verified outbound batch of ``drop``.

    ``scratch`` holds a batch's staged files and the engine's spills while the
    batch is processed (by default a folder in the workspace's ``scratch_path``,
    else in the system's temporary folder). ``cache`` keeps columnar copies of the
    stored keys between runs (see :mod:`~audiencehub.campaign.sharing.stored_keys`);
    without it every batch reads them from the database.
    """
    run = ImportRun()
    with engine.connect() as connection:
        done = set(connection.execute(select(processed_batches.c.batch)).scalars())
        newest_full = last_full(connection)
    for batch in find_batches(drop, run.refused):
        if batch.key in done:
            continue
        newest = newest_full.get(batch.name.destination_id)
        if newest is not None and batch.name.timestamp_ms < newest:
            run.refused.append(skip_stale(engine, batch, newest))
            continue
        control, problems = precheck(drop, batch)
        if problems or control is None:
            run.waiting.append(f"{batch.key}: " + "; ".join(problems))
            continue
        try:
            with engine.connect() as connection:
                sources = _sources(connection, batch.name.destination_id)
            with scratch_folder(scratch_of(engine, scratch), "import") as folder:
                report = _verified_and_applied(
                    engine, vault, drop, batch, control, sources, Path(folder), cache
                )
        except AudienceHubError as exc:
            run.refused.append(
                f"{batch.key}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
            )
            continue
        if isinstance(report, str):
            run.waiting.append(f"{batch.key}: {report}")
        else:
            run.reports.extend(report)
            if batch.name.is_full:
                newest_full[batch.name.destination_id] = batch.name.timestamp_ms
    return run


def _verified_and_applied(
    engine: Engine,
    vault: KeyVault,
    drop: DropLocation,
    batch: Batch,
    control: ControlFile,
    sources: list[SharedDataSource],
    scratch: Path,
    cache: Path | None,
) -> list[BatchReport] | str:
    """Stage and check the files while the stored keys are read; apply, or say why not.

    The keys are read in a process of their own (see :func:`~audiencehub.engines.extract`),
    so reading them and staging the files use both cores; kept keys need no core.
    """
    started = time.perf_counter()
    reading = reads_database(engine, sources, cache)
    with ThreadPoolExecutor(max_workers=1) as pool:
        stored = pool.submit(prefetch, engine, sources, scratch, cache)
        # stored keys are read by a process of their own: leave it a core
        cores = (os.cpu_count() or 1) - (1 if reading else 0)
        staged = stage_files(drop, control.files, batch.data, scratch, workers=cores)
        _log.info("%s: staged in %.2f s", batch.key, _since(started))
        problems = control.mismatches(list(staged.observed))
        if problems:
            stored.cancel()
            return "; ".join(problems)
        lookups = stored.result()
    _log.info("%s: stored keys read in %.2f s", batch.key, _since(started))
    return _apply(engine, vault, batch, control, sources, staged, lookups, scratch)


def _sources(connection: Connection, destination_id: int) -> list[SharedDataSource]:
    sources = [
        source_record(r)
        for r in connection.execute(
            select(shared_data_sources)
            .where(shared_data_sources.c.destination_id == destination_id)
            .order_by(shared_data_sources.c.priority.desc(), shared_data_sources.c.id)
        ).mappings()
    ]
    if not sources:
        raise InvalidInput(
            f"no shared data source has destination id {destination_id}; "
            "the batch is left in place",
            hint="Set --destination-id on the data source that receives this destination.",
        )
    for source in sources:
        require_terms(source)
    return sources


def _apply(
    engine: Engine,
    vault: KeyVault,
    batch: Batch,
    control: ControlFile,
    sources: list[SharedDataSource],
    staged: StagedBatch,
    lookups: Lookups,
    scratch: Path,
) -> list[BatchReport]:
    """Reconcile the batch in the bulk engine, then write every change in one transaction."""
    changes: list[tuple[Any, int, MembershipChange]] = []
    with engine.connect() as connection:
        targets = (
            connection.execute(
                select(audiences).where(audiences.c.data_source_id.in_([s["id"] for s in sources]))
            )
            .mappings()
            .all()
        )
        spark = spark_of(engine)
        with (
            open_session(scratch, memory_limit_of(engine)) as session,
            _resolver(session, spark, scratch) as resolver,
        ):
            started = time.perf_counter()
            open_lines(resolver, staged)
            shared = [a for a in targets if a["type"] != "file"]
            outcome = resolve_lines(
                resolver,
                lookups,
                connection,
                vault,
                sources,
                [a["segment_id"] for a in shared],
                full=batch.name.is_full,
            )
            _hand_over(resolver, session, outcome.table)
            tally = outcome.tally
            lookups.clear()  # the stored keys are joined: free them before the writes
            _log.info("%s: %d lines resolved in %.2f s", batch.key, tally.read, _since(started))
            for flag, audience in enumerate(shared):
                change = membership_change(
                    session, engine, audience, outcome, flag, full=batch.name.is_full
                )
                changes.append((audience, tally.matched, change))
            for number, audience in enumerate(a for a in targets if a["type"] == "file"):
                source = next(s for s in sources if s["id"] == audience["data_source_id"])
                own = resolve_lines(
                    resolver,
                    lookups,
                    connection,
                    vault,
                    [source],
                    [audience["segment_id"]],
                    full=batch.name.is_full,
                    file_source=source,
                    table=f"file_outcome_{number}",
                )
                _hand_over(resolver, session, own.table)
                full = batch.name.is_full
                change = membership_change(session, engine, audience, own, 0, full=full)
                changes.append((audience, own.tally.matched, change))
    _log.info("%s: changes computed in %.2f s", batch.key, _since(started))
    reports: list[BatchReport] = []
    with engine.begin() as connection:
        # two runs applying one batch at once: the second waits, then finds it applied
        write_lock(connection, f"campaign batch {batch.key}", what=f"the import of {batch.key}")
        applied = select(processed_batches.c.batch).where(processed_batches.c.batch == batch.key)
        if connection.execute(applied).first() is not None:
            raise InvalidInput("another run applied this batch meanwhile; nothing was changed")
        for audience, matched, change in changes:
            _write_membership(connection, audience, change)
            considered = matched + tally.unmatched
            report = BatchReport(
                audience=audience["name"],
                batch=batch.key,
                full=batch.name.is_full,
                rows_read=tally.read,
                format_errors=tally.format_errors,
                invalid_ids=tally.invalid,
                matched=matched,
                unmatched=tally.unmatched,
                added=change.added.num_rows,
                removed=len(change.removed),
                match_rate=round(matched / considered, 4) if considered else 0.0,
                size=get_audience(connection, audience["name"])["size"],
            )
            connection.execute(
                update(audiences)
                .where(audiences.c.id == audience["id"])
                .values(last_report=report, updated_at=datetime.now(UTC))
            )
            record(connection, "import", dict(report), data_source_id=audience["data_source_id"])
            reports.append(report)
        last = max(control.files, key=lambda e: e.sequence).name
        connection.execute(
            update(shared_data_sources)
            .where(shared_data_sources.c.id.in_([s["id"] for s in sources]))
            .values(last_file_processed=last)
        )
        _log.info("%s: written in %.2f s", batch.key, _since(started))
        connection.execute(
            insert(processed_batches),
            {
                "batch": batch.key,
                "processed_at": datetime.now(UTC),
                "report": {"rows_read": tally.read, "audiences": [r["audience"] for r in reports]},
                "destination_id": batch.name.destination_id,
                "timestamp_ms": batch.name.timestamp_ms,
                "full": batch.name.is_full,
            },
        )
    return reports


@contextmanager
def _resolver(
    session: duckdb.DuckDBPyConnection, spark: SparkSettings | None, scratch: Path
) -> Iterator[BatchSession]:
    """Where the batch's lines are resolved: the DuckDB session, or Spark when the
    workspace runs its bulk jobs there (the comparison with stored members and
    the writes stay here either way: they are the control plane's)."""
    if spark is None:
        yield DuckBatch(session)
        return
    batch = SparkBatch(spark_session(spark), scratch)
    try:
        yield batch
    finally:
        batch.close()


def _hand_over(resolver: BatchSession, session: duckdb.DuckDBPyConnection, table: str) -> None:
    """Make a table Spark kept readable by the DuckDB session under the same name."""
    if isinstance(resolver, SparkBatch):
        files = sql_text(str(resolver.path(table) / "*.parquet"))
        session.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_parquet({files})"
        )


def _since(started: float) -> float:
    return time.perf_counter() - started


def _write_membership(connection: Connection, audience: Any, change: MembershipChange) -> None:
    """Apply one audience's changes; members are passed as whole lists, not row by row."""
    target = audience["id"]
    if audience["type"] != "file":
        if len(change.removed):
            connection.execute(
                delete(audience_members).where(
                    audience_members.c.audience_id == target,
                    audience_members.c.profile_id.in_(value_list(connection, change.removed)),
                )
            )
        if change.added.num_rows:
            ids = change.added.column("profile_id").combine_chunks()
            add_profile_members(connection, target, value_list(connection, ids))
        return
    if len(change.removed):
        connection.execute(
            delete(audience_addresses).where(
                audience_addresses.c.audience_id == target,
                audience_addresses.c.address.in_(value_list(connection, change.removed)),
            )
        )
    bulk_insert(
        connection,
        audience_addresses,
        ["audience_id", "address", "profile_id"],
        ((target, row["address"], row["profile_id"]) for row in change.added.to_pylist()),
    )
    # the profiles behind the addresses, for everything that reads profiles
    connection.execute(delete(audience_members).where(audience_members.c.audience_id == target))
    add_profile_members(
        connection,
        target,
        select(audience_addresses.c.profile_id)
        .where(
            audience_addresses.c.audience_id == target,
            audience_addresses.c.profile_id.is_not(None),
        )
        .distinct(),
    )
