"""Benchmark: the people service's data plane (ingest, segments, publication) beside its floors.

Generates a workspace whose ID graph knows N visitor IDs, and an inbound file of
N lines for a visitor-ID data source: mixed trait forms (``d_sid=``, ``ic=``,
plain codes, ``d_unsid=``, ``N:-1``, quoted key-values that a rule trait reads),
one line in ten for an ID the graph has never seen, one in two hundred broken.
Then, each step in a fresh process on a fresh copy of the workspace:

- ``ingest``: ``people ingest`` of the file (checks, receipt, one lake snapshot;
  segments not materialised) beside its floor: DuckDB alone reading the same
  file, splitting each line's traits and inserting one realisation per trait into
  a DuckLake table with a SQLite catalog, the same kind of table;
- ``segments``: materialising 20 segments over the N users (the graph read,
  rules evaluated, memberships committed, sizes stored), beside the same
  materialisation's rows merely counted by DuckDB over the lake (no graph, no
  writes) as a floor;
- ``publish``: a full publication of a segment holding about half the IDs
  (evaluation, gzip files split at 1 M rows, ``.info``, published state) beside
  its floor: DuckDB alone writing the same IDs, already in memory, to a gzip file.

With ``--engines duckdb,spark`` each step also runs with the workspace on Spark
in local mode (its session started before the clock), beside the same floor.

    python bench/people_pipeline.py [--lines N] [--steps ingest,segments,publish]
        [--engines duckdb,spark]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from sqlalchemy import update

from audiencehub.drops import FolderDrop
from audiencehub.engines.lake import Lake, open_lake
from audiencehub.engines.spark import SparkSettings, bind_spark, spark_session
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.destinations import add_destination
from audiencehub.people.ingest import ingest
from audiencehub.people.lake import reading, writing
from audiencehub.people.materialise import materialise
from audiencehub.people.publication import publish
from audiencehub.people.schema import destinations
from audiencehub.people.segments import MergeRule, add_segment
from audiencehub.people.traits import add_trait
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import Workspace, init_workspace, open_workspace
from measure import peak_mb, record, run_child, tree_peak_mb

_NAME = "ftp_dpm_7002_1764300000.sync.gz"
_TRAITS = range(101, 121)  # onboarded traits of source 7002; T121 is a rule trait
_PUBLISHED = 900  # the published segment: about half of the IDs
_PUBLISHED_RULE = " OR ".join(f"T{t}" for t in range(101, 111))


def _visitor(index: int) -> str:
    return f"{index:019d}{index * 7919 % 10**18:019d}"


def _generate(path: Path, lines: int) -> None:
    rng = random.Random(11)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
        for index in range(lines):
            user = _visitor(index if index % 10 else lines + index)  # 1 in 10 never seen
            if index % 200 == 7:
                handle.write(f"{user} d_sid=101\n")  # no TAB: a format error
                continue
            items = []
            for _ in range(rng.randint(1, 3)):
                kind = rng.random()
                trait = rng.choice(_TRAITS)
                if kind < 0.5:
                    items.append(f"d_sid={trait}")
                elif kind < 0.65:
                    items.append(f"ic=code{trait}")
                elif kind < 0.75:
                    items.append(f"{trait}")
                elif kind < 0.85:
                    items.append(f"d_unsid={trait}")
                elif kind < 0.9:
                    items.append(f"{trait}:-1")
                else:
                    items.append(f'"gender"="{rng.choice(("female", "male"))}"')
            handle.write(f"{user}\t{','.join(items)}\n")


def _seed(folder: Path, users: int) -> None:
    """A workspace whose graph knows ``users`` visitor IDs, with the source, traits,
    20 segments and a destination."""
    workspace = init_workspace(folder / "ws")
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7002, name="Web", inbound_id_type=InboundIdType.VISITOR)
        for trait in _TRAITS:
            add_trait(
                connection,
                trait_id=trait,
                name=f"T{trait}",
                data_source_id=7002,
                integration_code=f"code{trait}",
            )
        add_trait(
            connection, trait_id=121, name="Women", data_source_id=7002, rule={"gender": "female"}
        )
        add_segment(connection, segment_id=_PUBLISHED, name="half", rule=_PUBLISHED_RULE)
        rng = random.Random(5)
        for number in range(1, 20):
            a, b, c = rng.sample(_TRAITS, 3)
            rule = [
                f"T{a} AND T{b}",
                f"T{a} OR T{b}",
                f"T{a} AND NOT T{b}",
                f"(T{a} OR T{b}) AND T{c}",
            ][number % 4]
            merge = (MergeRule.DEVICE, MergeRule.ALL_CROSS_DEVICE)[number % 2]
            add_segment(
                connection, segment_id=900 + number, name=f"s{number}", rule=rule, merge_rule=merge
            )
        add_segment(connection, segment_id=950, name="women", rule="T121")
        add_destination(
            connection,
            destination_id=1,
            name="Campaign",
            drop_url=str(folder / "out"),
            id_type="visitor",
            segment_ids=[_PUBLISHED],
            split_rows=1_000_000,
        )
    database = workspace.people.url.database
    workspace.dispose()
    now = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f}"
    with sqlite3.connect(str(database)) as raw:
        raw.executemany(
            "INSERT INTO people_users (data_source_id, external_id, created_at, last_seen) "
            "VALUES (0, ?, ?, ?)",
            ((_visitor(i), now, now) for i in range(users)),
        )
    workspace = open_workspace(folder / "ws")
    with writing(workspace.people):
        pass  # the lake and its copy of the graph's users, as every job leaves them
    workspace.dispose()


def _cached(data: Path, lines: int, *, ingested: bool) -> Path:
    """The seeded (or also ingested) workspace folder, made once and kept beside the data."""
    cached = data.with_suffix(".ingested" if ingested else ".seeded")
    if (cached / "ready").exists():
        return cached
    shutil.rmtree(cached, ignore_errors=True)
    if ingested:
        shutil.copytree(_cached(data, lines, ingested=False), cached)
        (cached / "ready").unlink()
        workspace = open_workspace(cached / "ws")
        (cached / "in").mkdir()
        (cached / "in" / _NAME).hardlink_to(data)
        ingest(workspace.people, FolderDrop(cached / "in"), refresh_segments=False)
        workspace.dispose()
    else:
        _seed(cached, lines)
    (cached / "ready").touch()
    return cached


def _copy(cached: Path, folder: Path, *, spark: bool) -> Workspace:
    shutil.copytree(cached / "ws", folder / "ws")
    workspace = open_workspace(folder / "ws")
    if spark:
        settings = SparkSettings("local[*]", {"spark.driver.memory": "2g"})
        spark_session(settings)
        bind_spark(workspace.people, settings)
    with workspace.people.begin() as connection:
        connection.execute(update(destinations).values(drop_url=str(folder / "out")))
    return workspace


def _floor_lake(folder: Path) -> duckdb.DuckDBPyConnection:
    lake = Lake(f"sqlite:{folder / 'floor.sqlite'}", str(folder / "floor") + "/")
    session = open_lake(lake, folder)
    session.execute(
        "CREATE TABLE lake.realisations (user_id BIGINT NOT NULL, trait_id INTEGER NOT NULL, "
        "realized_at TIMESTAMPTZ NOT NULL)"
    )
    return session


def _step(name: str, data: Path, lines: int, folder: Path) -> dict[str, float]:
    step, _, engine = name.partition(":")
    spark = engine == "spark"
    if step == "ingest-floor":
        session = _floor_lake(folder)
        started = time.perf_counter()
        session.execute(
            "INSERT INTO lake.realisations "
            "SELECT hash(split_part(line, chr(9), 1)) >> 1, "
            "TRY_CAST(regexp_extract(item, '[0-9]+') AS INTEGER), now() "
            "FROM (SELECT line, unnest(string_split(split_part(line, chr(9), 2), ',')) AS item "
            f"FROM read_csv('{data}', columns = {{'line': 'VARCHAR'}}, delim = '\x01', "
            "quote = '', escape = '', header = false, auto_detect = false)) "
            "WHERE regexp_matches(item, '[0-9]')"
        )
        return {"items": lines, "seconds": time.perf_counter() - started, "peak_mb": peak_mb()}
    if step == "ingest":
        workspace = _copy(_cached(data, lines, ingested=False), folder, spark=spark)
        drop = folder / "in"
        drop.mkdir()
        (drop / _NAME).hardlink_to(data)
        started = time.perf_counter()
        with collector_paused():  # as the CLI command runs it
            [receipt] = ingest(workspace.people, FolderDrop(drop), refresh_segments=False).receipts
        if receipt.status != "applied":
            raise SystemExit(f"ingest refused the batch: {receipt.problems}")
        return {
            "items": receipt.records_received,
            "seconds": time.perf_counter() - started,
            "peak_mb": tree_peak_mb(),
            "receipt": {k: v for k, v in vars(receipt).items() if isinstance(v, int)},
        }
    workspace = _copy(_cached(data, lines, ingested=True), folder, spark=spark)
    if step == "segments":
        started = time.perf_counter()
        sizes = materialise(workspace.people)
        return {
            "items": lines,
            "seconds": time.perf_counter() - started,
            "peak_mb": tree_peak_mb(),
            "segments": len(sizes),
        }
    if step == "segments-floor":
        with reading(workspace.people) as session:
            started = time.perf_counter()
            session.execute(
                "SELECT count(*) FROM (SELECT user_id, list(trait_id) FROM lake.realisations "
                "GROUP BY user_id)"
            ).fetchall()
            seconds = time.perf_counter() - started
        return {"items": lines, "seconds": seconds, "peak_mb": peak_mb()}
    if step == "publish-floor":
        sizes = materialise(workspace.people, segment_ids=[_PUBLISHED])
        with reading(workspace.people) as session:
            session.execute(
                "CREATE TEMP TABLE ids AS SELECT printf('%019d', user_id) || ' 900 ' AS line "
                f"FROM lake.memberships WHERE segment_id = {_PUBLISHED}"
            )
            started = time.perf_counter()
            session.execute(
                f"COPY ids TO '{folder / 'floor.sync.gz'}' "
                "(FORMAT csv, HEADER false, QUOTE '', COMPRESSION gzip)"
            )
            seconds = time.perf_counter() - started
        return {"items": sizes[_PUBLISHED], "seconds": seconds, "peak_mb": peak_mb()}
    started = time.perf_counter()
    result = publish(workspace.people, 1)
    seconds = time.perf_counter() - started
    return {"items": result.rows, "seconds": seconds, "peak_mb": tree_peak_mb()}


_OPERATIONS = {
    "ingest": "people ingest (lake)",
    "segments": "people segments (20, materialised)",
    "publish": "people publication (full)",
}
_FLOORS = {
    "ingest": "DuckDB read + insert into the lake",
    "segments": "DuckDB groups the realisations by user",
    "publish": "DuckDB writes the IDs to gzip",
}
_UNITS = {"ingest": "lines", "segments": "users", "publish": "IDs"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--steps", default="ingest,segments,publish", help="comma-separated")
    parser.add_argument("--engines", default="duckdb", help="duckdb, spark or both")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = Path(tempfile.gettempdir()) / f"ah-bench-lake-{args.lines}.sync.gz"
    if args.one:
        folder = Path(tempfile.mkdtemp(prefix="ah-bench-people-"))
        try:
            print(json.dumps(_step(args.one[0], data, args.lines, folder)))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if not data.exists():
        _generate(data, args.lines)
    _cached(data, args.lines, ingested=True)
    print(f"\nPeople data plane, {args.lines:,} lines and users, DuckDB {duckdb.__version__}\n")
    print(f"{'step':<9} {'run':<12} {'items':>11} {'items/s':>11} {'seconds':>8} {'peak MB':>8}")
    engines = args.engines.split(",")
    for step in args.steps.split(","):
        results = {}
        runs = ["floor", *(("audiencehub" if e == "duckdb" else "on Spark") for e in engines)]
        for run, name in zip(
            runs, [f"{step}-floor", *(f"{step}:{e}" for e in engines)], strict=True
        ):
            try:
                r = run_child(__file__, "--lines", str(args.lines), "--one", name, str(data))
            except subprocess.CalledProcessError:  # its error is printed; the others still count
                print(f"{step:<9} {run:<12} failed")
                continue
            results[run] = r
            print(
                f"{step:<9} {run:<12} {r['items']:>11,.0f} {r['items'] / r['seconds']:>11,.0f} "
                f"{r['seconds']:>8.2f} {r['peak_mb']:>8.0f}"
            )
        floor = results.get("floor")
        for engine, run in zip(engines, runs[1:], strict=True):
            ours = results.get(run)
            if floor is None or ours is None:
                continue
            record(
                _OPERATIONS[step],
                args.lines,
                engine=engine,
                backend="sqlite",
                seconds=ours["seconds"],
                baseline=_FLOORS[step],
                baseline_seconds=floor["seconds"],
                items=int(ours["items"]),
                unit=_UNITS[step],
                peak_mb=ours["peak_mb"],
            )
            ratio = ours["seconds"] / floor["seconds"]
            print(f"{step:<9} {'ratio':<12} {ratio:>11.2f}x the floor ({run})")
    print(
        "\nitems: lines (ingest), users (segments: 20 segments over them), IDs written (publish)."
    )
    print("Targets: ingest and publish within 2x their floor; 20 segments under 5 s; < 2 GB.")


if __name__ == "__main__":
    main()
