"""Benchmark: a changed update merged into a PostgreSQL store, by sets and row by row.

Generates the benchmark's N demo profiles (``profile_import.py``'s file), and
from them an update: every other line of the base, 5 % of those with a new first
name, 3 % with a flipped opt-out, 3 % with an attribute set or removed, 1 % with
a removed phone or a moved CRM id, and N/20 new profiles. Then, each in a fresh
process and a fresh database:

- ``baseline``: a plain ``csv`` reader COPYing the update's rows into an empty
  ``profiles`` table (no checks, no merge, no keys);
- ``merge by sets``: the base first loaded (untimed), then the update imported
  (``campaign/profiles/bulk_merge.py``);
- ``row by row``: the same, the update through the row-by-row import.

Both imports must leave the same store (profiles in id order and their keys,
compared by SHA-256) and the same rejected lines; the script says if not.

    python bench/profile_merge.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import random
import time
from pathlib import Path

from sqlalchemy import Engine, text

from audiencehub.campaign import import_profiles
from audiencehub.campaign.profiles import file_import
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import init_workspace
from measure import peak_mb, record, run_child, scratch_folder
from profile_import import _baseline, _drop, _fresh_url, profile_file

_STORE = (
    "SELECT crm_id, email, email_key, mobile_phone, first_name, last_name, country, "
    "birth_date, email_opt_out, sms_opt_out, blocklisted, attributes::jsonb::text "
    "FROM profiles ORDER BY id"
)
_KEYS = (
    "SELECT k.scheme, k.kind, encode(k.digest, 'hex'), p.id - (SELECT min(id) FROM profiles) "
    "FROM profile_keys k JOIN profiles p ON p.id = k.profile_id ORDER BY 1, 2, 3, 4"
)


def _update(base: Path, path: Path, rows: int) -> None:
    """The update file, made from the base file (see the module's docstring)."""
    rng = random.Random(3)
    with (
        gzip.open(base, "rt", encoding="utf-8", newline="") as source,
        gzip.open(path, "wt", encoding="utf-8", newline="") as target,
    ):
        reader, writer = csv.reader(source), csv.writer(target)
        writer.writerow(next(reader))
        for index, row in enumerate(reader):
            if index % 2:
                continue
            draw = rng.random()
            if draw < 0.05:
                row[3] += "x"  # first name
            elif draw < 0.08:
                row[7] = "0" if row[7] == "1" else "1"  # email opt-out
            elif draw < 0.10:
                row[9] = "platinum"  # an attribute
            elif draw < 0.11:
                row[9] = ""  # the attribute removed
            elif draw < 0.115:
                row[2] = ""  # the phone removed: its keys change
            elif draw < 0.12:
                row[0] += "Z"  # another CRM id
            writer.writerow(row)
        for number in range(rows // 20):
            writer.writerow(
                [f"NEW{number:08d}", f"new{number}@example.org", "", "Neu", "P", "DE"] + [""] * 4
            )


def _store_digest(engine: Engine) -> dict[str, tuple[int, str]]:
    digests = {}
    with engine.connect() as connection:
        for name, query in (("profiles", _STORE), ("keys", _KEYS)):
            hashed = hashlib.sha256()
            count = 0
            for row in connection.execute(text(query)):
                hashed.update(repr(tuple(row)).encode())
                count += 1
            digests[name] = (count, hashed.hexdigest())
    return digests


def _one(mode: str, base: Path, update: Path) -> dict[str, object]:
    """One measurement in this (fresh) process, reported as JSON."""
    folder = scratch_folder("ah-bench-merge-")
    url = _fresh_url("postgresql", folder)
    try:
        workspace = init_workspace(folder / "ws", campaign_db_url=url, people_db_url=url)
        engine = workspace.campaign
        if mode == "baseline":
            started = time.perf_counter()
            rows = _baseline(engine, update)
            seconds = time.perf_counter() - started
            workspace.dispose()
            return {"rows": rows, "seconds": seconds, "self_mb": peak_mb()}
        with collector_paused():
            import_profiles(engine, base)
            if mode == "row by row":
                file_import.merge_applies = lambda connection: False  # type: ignore[assignment]
            rejects = folder / "rejects.csv"
            started = time.perf_counter()
            report = import_profiles(engine, update, rejects_path=rejects)
            seconds = time.perf_counter() - started
        rejected = rejects.read_bytes() if rejects.exists() else b""
        result = {
            "rows": report.read,
            "seconds": seconds,
            "self_mb": peak_mb(),
            "counts": [report.inserted, report.updated, report.unchanged, report.rejected],
            "rejects": hashlib.sha256(rejected).hexdigest(),
            "store": _store_digest(engine),
        }
        workspace.dispose()
        return result
    finally:
        _drop(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one[0], Path(args.one[1]), Path(args.one[2]))))
        return
    base = profile_file(args.rows)
    update = base.with_name(f"ah-bench-update-{args.rows}.csv.gz")
    if not update.exists():
        _update(base, update, args.rows)
    print(f"\nA changed update into a store of {args.rows:,} profiles, PostgreSQL, 2 cores\n")
    print(f"{'run':<14} {'rows/s':>10} {'seconds':>8} {'ratio':>6} {'peak MB':>8}  counts")
    results = {}
    for mode in ("baseline", "merge by sets", "row by row"):
        result = results[mode] = run_child(__file__, "--one", mode, str(base), str(update))
        ratio = float(result["seconds"]) / float(results["baseline"]["seconds"])
        print(
            f"{mode:<14} {result['rows'] / result['seconds']:>10,.0f} "
            f"{result['seconds']:>8.2f} {ratio:>5.2f}x {result['self_mb']:>8.0f}  "
            f"{result.get('counts', '')}"
        )
    for mode, engine in (("merge by sets", "duckdb"), ("row by row", "python")):
        record(
            f"profile update (half the store, some changed, 5 % new): {mode}",
            args.rows,
            engine=engine,
            backend="postgresql",
            seconds=float(results[mode]["seconds"]),
            baseline="csv + COPY of the update's rows",
            baseline_seconds=float(results["baseline"]["seconds"]),
            items=int(results[mode]["rows"]),
            unit="rows",
            peak_mb=float(results[mode]["self_mb"]),
        )
    same = all(
        results["merge by sets"][part] == results["row by row"][part]
        for part in ("counts", "rejects", "store")
    )
    print(
        "\nbaseline: csv reader + COPY of the update's rows into an empty table; counts:"
        "\ninserted, updated, unchanged, rejected. The two imports left "
        + ("the same store and rejected lines." if same else "DIFFERENT stores or rejects!")
    )
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
