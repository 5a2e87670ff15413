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
  and beside the *plan floor*: the fewest set operations any plan of these
  semantics needs, each as lean as it can be (the lines read, split and checked
  in one statement; the items coded by a join with their distinct values; the
  IDs resolved by a join on two 64-bit hashes instead of the text; lines per
  user; per-line counts; the last word per user and trait; the receipt's sums;
  the realisations written), with none of the receipt's first reasons, no
  Python fallback and no lake transaction. It says what a SQL plan can reach
  on this machine. The ingest itself reads the batch by its compiled pass
  (``audiencehub/people/inbound_pass.c``: each line checked, its ID resolved in
  a hash table, its counts and the last word per user and trait kept as it is
  read) where the package was built with it, else by the SQL plan; the table
  says which;
- ``segments``: materialising 20 segments over the N users (the graph read,
  rules evaluated, memberships committed, sizes stored), beside the same
  materialisation's rows merely counted by DuckDB over the lake (no graph, no
  writes) as a floor;
- ``publish``: a full publication of a segment holding about half the IDs
  (evaluation, gzip files split at 1 M rows, ``.info``, published state) beside
  its floor: DuckDB alone writing the same IDs, already in memory, to a gzip file.

With ``--engines duckdb,spark`` each step also runs with the workspace on Spark
in local mode (its session started before the clock), beside the same floor,
and the *Spark floor* runs: the floor's own bare work done by Spark (the file
read, split and its realisations written as Parquet; the realisations grouped
by user; the IDs, cached, written as gzip text). Its time over the embedded
job's is the least ratio any Spark plan of the step can have to DuckDB here.
Where that floor leaves out work every plan of the step does, the *Spark plan
floor* adds it, each part as lean as Spark runs it: for the ingest, the IDs
resolved by a join with the graph and the last word per user and trait; for
the publication, the rule's traits per user, the join with the graph for the
users' IDs and the lines sorted by ID. No check, count, receipt, comparison or
lake transaction: the least a Spark job of these semantics can take here.

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
from typing import Any

import duckdb
from sqlalchemy import update

from audiencehub.drops import FolderDrop
from audiencehub.engines.lake import Lake, lake_files, open_lake
from audiencehub.engines.spark import SparkSettings, bind_spark, spark_session
from audiencehub.people import ingest as ingest_module
from audiencehub.people.data_sources import DEVICE_NAMESPACE, InboundIdType, add_data_source
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
_PUBLISHED_TRAITS = range(101, 111)
_PUBLISHED_RULE = " OR ".join(f"T{t}" for t in _PUBLISHED_TRAITS)
# Spark for every Spark run (the jobs and the Spark floors): local mode, a 2 GB driver
_SPARK = SparkSettings("local[*]", {"spark.driver.memory": "2g"})


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
        spark_session(_SPARK)
        bind_spark(workspace.people, _SPARK)
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


_ITEMS = (
    'CASE WHEN contains(traits, \'"\') THEN regexp_extract_all(traits, \'(?:[^,"]|"[^"]*")+\') '
    "ELSE string_split(traits, ',') END"
)
# the plan floor of the ingest (see the module's docstring), statement by statement
_PLAN = [
    "CREATE TEMP TABLE p_lines AS SELECT uid, traits, "
    "CASE WHEN strlen(line) > 100000 THEN 'long' WHEN tab = 0 THEN 'no TAB' "
    "WHEN tab = 1 THEN 'no ID' WHEN regexp_matches(uid, '[\\x00-\\x1f\\x7f]') THEN 'control' "
    "WHEN contains(uid, ':') THEN 'colon' WHEN contains(traits, '\"') AND "
    "(strlen(traits) - strlen(replace(traits, '\"', ''))) % 2 = 1 THEN 'quote' END AS error, "
    "CASE WHEN strlen(line) <> length(line) THEN line END AS odd "
    "FROM (SELECT line, instr(line, chr(9)) AS tab, substring(line, 1, instr(line, chr(9)) - 1) "
    "AS uid, substring(line, instr(line, chr(9)) + 1) AS traits FROM read_csv('{data}', "
    "columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '', escape = '', header = false, "
    "auto_detect = false, new_line = '\\n', compression = 'gzip'))",
    "CREATE TEMP TABLE p_vocabulary AS SELECT part, (row_number() OVER ())::INTEGER AS code, "
    "TRY_CAST(regexp_extract(part, '[0-9]+') AS INTEGER) AS trait_id, "
    "contains(part, 'unsid') OR contains(part, ':-1') AS removal "
    f"FROM (SELECT DISTINCT unnest({_ITEMS}) AS part FROM p_lines WHERE error IS NULL)",
    "CREATE TEMP TABLE p_items AS SELECT k, pos, v.code, v.trait_id, v.removal "
    f"FROM (SELECT rowid AS k, unnest({_ITEMS}) AS part, generate_subscripts({_ITEMS}, 1) AS pos "
    "FROM p_lines WHERE error IS NULL) i JOIN p_vocabulary v USING (part)",
    "CREATE TEMP TABLE p_resolved AS SELECT l.rowid AS k, u.id AS uid FROM p_lines l "
    "LEFT JOIN (SELECT hash(external_id) AS h1, hash(external_id || chr(1)) AS h2, id "
    "FROM lake.graph_users WHERE ns = 0) u "
    "ON u.h1 = hash(l.uid) AND u.h2 = hash(l.uid || chr(1)) WHERE l.error IS NULL",
    "CREATE TEMP TABLE p_users AS SELECT uid, count(*) AS lines FROM p_resolved "
    "WHERE uid IS NOT NULL GROUP BY uid",
    "CREATE TEMP TABLE p_counts AS SELECT k, count(*) FILTER (WHERE NOT removal) AS added, "
    "count(*) FILTER (WHERE removal) AS removed, count(*) FILTER (WHERE trait_id IS NULL) AS "
    "other FROM p_items GROUP BY k",
    "CREATE TEMP TABLE p_final AS SELECT r.uid, i.trait_id, "
    "max(i.k * 2 + CASE WHEN i.removal THEN 1 ELSE 0 END) % 2 = 0 AS held "
    "FROM p_items i JOIN p_resolved r ON r.k = i.k WHERE r.uid IS NOT NULL "
    "AND i.trait_id IS NOT NULL GROUP BY r.uid, i.trait_id",
    "SELECT sum(added), sum(removed), sum(other), count(DISTINCT r.uid) FILTER (WHERE added > 0) "
    "FROM p_counts c JOIN p_resolved r ON r.k = c.k WHERE r.uid IS NOT NULL",
    "COPY (SELECT uid, trait_id, now() FROM p_final WHERE held) TO '{out}' (FORMAT parquet)",
]


def _spark_floor(step: str, data: Path, lines: int, folder: Path) -> dict[str, float]:
    """The floor's bare work done by Spark in local mode, its session started before the
    clock: what any Spark plan of the step pays on this machine, checks or not."""
    from pyspark.sql import functions as f

    spark = spark_session(_SPARK)
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    if step == "ingest":
        started = time.perf_counter()
        fields = spark.read.text(str(data)).select(f.split("value", "\t").alias("f"))
        items = fields.select(
            (f.xxhash64(f.get("f", 0)) / 2).cast("bigint").alias("user_id"),
            f.explode(f.split(f.get("f", 1), ",")).alias("item"),  # no TAB: no items
        ).where(f.col("item").rlike("[0-9]"))
        items.select(
            "user_id",
            f.regexp_extract("item", "[0-9]+", 0).cast("int").alias("trait_id"),
            f.current_timestamp().alias("realized_at"),
        ).write.parquet(str(folder / "floor"))
        return {"items": lines, "seconds": time.perf_counter() - started, "peak_mb": tree_peak_mb()}
    workspace = _copy(_cached(data, lines, ingested=True), folder, spark=False)
    if step == "segments":
        with reading(workspace.people) as session:
            files = lake_files(session, "realisations")
        if any(file.deletes for file in files):
            raise SystemExit("the cached lake has deletes: the floor reads data files alone")
        started = time.perf_counter()
        spark.read.parquet(*[file.data for file in files]).groupBy("user_id").agg(
            f.collect_list("trait_id")
        ).count()
        return {"items": lines, "seconds": time.perf_counter() - started, "peak_mb": tree_peak_mb()}
    sizes = materialise(workspace.people, segment_ids=[_PUBLISHED])
    with reading(workspace.people) as session:
        files = lake_files(session, "memberships")
    ids = (
        spark.read.parquet(*[file.data for file in files])
        .where(f"segment_id = {_PUBLISHED}")
        .select(f.concat(f.format_string("%019d", "user_id"), f.lit(" 900 ")).alias("line"))
        .cache()
    )
    ids.count()  # in memory before the clock, as DuckDB's floor holds them
    started = time.perf_counter()
    ids.write.option("compression", "gzip").text(str(folder / "floor.sync"))
    return {
        "items": sizes[_PUBLISHED],
        "seconds": time.perf_counter() - started,
        "peak_mb": tree_peak_mb(),
    }


def _removal(item: Any) -> Any:
    """Whether a trait item removes its trait (``d_unsid=``, ``N:-1``), as the plan floor
    tells it."""
    return item.contains("unsid") | item.contains(":-1")


def _spark_plan(step: str, data: Path, lines: int, folder: Path) -> dict[str, float]:
    """The least work any Spark plan of the step's semantics does, each part as lean as
    Spark runs it, in local mode with its session started before the clock: the ingest's
    lines read and split, their IDs resolved by a join with the namespace's IDs, the last
    word per user and trait, the realisations written (no checks, counts or receipt); the
    publication's traits per user as a mask, the users joined with the graph for their
    IDs, the rule, the lines sorted by ID and written as gzip (no comparison with what the
    destination holds, no lake write). Its time over the embedded job's is the least
    ratio a Spark job of these semantics can have to DuckDB here."""
    from pyspark.sql import functions as f

    spark = spark_session(_SPARK)
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    workspace = _copy(_cached(data, lines, ingested=step == "publish"), folder, spark=False)
    with reading(workspace.people) as session:
        graph = [file.data for file in lake_files(session, "graph_users")]
        realisations = [file.data for file in lake_files(session, "realisations")]
    ids = spark.read.parquet(*graph).where(f"ns = {DEVICE_NAMESPACE}")
    started = time.perf_counter()
    if step == "ingest":
        fields = spark.read.text(str(data)).select(
            f.monotonically_increasing_id().alias("k"), f.split("value", "\t").alias("f")
        )
        items = (
            fields.join(ids, ids.external_id == f.get("f", 0))
            .select("k", "id", f.explode(f.split(f.get("f", 1), ",")).alias("item"))
            .where(f.col("item").rlike("[0-9]"))
            .select(
                f.col("id").alias("user_id"),
                f.regexp_extract("item", "[0-9]+", 0).cast("int").alias("trait_id"),
                (f.col("k") * 2 + _removal(f.col("item")).cast("int")).alias("word"),
            )
        )
        items.groupBy("user_id", "trait_id").agg(f.max("word").alias("word")).where(
            "word % 2 = 0"
        ).select("user_id", "trait_id", f.current_timestamp().alias("realized_at")).write.parquet(
            str(folder / "plan")
        )
        return {"items": lines, "seconds": time.perf_counter() - started, "peak_mb": tree_peak_mb()}
    first = min(_PUBLISHED_TRAITS)
    held = (
        spark.read.parquet(*realisations)
        .where(f.col("trait_id").isin(*_PUBLISHED_TRAITS))
        .groupBy("user_id")
        .agg(f.expr(f"bit_or(shiftleft(1L, trait_id - {first}))").alias("m"))
    )
    members = held.join(ids, ids.id == held.user_id).where("m <> 0")  # the rule: any of them
    members.select(f.concat("external_id", f.lit(f" {_PUBLISHED} ")).alias("line")).orderBy(
        "line"
    ).write.option("compression", "gzip").text(str(folder / "plan.sync"))
    seconds = time.perf_counter() - started
    written = spark.read.text(str(folder / "plan.sync")).count()
    return {"items": written, "seconds": seconds, "peak_mb": tree_peak_mb()}


def _step(name: str, data: Path, lines: int, folder: Path) -> dict[str, float]:
    step, _, engine = name.partition(":")
    spark = engine == "spark"
    if step.endswith("-floor") and spark:
        return _spark_floor(step.removesuffix("-floor"), data, lines, folder)
    if step.endswith("-plan") and spark:
        return _spark_plan(step.removesuffix("-plan"), data, lines, folder)
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
    if step == "ingest-plan":
        workspace = _copy(_cached(data, lines, ingested=False), folder, spark=False)
        out = folder / "plan.parquet"
        with reading(workspace.people) as session:
            started = time.perf_counter()
            for statement in _PLAN:
                result = session.execute(statement.format(data=data, out=out))
                if statement.startswith("SELECT"):  # the receipt's sums
                    result.fetchall()
            seconds = time.perf_counter() - started
        return {"items": lines, "seconds": seconds, "peak_mb": peak_mb()}
    if step == "ingest":
        workspace = _copy(_cached(data, lines, ingested=False), folder, spark=spark)
        drop = folder / "in"
        drop.mkdir()
        (drop / _NAME).hardlink_to(data)
        paths = []  # which path read the batch: the compiled pass, or the SQL plan
        compiled_read = ingest_module.run_pass

        def noted(*args: Any, **kwargs: Any) -> bool:
            paths.append(compiled_read(*args, **kwargs))
            return paths[-1]

        ingest_module.run_pass = noted
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
            "path": "compiled pass" if any(paths) else "SQL plan",
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
_PLAN_OPERATION = "people ingest: plan floor (fewest SQL steps)"
_FLOORS = {
    "ingest": "DuckDB read + insert into the lake",
    "segments": "DuckDB groups the realisations by user",
    "publish": "DuckDB writes the IDs to gzip",
}
_SPARK_FLOORS = {
    "ingest": "people ingest: Spark floor (read + write realisations)",
    "segments": "people segments: Spark floor (group by user)",
    "publish": "people publication: Spark floor (write the IDs to gzip)",
}
# the least Spark plan of a step's semantics, where the Spark floor leaves work out that
# any plan needs (resolving the IDs, the last word per trait; the graph's IDs, the sort)
_SPARK_PLANS = {
    "ingest": "people ingest: Spark plan floor (IDs resolved, last word per trait)",
    "publish": "people publication: Spark plan floor (masks, graph join, sort, gzip)",
}
_UNITS = {"ingest": "lines", "segments": "users", "publish": "IDs"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--steps", default="ingest,segments,publish", help="comma-separated")
    parser.add_argument("--engines", default="duckdb", help="duckdb, spark or duckdb,spark")
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
    if unknown := set(engines) - {"duckdb", "spark"}:
        parser.error(f"--engines: {', '.join(sorted(unknown))} is no engine (duckdb, spark)")
    for step in args.steps.split(","):
        results = {}
        # (label, child run, what it is recorded as: operation, engine, backend)
        runs: list[tuple[str, str, tuple[str, str, str] | None]] = [
            ("floor", f"{step}-floor", None)
        ]
        if step == "ingest":  # what any SQL plan needs, beside the one-pass floor
            runs.append(("plan floor", "ingest-plan", (_PLAN_OPERATION, "duckdb", "none")))
        if "spark" in engines:  # what any Spark plan pays, beside DuckDB's floor
            runs.append(
                ("Spark floor", f"{step}-floor:spark", (_SPARK_FLOORS[step], "spark", "none"))
            )
            if step in _SPARK_PLANS:
                plan = (_SPARK_PLANS[step], "spark", "none")
                runs.append(("Spark plan", f"{step}-plan:spark", plan))
        runs += [
            (
                "audiencehub" if engine == "duckdb" else "on Spark",
                f"{step}:{engine}",
                (_OPERATIONS[step], engine, "sqlite"),
            )
            for engine in engines
        ]
        for run, name, _ in runs:
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
            if "path" in r:
                print(f"{step:<9} {'':<12} the batch was read by the {r['path']}")
        floor = results.get("floor")
        for run, _, recorded in runs:
            ours = results.get(run)
            if floor is None or ours is None or recorded is None:
                continue
            operation, engine, backend = recorded
            record(
                operation,
                args.lines,
                engine=engine,
                backend=backend,
                seconds=ours["seconds"],
                baseline=_FLOORS[step],
                baseline_seconds=floor["seconds"],
                items=int(ours["items"]),
                unit=_UNITS[step],
                peak_mb=ours["peak_mb"],
            )
            ratio = ours["seconds"] / floor["seconds"]
            print(f"{step:<9} {'ratio':<12} {ratio:>11.2f}x the floor ({run})")
        embedded = results.get("audiencehub")
        for least in ("Spark floor", "Spark plan"):
            if embedded is not None and least in results:
                ratio = results[least]["seconds"] / embedded["seconds"]
                print(f"{step:<9} {'ratio':<12} {ratio:>11.2f}x: {least} / audiencehub on DuckDB")
    print(
        "\nitems: lines (ingest), users (segments: 20 segments over them), IDs written (publish)."
    )
    print("Targets: ingest and publish within 2x their floor; 20 segments under 5 s; < 2 GB.")


if __name__ == "__main__":
    main()
