"""Benchmark: reconciling a shared-audience batch of hashed IDs against campaign profiles.

Generates (once, cached in ``--data``) a campaign workspace on SQLite with N
profiles and their ``aam`` email keys, and an outbound batch of N hashed emails
(60 % of them profiles' emails), split into four gzip files with their ``.info``.
Then times, each in a fresh process on a fresh copy of the database:

- ``audiencehub``: the ``importSharedAudience`` job, end to end: control-file
  check, file read, reconciliation, membership committed, report written;
- ``per-row Python``: a plain loop over the lines (``bytes.fromhex``, a dict of
  the stored keys), the members inserted with ``executemany``;
- ``DuckDB join``: the lower bound: DuckDB reads the same gzip files and the
  same keys (exported to Parquet beforehand, not timed) and writes the matched
  profile ids to Parquet; no database, no verification, no report.

Prints seconds, IDs/s and the peak memory of the measuring process.

    python bench/shared_import.py [--ids N] [--data DIR]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
from isal import igzip
from sqlalchemy import select

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import shared_data_sources
from audiencehub.campaign.sharing.data_sources import (
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
)
from audiencehub.campaign.sharing.import_job import run_import
from audiencehub.campaign.sharing.shared_audiences import create_shared_audience
from audiencehub.campaign.sharing.stored_keys import KEY_CACHE, prefetch
from audiencehub.drops import FolderDrop
from audiencehub.engines.spark import SparkSettings, bind_spark, spark_session
from audiencehub.formats import ControlFile, FileEntry, OutboundName
from audiencehub.identity import HashScheme, IdKind, hash_id
from audiencehub.workspace import init_workspace, open_workspace
from measure import (
    as_child,
    bench_admin,
    bench_parser,
    generate_in_child,
    record,
    run_child,
    tree_peak_mb,
)

DESTINATION, SEGMENT, PARTS = 46390, 900, 4
MATCHING = 0.6


def _profiles(workspace: Path, count: int) -> None:
    """Profiles ``user<i>@example.com`` and their aam keys, written straight to SQLite."""
    database = sqlite3.connect(workspace / "campaign.db")
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=OFF")
    database.execute("PRAGMA cache_size=-262144")
    database.execute(
        "INSERT INTO profiles (id, crm_id, email, email_key, email_opt_out, sms_opt_out, "
        "blocklisted, attributes, created_at, updated_at) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "SELECT i, 'C' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', "
        "0, 0, 0, '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM n",
        (count,),
    )
    keys = duckdb.sql(
        f"SELECT unhex(sha256('user' || i || '@example.com')) AS digest, i AS profile_id "
        f"FROM range(1, {count + 1}) t(i) ORDER BY digest"
    )
    reader = keys.to_arrow_reader(1_000_000)
    for batch in reader:
        database.executemany(
            "INSERT INTO profile_keys VALUES ('aam', 'email', ?, ?)",
            zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True),
        )
    # the keys were written behind the store's back: change their token as it would
    database.execute("UPDATE key_schemes SET keys_token = lower(hex(randomblob(16)))")
    database.commit()
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    sample = duckdb.sql("SELECT sha256('user7@example.com')").fetchall()[0][0]
    if sample != hash_id("User7@Example.com ", HashScheme.AAM, IdKind.EMAIL):
        raise SystemExit("DuckDB's digests differ from audiencehub's aam keys")


def _batch(drop: Path, count: int) -> None:
    """An outbound full batch: ``count`` lines, 60 % profiles' emails, four gzip files."""
    base = OutboundName(1764300000000, None, DESTINATION, 7001, "people", True)
    per_part = -(-count // PARTS)
    matching = int(count * MATCHING)

    def write(sequence: int) -> FileEntry:
        name = OutboundName(1764300000000, sequence or None, DESTINATION, 7001, "people", True)
        plain = drop / f"part{sequence}.txt"
        low, high = sequence * per_part, min(count, (sequence + 1) * per_part)
        duckdb.connect().execute(
            f"COPY (SELECT CASE WHEN i < {matching} "
            f"THEN sha256('user' || (i * 7919 % {count} + 1) || '@example.com') "
            f"ELSE sha256('stranger' || i || '@example.net') END || ' {SEGMENT} ' AS line "
            f"FROM range({low}, {high}) t(i) ORDER BY hash(i)) "
            f"TO '{plain}' (FORMAT csv, HEADER false, QUOTE '')"
        )
        target = drop / str(name)
        md5 = hashlib.md5()  # noqa: S324 -- the format's checksum
        lines = 0
        with plain.open("rb") as source, igzip.open(target, "wb", compresslevel=1) as sink:
            while chunk := source.read(4 << 20):
                lines += chunk.count(b"\n")
                sink.write(chunk)
        with target.open("rb") as stored:
            while chunk := stored.read(4 << 20):
                md5.update(chunk)
        plain.unlink()
        return FileEntry(str(name), target.stat().st_size, lines, sequence + 1, md5.hexdigest())

    with ThreadPoolExecutor(max_workers=2) as pool:
        entries = list(pool.map(write, range(PARTS)))
    (drop / base.info_name).write_text(ControlFile(base.info_name, tuple(entries)).to_json())


def _generate(data: Path, count: int) -> None:
    if (data / "ready").exists() and json.loads((data / "ready").read_text()) == count:
        init_workspace(data / "workspace").dispose()  # a cached workspace gets new migrations
        return
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    print(f"generating {count:,} profiles and a {count:,}-ID batch in {data} ...", file=sys.stderr)
    workspace = init_workspace(data / "workspace")
    vault = KeyVault(workspace.path)
    with workspace.campaign.begin() as connection:
        source = add_shared_data_source(
            connection,
            vault,
            label="CRM",
            key=ReconciliationKey.EMAIL,
            hashing=HashScheme.AAM,
            destination_id=DESTINATION,
        )
        accept_terms(connection, source["id"], bench_admin(connection))
        create_shared_audience(
            connection, name="Shared", segment_id=SEGMENT, data_source_id=source["id"]
        )
    workspace.campaign.dispose()
    _profiles(workspace.path, count)
    (data / "drop").mkdir()
    _batch(data / "drop", count)
    keys = duckdb.sql(
        f"SELECT unhex(sha256('user' || i || '@example.com')) AS digest, i AS profile_id "
        f"FROM range(1, {count + 1}) t(i)"
    )
    keys.write_parquet(str(data / "keys.parquet"))
    (data / "ready").write_text(json.dumps(count))


def _run_audiencehub(data: Path, folder: Path, *, kept: bool = False) -> Callable[[], int]:
    """The job on an open workspace (opening it, which checks migrations, is not timed).

    With ``kept``, an earlier run has left the columnar copy of the keys (made
    here, not timed); without, the keys are read from SQLite during the run.
    """
    workspace = open_workspace(folder / "workspace")
    vault, drop = KeyVault(workspace.path), FolderDrop(data / "drop")
    cache = workspace.path / KEY_CACHE
    if kept:
        with workspace.campaign.connect() as connection:
            sources = [dict(r) for r in connection.execute(select(shared_data_sources)).mappings()]
        prefetch(workspace.campaign, sources, folder, cache)

    def run() -> int:
        [report] = run_import(workspace.campaign, vault, drop, cache=cache).reports
        return int(report["added"])

    return run


def _run_audiencehub_kept(data: Path, folder: Path) -> Callable[[], int]:
    return _run_audiencehub(data, folder, kept=True)


def _run_spark(data: Path, folder: Path) -> Callable[[], int]:
    """The job with the workspace on Spark in local mode; the session is started
    before the clock (it is started once per process and serves every job)."""
    settings = SparkSettings("local[*]", {"spark.driver.memory": "3g"})
    spark_session(settings)
    workspace = open_workspace(folder / "workspace")
    bind_spark(workspace.campaign, settings)
    vault, drop = KeyVault(workspace.path), FolderDrop(data / "drop")
    cache = workspace.path / KEY_CACHE

    def run() -> int:
        [report] = run_import(workspace.campaign, vault, drop, cache=cache).reports
        return int(report["added"])

    return run


def _run_per_row(data: Path, folder: Path) -> Callable[[], int]:
    return lambda: _per_row(data, folder)


def _per_row(data: Path, folder: Path) -> int:
    database = sqlite3.connect(folder / "workspace" / "campaign.db")
    keys = dict(
        database.execute("SELECT digest, profile_id FROM profile_keys WHERE scheme = 'aam'")
    )
    members: set[int] = set()
    for path in sorted((data / "drop").glob("*.gz")):
        with igzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                user_id, segments, _ = line.rstrip("\n").split(" ")
                if str(SEGMENT) not in segments.split(","):
                    continue
                try:
                    profile = keys.get(bytes.fromhex(user_id))
                except ValueError:
                    continue
                if profile is not None:
                    members.add(profile)
    database.executemany(
        "INSERT INTO audience_members (audience_id, profile_id) VALUES (1, ?)",
        ((profile,) for profile in sorted(members)),
    )
    database.commit()
    return len(members)


def _run_duckdb(data: Path, folder: Path) -> Callable[[], int]:
    return lambda: _duckdb_join(data, folder)


def _duckdb_join(data: Path, folder: Path) -> int:
    files = [str(p) for p in sorted((data / "drop").glob("*.gz"))]
    session = duckdb.connect()
    session.execute(
        "COPY (SELECT DISTINCT k.profile_id FROM read_csv($files, columns = {'line': 'VARCHAR'}, "
        "delim = '\x01', quote = '', escape = '', header = false, auto_detect = false) b "
        "JOIN read_parquet($keys) k ON k.digest = unhex(split_part(b.line, ' ', 1)) "
        f"WHERE contains(',' || split_part(b.line, ' ', 2) || ',', ',{SEGMENT},')) "
        "TO $out (FORMAT parquet)",
        {"files": files, "keys": str(data / "keys.parquet"), "out": str(folder / "m.parquet")},
    )
    return int(duckdb.sql(f"SELECT count(*) FROM '{folder / 'm.parquet'}'").fetchall()[0][0])


def _warm(paths: list[Path]) -> None:
    """Read inputs once so every run starts with them in the page cache, as a busy
    server would have them."""
    for root in paths:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file():
                with path.open("rb") as handle:
                    while handle.read(16 << 20):
                        pass


_RUNS = {
    "audiencehub": _run_audiencehub,
    "audiencehub (keys kept)": _run_audiencehub_kept,
    "audiencehub on Spark": _run_spark,
    "per-row Python": _run_per_row,
    "DuckDB join": _run_duckdb,
}


def _one(name: str, data: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=data) as folder:
        shutil.copytree(data / "workspace", Path(folder) / "workspace")  # not timed
        os.sync()  # nor is writing the copy back to disk
        _warm([Path(folder) / "workspace", data / "drop", data / "keys.parquet"])
        run = _RUNS[name](data, Path(folder))
        start = time.perf_counter()
        members = run()
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "members": members,
        "peak_mb": tree_peak_mb(),
    }


def main() -> None:
    """Generate once, then time each run in its own process."""
    parser = bench_parser(__doc__, _RUNS, "ah-bench-share")
    parser.add_argument("--ids", type=int, default=10_000_000)
    parser.add_argument(
        "--memory-limit",
        help="the workspace's bulk_memory_limit (default: 1GB up to 10 M IDs, 3GB above)",
    )
    args = parser.parse_args()
    limit = args.memory_limit or ("1GB" if args.ids <= 10_000_000 else "3GB")
    # the children's workspaces read it (a child keeps what its parent set)
    limit = os.environ.setdefault("AUDIENCEHUB_BULK_MEMORY_LIMIT", limit)
    if as_child(args, lambda run: _one(run, args.data), lambda: _generate(args.data, args.ids)):
        return
    generate_in_child(__file__, "--ids", str(args.ids), "--data", str(args.data))
    print(
        f"\nShared-audience import: {args.ids:,} hashed IDs ({MATCHING:.0%} matching) "
        f"against {args.ids:,} profiles, SQLite, 2-core machine, bulk_memory_limit {limit}\n"
    )
    print("| run | s | IDs/s | members | peak MB |")
    print("|---|---|---|---|---|")
    results = {}
    for name in args.runs.split(","):
        result = results[name] = run_child(__file__, "--one", name, "--data", str(args.data))
        print(
            f"| {name} | {result['seconds']:.2f} | {args.ids / result['seconds']:,.0f} | "
            f"{result['members']:,} | {result['peak_mb']:,.0f} |"
        )
    floor = results.get("DuckDB join")
    for name, engine in (
        ("audiencehub", "duckdb"),
        ("audiencehub (keys kept)", "duckdb"),
        ("audiencehub on Spark", "spark"),
    ):
        if name in results:
            record(
                "shared-audience import (match)" + (", keys kept" if "kept" in name else ""),
                args.ids,
                engine=engine,
                backend="sqlite",
                seconds=results[name]["seconds"],
                baseline="DuckDB hash join alone",
                baseline_seconds=floor["seconds"] if floor else None,
                items=args.ids,
                unit="IDs",
                peak_mb=results[name]["peak_mb"],
            )
    print(
        "\naudiencehub: end to end, from the control-file check to the membership committed;"
        "\nthe stored keys read from SQLite during the run. 'keys kept': the columnar copy an"
        "\nearlier run left is still valid (no profile key written since), so it is mapped instead."
        "\nDuckDB join: file read and hash join only, keys already in Parquet: the lower bound."
        "\npeak MB: the measuring process (VmHWM). audiencehub also runs a SQLite reader process"
        "\n(about 100 MB) whose result passes through /dev/shm before the join starts."
    )


if __name__ == "__main__":
    main()
