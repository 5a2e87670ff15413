"""Benchmark: people-service ingest and publication, beside plain Python loops in the same run.

Generates an inbound file of N lines (customer IDs, one to three onboarded
traits each), then, each step in a fresh process on a fresh SQLite workspace:

- ``ingest`` baseline: a plain Python loop that reads the gzip file and splits
  every line into its ID and trait numbers, and nothing else;
- ``ingest`` audiencehub: ``people ingest`` of the same file (receipt, users,
  traits, one transaction);
- ``publish`` baseline: a plain loop writing the segment's member IDs to a gzip file;
- ``publish`` audiencehub: a full publication of a segment holding about half
  of the IDs (segment SQL, outbound files, ``.info``, published state);
- ``SQLite floor`` rows: the least storage work each step cannot avoid on the
  embedded store, timed alone. Ingest must store each new line's user: one
  ``executemany`` of ready-made tuples into ``people_users`` (its unique index
  included; the tuples are built before the clock starts; trait rows would come
  on top). Publication must read the segment's members: the segment's SQL run
  by SQLite and fetched as Arrow (no diff, no files, no state written). When a
  floor is below a target, no ingest or publication on this store can meet it.

    python bench/people_pipeline.py [--lines N] [--steps ingest,publish]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update

from audiencehub.drops import FolderDrop
from audiencehub.engines import extract
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.destinations import add_destination
from audiencehub.people.ingest import ingest
from audiencehub.people.publication import publish
from audiencehub.people.schema import destinations
from audiencehub.people.segment_rules import parse_rule
from audiencehub.people.segments import MergeRule, add_segment, members_query
from audiencehub.people.traits import add_trait
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import Workspace, init_workspace, open_workspace
from measure import peak_mb, run_child

_NAME = "ftp_dpm_7001_1764300000.sync.gz"
_RULE = "T101 OR T102 OR T103"  # about half of the generated IDs


def _generate(path: Path, lines: int) -> None:
    rng = random.Random(11)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
        for index in range(lines):
            traits = ",".join(f"d_sid={t}" for t in rng.sample(range(101, 111), rng.randint(1, 3)))
            handle.write(f"c{index}\t{traits}\n")


def _setup(folder: Path) -> Workspace:
    workspace = init_workspace(folder / "ws")
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        for trait in range(101, 111):
            add_trait(connection, trait_id=trait, name=f"T{trait}", data_source_id=7001)
        add_segment(connection, segment_id=900, name="half", rule=_RULE)
        add_destination(
            connection,
            destination_id=1,
            name="Campaign",
            drop_url=str(folder / "out"),
            id_type="declared",
            data_source_id=7001,
            segment_ids=[900],
        )
    return workspace


def _one(step: str, data: Path) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="ah-bench-people-"))
    try:
        return _step(step, data, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a 10 M-line workspace is gigabytes


def _step(step: str, data: Path, folder: Path) -> dict[str, float]:
    drop = folder / "in"
    drop.mkdir()
    (drop / _NAME).hardlink_to(data)  # a symlink would point outside the drop, which is refused
    if step == "ingest-baseline":
        started, count = time.perf_counter(), 0
        with gzip.open(data, "rt", encoding="utf-8") as handle:
            for line in handle:
                _, _, traits = line.rstrip("\n").partition("\t")
                count += len([int(t.partition("=")[2]) for t in traits.split(",")]) and 1
        return {"items": count, "seconds": time.perf_counter() - started, **_memory()}
    workspace = _setup(folder)
    if step == "ingest-floor":
        now = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f}"  # as SQLAlchemy stores it
        rows = [(7001, f"c{index}", now, now) for index in range(_line_count(data))]
        started = time.perf_counter()
        with workspace.people.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO people_users (data_source_id, external_id, created_at, last_seen) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )
        return {"items": len(rows), "seconds": time.perf_counter() - started, **_memory()}
    if step == "ingest":
        started = time.perf_counter()
        with collector_paused():  # as the CLI command runs it
            [receipt] = ingest(workspace.people, FolderDrop(drop)).receipts
        if receipt.status != "applied":
            raise SystemExit(f"ingest refused the batch: {receipt.problems}")
        return {
            "items": receipt.records_received,
            "seconds": time.perf_counter() - started,
            **_memory(),
        }
    workspace.dispose()
    workspace = _ingested(data, folder)
    if step == "publish-floor":
        query = members_query(parse_rule(_RULE), MergeRule.DEVICE, namespace=7001)
        started = time.perf_counter()
        members = extract(workspace.people, query)
        return {"items": members.num_rows, "seconds": time.perf_counter() - started, **_memory()}
    if step == "publish-baseline":
        with workspace.people.connect() as connection:
            members = [
                e
                for _, e in connection.execute(
                    members_query(parse_rule(_RULE), MergeRule.DEVICE, namespace=7001)
                )
            ]
        started = time.perf_counter()
        with gzip.open(folder / "baseline.sync.gz", "wt", encoding="utf-8") as handle:
            for member in members:
                handle.write(f"{member} 900 \n")
        return {"items": len(members), "seconds": time.perf_counter() - started, **_memory()}
    started = time.perf_counter()
    result = publish(workspace.people, 1)
    return {"items": result.rows, "seconds": time.perf_counter() - started, **_memory()}


def _ingested(data: Path, folder: Path) -> Workspace:
    """``folder``'s workspace replaced by a copy of one with ``data`` ingested.

    The ingested workspace is made once and kept beside the data (ingesting 10 M
    lines takes minutes; each publication run starts from a fresh copy of it). Delete
    it (``<data>.ingested``) after changing how ingest stores what it reads.
    """
    cached = data.with_suffix(".ingested")
    if not (cached / "ready").exists():
        shutil.rmtree(cached, ignore_errors=True)
        workspace = _setup(cached)
        (cached / "in").mkdir()
        (cached / "in" / _NAME).hardlink_to(data)
        ingest(workspace.people, FolderDrop(cached / "in"))
        workspace.dispose()
        (cached / "ready").touch()
    shutil.rmtree(folder / "ws")
    shutil.copytree(cached / "ws", folder / "ws")
    workspace = open_workspace(folder / "ws")
    with workspace.people.begin() as connection:
        connection.execute(update(destinations).values(drop_url=str(folder / "out")))
    return workspace


def _line_count(data: Path) -> int:
    with gzip.open(data, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 22), b""))


def _memory() -> dict[str, float]:
    return {"peak_mb": peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--steps", default="ingest,publish", help="comma-separated")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one[0], Path(args.one[1]))))
        return
    data = Path(tempfile.gettempdir()) / f"ah-bench-inbound-{args.lines}.sync.gz"
    if not data.exists():
        _generate(data, args.lines)
    print(f"\nPeople service, {args.lines:,} inbound lines, SQLite, 2-core machine\n")
    print(f"{'step':<10} {'run':<13} {'items':>11} {'items/s':>11} {'seconds':>8} {'peak MB':>8}")
    for step in args.steps.split(","):
        for run in ("baseline", "audiencehub", "SQLite floor"):
            name = {"baseline": f"{step}-baseline", "SQLite floor": f"{step}-floor"}.get(run, step)
            r = run_child(__file__, "--one", name, str(data))
            print(
                f"{step:<10} {run:<13} {r['items']:>11,.0f} {r['items'] / r['seconds']:>11,.0f} "
                f"{r['seconds']:>8.1f} {r['peak_mb']:>8.0f}"
            )
    print("\nitems: lines for ingest, member IDs written for publish.")
    print("SQLite floor: storage work alone (see the module docstring); targets are")
    print("500,000 lines/s (ingest) and 1,000,000 IDs/s (publish).")


if __name__ == "__main__":
    main()
