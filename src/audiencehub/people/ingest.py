"""Inbound processing: every new ``ftp_dpm_*`` and ``adobe_id_*`` batch in a drop location.

A batch (a file and its split siblings) is applied in one transaction and
recorded, so a re-run skips it; a batch that cannot be applied (unknown data
source, empty file, not UTF-8) leaves no trace and is reported on every run.
Bad lines are counted by reason and never stop a batch. Each batch gets a
receipt with the reference product's counters.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select
from sqlalchemy.exc import DBAPIError

from audiencehub.db.bulk import upsert
from audiencehub.drops import DropLocation, DropObject
from audiencehub.errors import AudienceHubError, InputFileError, InvalidInput
from audiencehub.files import scratch_folder
from audiencehub.formats.inbound import (
    MAX_LINES_PER_USER,
    TraitRef,
    TraitRefKind,
    parse_inbound_row,
)
from audiencehub.formats.names import (
    IdSyncName,
    InboundName,
    SyncMode,
    is_id_sync_name,
    parse_id_sync_name,
    parse_inbound_name,
)
from audiencehub.identity.visitor import VisitorId
from audiencehub.people.data_sources import (
    DEVICE_NAMESPACE,
    InboundIdType,
    check_device_id,
    get_data_source,
)
from audiencehub.people.encrypted_files import (
    DecryptedDrop,
    encryption_problem,
    is_encrypted,
    plain_name,
)
from audiencehub.people.graph import create_users, find_users, touch_users
from audiencehub.people.id_sync_ingest import apply_id_sync
from audiencehub.people.inbound_limits import size_problem
from audiencehub.people.pgp_keys import PgpKeys
from audiencehub.people.receipts import Receipt, read_lines
from audiencehub.people.schema import ingested_files, traits, user_signals, user_traits
from audiencehub.people.traits import fold_signals, rule_holds

__all__ = ["IngestRun", "Receipt", "ingest"]

_log = logging.getLogger(__name__)

_CHUNK_LINES = 10_000


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


def ingest(engine: Engine, drop: DropLocation, keys: PgpKeys | None = None) -> IngestRun:
    """Process every batch of ``drop`` not processed before, oldest first; ``keys``
    decrypt PGP-encrypted files (a run without them refuses such batches)."""
    run = IngestRun()
    _ingest_batches(engine, drop, run, keys)
    return run


def _readable(
    drop: DropLocation, batch: _Batch, keys: PgpKeys | None, stack: ExitStack
) -> DropLocation:
    """``drop``, or a view of it where the batch's encrypted files read decrypted with the
    key of the file's data source (the first DPID of its name)."""
    if not any(is_encrypted(o.name) for o in batch.objects):
        return drop
    name = batch.name
    dpid = name.dpid if isinstance(name, InboundName) else name.dpids[0]
    scratch = stack.enter_context(scratch_folder(None, "audiencehub-decrypt"))
    return DecryptedDrop(drop, batch.objects, keys, dpid, scratch)


def _ingest_batches(
    engine: Engine, drop: DropLocation, run: IngestRun, keys: PgpKeys | None
) -> None:
    with engine.connect() as connection:
        done = set(connection.execute(select(ingested_files.c.batch)).scalars())
    for batch in _batches(drop, run):
        if batch.key in done:
            continue
        receipt = Receipt(batch.key, [o.key for o in batch.objects])
        receipt.started_at = datetime.now(UTC).isoformat()
        try:
            if too_large := [p for p in map(size_problem, batch.objects) if p]:
                raise InputFileError("; ".join(too_large))
            with ExitStack() as stack:
                source = _readable(drop, batch, keys, stack)
                with engine.begin() as connection:
                    if isinstance(batch.name, IdSyncName):
                        apply_id_sync(connection, source, batch.objects, batch.name, receipt)
                    else:
                        _apply_inbound(connection, source, batch, batch.name, receipt)
                    if receipt.records_received == 0:
                        raise InputFileError(f"{batch.key} is empty; an empty file is invalid")
                    receipt.records_processed = receipt.records_received
                    receipt.ended_at = datetime.now(UTC).isoformat()
                    connection.execute(
                        insert(ingested_files),
                        {
                            "batch": batch.key,
                            "files": receipt.files,
                            "receipt": asdict(receipt),
                            "processed_at": datetime.now(UTC),
                        },
                    )
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


def _refused(batch: _Batch, problem: str) -> Receipt:
    """The receipt of a batch refused whole."""
    receipt = Receipt(batch.key, [o.key for o in batch.objects], status="refused")
    receipt.started_at = receipt.ended_at = datetime.now(UTC).isoformat()
    receipt.problems = [problem]
    return receipt


class _TraitIndex:
    """Trait look-ups for one batch: by id, by integration code, and the rule traits."""

    def __init__(self, connection: Connection, dpid: int) -> None:
        rows = connection.execute(
            select(traits.c.id, traits.c.data_source_id, traits.c.integration_code, traits.c.rule)
        ).all()
        self.ids = {row.id for row in rows if row.rule is None and row.data_source_id == dpid}
        # onboarded traits of other data sources: named by d_sid, they fail validation
        self.elsewhere = {row.id for row in rows if row.rule is None} - self.ids
        self.codes = {
            row.integration_code: row.id
            for row in rows
            if row.data_source_id == dpid and row.integration_code and row.rule is None
        }
        self.rules = {row.id: row.rule for row in rows if row.rule}
        # the key-value pairs some rule trait tests: any other pair is an unused signal
        self.rule_pairs = {
            (key.casefold(), value.casefold())
            for rule in self.rules.values()
            for key, value in rule.items()
        }
        self.onboarded_here = [
            row.id for row in rows if row.data_source_id == dpid and row.rule is None
        ]

    def resolve(self, kind: TraitRefKind, value: str) -> int | None:
        if kind is TraitRefKind.SID:
            return int(value) if int(value) in self.ids else None
        return self.codes.get(value)

    def foreign(self, refs: Sequence[TraitRef]) -> int:
        """How many of ``refs`` name a trait of another data source (failed validation)."""
        return sum(
            1 for ref in refs if ref.kind is TraitRefKind.SID and int(ref.value) in self.elsewhere
        )


def _apply_inbound(
    connection: Connection, drop: DropLocation, batch: _Batch, name: InboundName, receipt: Receipt
) -> None:
    # ftp_dpm_<DPID>_<TARGET>: the IDs belong to the first data source, the traits and
    # signals to the second ("qualifying customer IDs belonging to data source 33 for
    # traits or signals belonging to data source 21", Amazon S3 name requirements)
    ids_of = get_data_source(connection, name.dpid)
    traits_of = get_data_source(connection, name.target_dpid) if name.target_dpid else ids_of
    device = InboundIdType(ids_of["inbound_id_type"]).is_device
    namespace = DEVICE_NAMESPACE if device else ids_of["id"]
    index = _TraitIndex(connection, traits_of["id"])
    per_user: Counter[str] = Counter()
    state = _BatchState()
    now = datetime.now(UTC)
    for obj in batch.objects:
        chunk: list[tuple[int, Any]] = []
        for number, line in enumerate(read_lines(drop, obj), start=1):
            if not line.strip():
                continue
            receipt.records_received += 1
            try:
                row = parse_inbound_row(line)
            except InvalidInput as exc:
                receipt.format_errors += 1
                receipt.problem(number, obj.key, exc.message)
                continue
            if device:
                try:
                    VisitorId.parse(row.user_id)
                except InvalidInput:
                    receipt.invalid_ids += 1  # the ID itself is never quoted in a receipt
                    receipt.problem(number, obj.key, "the user ID is not a 38-digit visitor ID")
                    continue
            else:
                try:
                    check_device_id(namespace, row.user_id)  # a global source's format
                except InvalidInput as exc:
                    receipt.invalid_ids += 1
                    receipt.problem(number, obj.key, exc.message)
                    continue
            per_user[row.user_id] += 1
            if per_user[row.user_id] > MAX_LINES_PER_USER:
                receipt.format_errors += 1
                receipt.problem(
                    number, obj.key, f"more than {MAX_LINES_PER_USER} lines for one user ID"
                )
                continue
            chunk.append((number, row))
            if len(chunk) == _CHUNK_LINES:
                _apply_rows(
                    connection, chunk, namespace, device, name, index, state, receipt, now, obj.key
                )
                chunk = []
        _apply_rows(connection, chunk, namespace, device, name, index, state, receipt, now, obj.key)
    receipt.total_devices = len(state.stored)


@dataclass
class _BatchState:
    """What one batch has done so far across its chunks."""

    overwritten: set[int] = field(default_factory=set)  # users whose traits were cleared
    stored: set[int] = field(default_factory=set)  # users data was stored for


def _apply_rows(
    connection: Connection,
    chunk: list[tuple[int, Any]],
    namespace: int,
    device: bool,
    name: InboundName,
    index: _TraitIndex,
    state: _BatchState,
    receipt: Receipt,
    now: datetime,
    file_key: str,
) -> None:
    if not chunk:
        return
    ids = [row.user_id for _, row in chunk]
    known = find_users(connection, namespace, ids)
    touch_users(connection, set(known.values()), now)  # new users are created seen now
    if not device:  # customer IDs are onboarded as they come; visitor IDs must be known
        known.update(
            create_users(
                connection, namespace, list(dict.fromkeys(i for i in ids if i not in known)), now
            )
        )
    realize: dict[tuple[int, int], dict[str, Any]] = {}
    remove: set[tuple[int, int]] = set()
    signals: dict[tuple[int, str], tuple[str, ...]] = {}
    for number, row in chunk:
        user_id = known.get(row.user_id)
        if user_id is None:
            receipt.no_matching_id += 1
            receipt.problem(
                number, file_key, f"{row.user_id} is not a visitor ID the service has seen"
            )
            continue
        if name.mode is SyncMode.OVERWRITE and user_id not in state.overwritten:
            state.overwritten.add(user_id)
            if index.onboarded_here:
                connection.execute(
                    delete(user_traits).where(
                        and_(
                            user_traits.c.user_id == user_id,
                            user_traits.c.trait_id.in_(index.onboarded_here),
                        )
                    )
                )
        added = [t for ref in row.realize if (t := index.resolve(ref.kind, ref.value)) is not None]
        # an overwrite file states the user's traits whole: removals mean nothing there
        # ("The d_unsid prefix is ignored in an overwrite file", Inbound Data File Contents)
        removals = () if name.mode is SyncMode.OVERWRITE else row.remove
        dropped = [t for ref in removals if (t := index.resolve(ref.kind, ref.value)) is not None]
        for trait_id in added:
            realize[(user_id, trait_id)] = {
                "user_id": user_id,
                "trait_id": trait_id,
                "realized_at": now,
            }
            remove.discard((user_id, trait_id))
        for trait_id in dropped:
            remove.add((user_id, trait_id))
            realize.pop((user_id, trait_id), None)
        for key, values in row.signals.items():
            signals[(user_id, key)] = values  # a later line's values of a key replace these
        failed = index.foreign(row.realize) + index.foreign(removals)
        if failed:
            receipt.traits_failed_validation += failed
            receipt.users_failed_validation += 1
            receipt.problem(number, file_key, f"{failed} trait(s) of another data source")
        receipt.realized_traits += len(added)
        receipt.removed_traits += len(dropped)
        pairs = [(key, value) for key, values in row.signals.items() for value in values]
        receipt.total_signals += len(row.realize) + len(row.remove) + len(pairs)
        # unused: references naming no trait here (those of another source failed
        # validation instead) and key-values no rule trait tests
        unresolved = len(row.realize) + len(removals) - len(added) - len(dropped) - failed
        untested = sum(1 for k, v in pairs if (k.casefold(), v.casefold()) not in index.rule_pairs)
        receipt.unused_signals += unresolved + untested
        if added or dropped or row.signals:
            receipt.stored_records += 1
            state.stored.add(user_id)
        else:
            receipt.no_trait_realized += 1
            receipt.problem(number, file_key, "no trait of the row exists")
    upsert(
        connection,
        user_traits,
        list(realize.values()),
        keys=("user_id", "trait_id"),
        update=("realized_at",),
    )
    for user_id, trait_id in remove:
        connection.execute(
            delete(user_traits).where(
                and_(user_traits.c.user_id == user_id, user_traits.c.trait_id == trait_id)
            )
        )
    if signals:
        upsert(
            connection,
            user_signals,
            [{"user_id": u, "key": k, "value_list": list(v)} for (u, k), v in signals.items()],
            keys=("user_id", "key"),
            update=("value_list",),
        )
        receipt.realized_traits += _apply_rule_traits(
            connection, {u for u, _ in signals}, index, now
        )


def _apply_rule_traits(
    connection: Connection, user_ids: set[int], index: _TraitIndex, now: datetime
) -> int:
    """Realise (or drop) rule traits for users whose key-values just changed."""
    if not index.rules:
        return 0
    stored: dict[int, list[tuple[str, list[str]]]] = {u: [] for u in user_ids}
    rows = connection.execute(
        select(user_signals).where(user_signals.c.user_id.in_(list(user_ids)))
    )
    for row in rows:
        stored[row.user_id].append((row.key, row.value_list))
    held = {user_id: fold_signals(pairs) for user_id, pairs in stored.items()}
    realized = []
    for user_id, values in held.items():
        for trait_id, rule in index.rules.items():
            if rule_holds(rule, values):
                realized.append({"user_id": user_id, "trait_id": trait_id, "realized_at": now})
            else:
                connection.execute(
                    delete(user_traits).where(
                        and_(user_traits.c.user_id == user_id, user_traits.c.trait_id == trait_id)
                    )
                )
    upsert(connection, user_traits, realized, keys=("user_id", "trait_id"), update=("realized_at",))
    return len(realized)
