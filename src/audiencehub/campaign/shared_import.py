"""The ``importSharedAudience`` job: outbound batches of the people service into audiences.

A batch (split data files and their ``.info``) is applied only once its files
match the control file exactly; until then it waits. Batches apply in time
order, in one transaction each: *full* ones replace the audiences' membership,
*iter* ones add and remove. Each applied batch is recorded, so a re-run
changes nothing, and leaves a report per audience and an audit entry.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from audiencehub.campaign.audit import record
from audiencehub.campaign.data_sources import cipher_of, require_terms
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.reconciliation import Member, reconcile
from audiencehub.campaign.schema import (
    audience_members,
    audiences,
    processed_batches,
    shared_data_sources,
)
from audiencehub.db.bulk import bulk_insert
from audiencehub.drops import DropLocation, DropObject
from audiencehub.errors import AudienceHubError, InvalidInput
from audiencehub.formats.control import ControlFile, FileEntry
from audiencehub.formats.names import OutboundName, parse_outbound_name
from audiencehub.formats.outbound import OutboundRow, parse_outbound_row

__all__ = ["ImportRun", "run_import"]


@dataclass
class ImportRun:
    """What a run did: reports of applied batches, and batches left for later, with why."""

    reports: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    key: str
    name: OutboundName
    info: DropObject | None = None
    data: dict[str, DropObject] = field(default_factory=dict)


def _batches(drop: DropLocation, run: ImportRun) -> list[_Batch]:
    found: dict[str, _Batch] = {}
    for obj in drop.list():
        folder = obj.key[: -len(obj.name)]
        text = obj.name.replace(".info", ".sync") if obj.name.endswith(".info") else obj.name
        try:
            name = parse_outbound_name(text)
        except InvalidInput:
            run.refused.append(f"{obj.key}: not an outbound file name; left in place")
            continue
        batch = found.setdefault(folder + name.batch, _Batch(folder + name.batch, name))
        if obj.name.endswith(".info"):
            batch.info = obj
        else:
            batch.data[obj.name] = obj
    return sorted(found.values(), key=lambda b: (b.name.timestamp_ms, b.key))


def _read(drop: DropLocation, obj: DropObject) -> bytes:
    with drop.open_read(obj.key) as handle:
        return handle.read()


def _verify(
    drop: DropLocation, batch: _Batch
) -> tuple[ControlFile | None, list[str], dict[str, bytes]]:
    """The control file, the reasons to wait (if any), and the verified data files' bytes."""
    if batch.info is None:
        return None, ["its control file (.info) has not arrived"], {}
    try:
        control = ControlFile.from_json(_read(drop, batch.info).decode("utf-8"))
    except (InvalidInput, UnicodeDecodeError) as exc:
        return None, [f"its control file is unreadable: {exc}"], {}
    contents: dict[str, bytes] = {}
    observed: list[FileEntry] = []
    for entry in control.files:
        obj = batch.data.get(entry.name)
        if obj is None:
            continue
        data = _read(drop, obj)
        try:
            text = gzip.decompress(data) if entry.name.endswith(".gz") else data
            lines = text.count(b"\n")
        except (OSError, EOFError):
            lines = -1
        md5 = hashlib.md5(data).hexdigest()  # noqa: S324 -- the format's checksum
        observed.append(FileEntry(entry.name, len(data), lines, entry.sequence, md5))
        contents[entry.name] = data
    return control, control.mismatches(observed), contents


def run_import(engine: Engine, vault: KeyVault, drop: DropLocation) -> ImportRun:
    """Apply every new, verified outbound batch of ``drop``."""
    run = ImportRun()
    with engine.connect() as connection:
        done = set(connection.execute(select(processed_batches.c.batch)).scalars())
    for batch in _batches(drop, run):
        if batch.key in done:
            continue
        control, problems, contents = _verify(drop, batch)
        if problems or control is None:
            run.waiting.append(f"{batch.key}: " + "; ".join(problems))
            continue
        try:
            with engine.begin() as connection:
                run.reports.extend(_apply(connection, vault, batch, control, contents))
        except AudienceHubError as exc:
            run.refused.append(
                f"{batch.key}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
            )
    return run


def _rows(control: ControlFile, contents: dict[str, bytes]) -> tuple[list[OutboundRow], int, int]:
    rows, read, errors = [], 0, 0
    for entry in sorted(control.files, key=lambda e: e.sequence):
        data = contents[entry.name]
        text = gzip.decompress(data) if entry.name.endswith(".gz") else data
        for line in io.StringIO(text.decode("utf-8")):
            if not line.strip():
                continue
            read += 1
            try:
                rows.append(parse_outbound_row(line.rstrip("\r\n")))
            except InvalidInput:
                errors += 1
    return rows, read, errors


def _apply(
    connection: Connection,
    vault: KeyVault,
    batch: _Batch,
    control: ControlFile,
    contents: dict[str, bytes],
) -> list[dict[str, Any]]:
    sources = [
        dict(r)
        for r in connection.execute(
            select(shared_data_sources)
            .where(shared_data_sources.c.destination_id == batch.name.destination_id)
            .order_by(shared_data_sources.c.priority.desc(), shared_data_sources.c.id)
        ).mappings()
    ]
    if not sources:
        raise InvalidInput(
            f"no shared data source has destination id {batch.name.destination_id}; "
            "the batch is left in place",
            hint="Set --destination-id on the data source that receives this destination.",
        )
    for source in sources:
        require_terms(source)
    rows, read, format_errors = _rows(control, contents)
    ids = [row.user_id for row in rows]
    # with several sources, each ID goes to the highest-priority one that resolves it
    resolved: dict[str, dict[str, Member]] = {}
    remaining = set(ids)
    invalid: set[str] = set()
    for source in sources:
        cipher = cipher_of(connection, vault, source["id"])
        outcome = reconcile(connection, source, cipher, remaining)
        resolved[source["id"]] = outcome.members
        remaining -= set(outcome.members)
        invalid |= outcome.invalid
    invalid &= remaining
    unmatched = remaining - invalid
    matched_by_any = {
        value: member for members in resolved.values() for value, member in members.items()
    }
    reports = []
    targets = (
        connection.execute(
            select(audiences).where(audiences.c.data_source_id.in_([s["id"] for s in sources]))
        )
        .mappings()
        .all()
    )
    for audience in targets:
        members = matched_by_any
        if audience["type"] == "file":
            source = next(s for s in sources if s["id"] == audience["data_source_id"])
            members = reconcile(
                connection,
                source,
                cipher_of(connection, vault, source["id"]),
                ids,
                force_profile=False,
            ).members
        added, removed = _apply_membership(connection, audience, rows, members, batch.name.full)
        report = {
            "audience": audience["name"],
            "batch": batch.key,
            "full": batch.name.full,
            "rows_read": read,
            "format_errors": format_errors,
            "invalid_ids": len(invalid),
            "matched": len(set(ids) & set(members)),
            "unmatched": len(unmatched),
            "added": added,
            "removed": removed,
        }
        considered = report["matched"] + report["unmatched"]
        report["match_rate"] = round(report["matched"] / considered, 4) if considered else 0.0
        connection.execute(
            update(audiences)
            .where(audiences.c.id == audience["id"])
            .values(last_report=report, updated_at=datetime.now(UTC))
        )
        record(connection, "import", report, data_source_id=audience["data_source_id"])
        reports.append(report)
    last = max(control.files, key=lambda e: e.sequence).name
    for source in sources:
        connection.execute(
            update(shared_data_sources)
            .where(shared_data_sources.c.id == source["id"])
            .values(last_file_processed=last)
        )
    connection.execute(
        insert(processed_batches),
        {
            "batch": batch.key,
            "processed_at": datetime.now(UTC),
            "report": {"rows_read": read, "audiences": [r["audience"] for r in reports]},
        },
    )
    return reports


def _apply_membership(
    connection: Connection,
    audience: Any,
    rows: list[OutboundRow],
    members: dict[str, Member],
    full: bool,
) -> tuple[int, int]:
    segment = audience["segment_id"]
    wanted: dict[str, Member] = {}
    dropped: set[str] = set()
    for row in rows:
        member = members.get(row.user_id)
        if member is None:
            continue
        if segment in row.segments:
            wanted[member[0]] = member
        if segment in row.removed:
            dropped.add(member[0])
    current = set(
        connection.execute(
            select(audience_members.c.member).where(
                audience_members.c.audience_id == audience["id"]
            )
        ).scalars()
    )
    if full:
        to_remove = current - set(wanted)
        to_add = {k: v for k, v in wanted.items() if k not in current}
    else:
        to_remove = (dropped - set(wanted)) & current
        to_add = {k: v for k, v in wanted.items() if k not in current}
    for member_key in to_remove:
        connection.execute(
            delete(audience_members).where(
                and_(
                    audience_members.c.audience_id == audience["id"],
                    audience_members.c.member == member_key,
                )
            )
        )
    bulk_insert(
        connection,
        audience_members,
        ["audience_id", "member", "profile_id", "address"],
        [
            (audience["id"], key, profile_id, address)
            for key, profile_id, address in to_add.values()
        ],
    )
    return len(to_add), len(to_remove)
