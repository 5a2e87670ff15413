"""Benchmark: sharing a campaign audience (exportSharedAudience) as hashed emails.

Generates a workspace on SQLite with N profiles, an audience holding all of
them, an ``aam`` hashed-email data source and a share into segment 902. Then
times, each in a fresh process on a fresh copy of the workspace:

- ``audiencehub``: the ``exportSharedAudience`` job: exclusions, hashing, the
  gzip inbound file, the sent records remembered for the next share;
- ``plain Python loop``: the least any export does: every member's email read
  in one query, hashed with ``hashlib`` and written as a line to gzip; no
  exclusions, no normalisation, nothing remembered.

Prints seconds, records/s and the peak memory of the measuring process: the
job's memory must not grow with the audience (it streams).

    python bench/shared_export.py [--members N] [--data DIR]
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from isal import igzip

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.sharing.data_sources import (
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
)
from audiencehub.campaign.sharing.export_job import run_export
from audiencehub.drops import FolderDrop
from audiencehub.engines.spark import SparkSettings, bind_spark, spark_session
from audiencehub.identity import HashScheme
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


def _generate(data: Path, count: int) -> None:
    if (data / "ready").exists() and json.loads((data / "ready").read_text()) == count:
        init_workspace(data / "workspace").dispose()  # a cached workspace gets new migrations
        return
    shutil.rmtree(data, ignore_errors=True)
    workspace = init_workspace(data / "workspace")
    with workspace.campaign.begin() as connection:
        source = add_shared_data_source(
            connection,
            KeyVault(workspace.path),
            label="CRM",
            key=ReconciliationKey.EMAIL,
            hashing=HashScheme.AAM,
            alias_dpid=7001,
        )
        accept_terms(connection, source["id"], bench_admin(connection))
    workspace.campaign.dispose()
    database = sqlite3.connect(workspace.path / "campaign.db")
    database.execute(
        "INSERT INTO profiles (id, crm_id, email, email_key, email_opt_out, sms_opt_out, "
        "blocklisted, attributes, created_at, updated_at) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "SELECT i, 'C' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', "
        "0, 0, 0, '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM n",
        (count,),
    )
    database.execute(
        "INSERT INTO audiences (id, name, type, force_profile, created_at, updated_at) "
        "VALUES (1, 'Everyone', 'list', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )
    database.execute("INSERT INTO audience_members SELECT 1, id FROM profiles")
    # the share itself, as `audiences share` records it once the people service has made
    # segment 902 fillable by data source 7001 (what is measured is the export)
    database.execute(
        "INSERT INTO shares (source_audience_id, segment_id, trait_code, data_source_id, "
        "created_at) VALUES (1, 902, 'segment-902', ?, '2026-01-01 00:00:00')",
        (source["id"],),
    )
    database.commit()
    database.close()
    (data / "ready").write_text(json.dumps(count))


def _audiencehub(folder: Path) -> Callable[[], int]:
    workspace = open_workspace(folder / "workspace")
    vault, drop = KeyVault(workspace.path), FolderDrop(folder / "out")

    def run() -> int:
        return int(run_export(workspace.campaign, vault, drop).shares[0]["sent"])

    return run


def _on_spark(folder: Path) -> Callable[[], int]:
    """The job with the workspace on Spark in local mode (the session started first)."""
    settings = SparkSettings("local[*]", {"spark.driver.memory": "2g"})
    spark_session(settings)
    workspace = open_workspace(folder / "workspace")
    bind_spark(workspace.campaign, settings)
    vault, drop = KeyVault(workspace.path), FolderDrop(folder / "out")

    def run() -> int:
        return int(run_export(workspace.campaign, vault, drop).shares[0]["sent"])

    return run


def _plain(folder: Path) -> Callable[[], int]:
    def run() -> int:
        database = sqlite3.connect(folder / "workspace" / "campaign.db")
        rows = database.execute(
            "SELECT p.email FROM audience_members m JOIN profiles p ON p.id = m.profile_id "
            "WHERE m.audience_id = 1 ORDER BY m.profile_id"
        )
        sent = 0
        with igzip.open(folder / "plain.gz", "wt", encoding="utf-8") as sink:
            for (email,) in rows:
                digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
                sink.write(f"{digest}\tsegment-902\n")
                sent += 1
        return sent

    return run


_RUNS = {
    "audiencehub": _audiencehub,
    "audiencehub on Spark": _on_spark,
    "plain Python loop": _plain,
}


def _one(name: str, data: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=data) as folder:
        shutil.copytree(data / "workspace", Path(folder) / "workspace")  # not timed
        run = _RUNS[name](Path(folder))
        start = time.perf_counter()
        sent = run()
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "sent": sent, "peak_mb": tree_peak_mb()}


def main() -> None:
    """Generate once, then time each run in its own process."""
    parser = bench_parser(__doc__, _RUNS, "ah-bench-export")
    parser.add_argument("--members", type=int, default=3_000_000)
    args = parser.parse_args()
    if as_child(args, lambda run: _one(run, args.data), lambda: _generate(args.data, args.members)):
        return
    generate_in_child(__file__, "--members", str(args.members), "--data", str(args.data))
    print(f"\nShared-audience export: {args.members:,} members as aam hashed emails, SQLite\n")
    print("| run | s | records/s | sent | peak MB |")
    print("|---|---|---|---|---|")
    results = {}
    for name in args.runs.split(","):
        result = results[name] = run_child(__file__, "--one", name, "--data", str(args.data))
        print(
            f"| {name} | {result['seconds']:.2f} | {result['sent'] / result['seconds']:,.0f} | "
            f"{result['sent']:,} | {result['peak_mb']:,.0f} |"
        )
    loop = results.get("plain Python loop")
    for name, engine in (("audiencehub", "python"), ("audiencehub on Spark", "spark")):
        ours = results.get(name)
        if ours:
            record(
                "shared-audience export (aam hashed emails)",
                args.members,
                engine=engine,
                backend="sqlite",
                seconds=ours["seconds"],
                baseline="plain loop: read, hash, write",
                baseline_seconds=loop["seconds"] if loop else None,
                items=ours["sent"],
                unit="records",
                peak_mb=ours["peak_mb"],
                hashing=True,
            )
    print(
        "\naudiencehub: the whole job (exclusions, normalised hashing, gzip file, sent records"
        "\nremembered). plain Python loop: read, hash and write only. peak MB: the measuring"
        "\nprocess (VmHWM), SQLite's 128 MB page cache included."
    )


if __name__ == "__main__":
    main()
