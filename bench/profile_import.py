"""Benchmark: importing profiles, beside a bare baseline measured in the same run.

Generates N demo profiles (1,000,000 by default), then for each backend
(SQLite, PostgreSQL) times, each in a fresh process and a fresh database:

- ``audiencehub``: the real import, with full validation (email syntax, phone
  parsing), normalised upsert keys and reconciliation keys; on PostgreSQL the
  store is empty, so this is a *first load* (checked by columns in DuckDB,
  COPY'd once, indexes built after: ``campaign/profiles/first_load.py``);
- ``row import`` (PostgreSQL): the same file into the same empty store through
  the row-by-row import (SQLite's import, and PostgreSQL's for a file the
  columns cannot read);
- ``baseline``: a plain ``csv`` reader loading the same rows into the same
  table with the database's bulk path (``COPY`` on PostgreSQL, ``executemany``
  on SQLite), with no validation, no upsert and no keys;
- ``re-import``: the same file imported again (everything unchanged); on
  PostgreSQL a merge by sets with the stored profiles
  (``campaign/profiles/bulk_merge.py``);
- ``re-import row by row`` (PostgreSQL): the same re-import through the
  row-by-row import, as before the merge by sets;
- ``write floor`` (PostgreSQL): what the import stores (profiles with their
  ids, and their keys) COPY'd row by row from Python with nothing checked or
  merged, the indexes kept up: what a plain loader writes;
- ``store floor`` (PostgreSQL): the same rows read by DuckDB with nothing
  checked and stored the way a first load stores them (binary COPY, ids drawn
  as one range, indexes dropped and built after): what PostgreSQL itself must
  do for a first load, which no tuning of the checks takes away.

Prints rows/s and peak memory (the importing process, and the largest worker).

    python bench/profile_import.py [--rows N] [--backends sqlite,postgresql] [--repeat K]

With ``--repeat K`` every mode runs K times, the modes in turn, and the table gives
each one's median run: the machine's speed moves by a third within the hour, and a
ratio of two runs minutes apart says as much about it as about the import.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import itertools
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from audiencehub.campaign import UpsertKey, import_profiles
from audiencehub.campaign.profiles import file_import
from audiencehub.campaign.profiles.fields import build_mapping
from audiencehub.campaign.profiles.file_import import _delimiter, _Source, _validated
from audiencehub.campaign.profiles.key_stage import KEY_COLUMNS
from audiencehub.campaign.profiles.rows import RowValidator
from audiencehub.campaign.profiles.store import schemes_in_use
from audiencehub.campaign.schema import profile_keys, profiles
from audiencehub.db.bulk import load_time_default, reserved_id_range, reserved_ids
from audiencehub.db.index_builds import indexes_built_after, lock_exclusively
from audiencehub.engines.pg_copy import copy_to_postgresql
from audiencehub.engines.session import sql_text
from audiencehub.identity.schemes import HashScheme, IdKind
from audiencehub.runtime.demo import write_demo_profiles
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import init_workspace
from measure import children_peak_mb, peak_mb, record, run_child, scratch_folder

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
_BASELINE_COLUMNS = ("crm_id", "email", "mobile_phone", "first_name", "last_name", "country")
_FLOOR_CHUNK = 25_000  # the import's chunk on PostgreSQL
_KEYS_COPY = "COPY profile_keys (scheme, kind, digest, profile_id) FROM STDIN"


def profile_file(rows: int) -> Path:
    """The benchmarks' file of ``rows`` demo profiles (0.5 % invalid), made once and kept
    in the temporary folder for every profile benchmark that asks for that size."""
    data = Path(tempfile.gettempdir()) / f"ah-bench-profiles-{rows}.csv.gz"
    if not data.exists():
        print(f"generating {rows:,} profiles in {data} ...", file=sys.stderr)
        write_demo_profiles(data, rows)
    return data


def _fresh_url(backend: str, folder: Path) -> str | None:
    if backend == "sqlite":
        return None
    name = f"ah_bench_{uuid.uuid4().hex[:10]}"
    with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def _drop(url: str | None) -> None:
    if url is None:
        return
    name = make_url(url).database
    with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _copy_baseline(workspace_engine: Engine, data: Path) -> int:
    """csv reader + COPY of the same rows (PostgreSQL's bulk load), nothing else."""
    raw = workspace_engine.raw_connection()
    try:
        cursor = raw.cursor()
        columns = ", ".join(
            (*_BASELINE_COLUMNS, "email_opt_out", "sms_opt_out", "blocklisted", "attributes")
        )
        rows = 0
        with (
            gzip.open(data, "rt", encoding="utf-8", newline="") as handle,
            cursor.copy(f"COPY profiles ({columns}, created_at, updated_at) FROM STDIN") as copy,
        ):
            reader = csv.reader(handle)
            next(reader)
            now = "2026-01-01 00:00:00+00"
            for fields in reader:
                copy.write_row((*fields[:6], False, False, False, "{}", now, now))
                rows += 1
        raw.commit()
        return rows
    finally:
        raw.close()


def _baseline(workspace_engine: Engine, data: Path) -> int:
    """csv reader + executemany of the same rows, nothing else (COPY on PostgreSQL)."""
    if workspace_engine.dialect.name == "postgresql":
        return _copy_baseline(workspace_engine, data)
    raw = workspace_engine.raw_connection()
    try:
        cursor = raw.cursor()
        marker = "?" if workspace_engine.dialect.name == "sqlite" else "%s"
        sql = (
            f"INSERT INTO profiles ({', '.join(_BASELINE_COLUMNS)}, email_opt_out, sms_opt_out, "
            f"blocklisted, attributes, created_at, updated_at) VALUES "
            f"({', '.join(marker for _ in _BASELINE_COLUMNS)}, false, false, false, '{{}}', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        rows = 0
        with gzip.open(data, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch: list[tuple[str, ...]] = []
            for fields in reader:
                batch.append(tuple(fields[:6]))
                if len(batch) == 10_000:
                    cursor.executemany(sql, batch)
                    rows += len(batch)
                    batch = []
            cursor.executemany(sql, batch)
            rows += len(batch)
        raw.commit()
        return rows
    finally:
        raw.close()


def _write_floor(workspace_engine: Engine, data: Path) -> int:
    """What the import stores, written with nothing checked or merged: PostgreSQL only.

    Each row's profile, with an id drawn from the sequence, COPY'd in chunks of
    the import's size; then its email's key under each scheme in use (SHA-256 of
    the trimmed, lower-case address), COPY'd in one go in the order of the keys'
    index, as the import writes them. No design of the import writes less; the
    baseline writes the profiles alone.
    """
    rows = 0
    keys: list[tuple[str, str, bytes, int]] = []
    now = "2026-01-01 00:00:00+00"
    profile_columns = ", ".join(
        ("id", *_BASELINE_COLUMNS, "email_key", "email_opt_out", "sms_opt_out", "blocklisted")
    )
    with workspace_engine.begin() as connection:
        schemes = [s.value for s in schemes_in_use(connection) if IdKind.EMAIL in s.kinds]
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with gzip.open(data, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            while chunk := list(itertools.islice(reader, _FLOOR_CHUNK)):
                ids = reserved_ids(connection, profiles, len(chunk)) or []
                statement = f"COPY profiles ({profile_columns}, attributes, created_at, updated_at)"
                with cursor.copy(f"{statement} FROM STDIN") as copy:
                    for profile_id, fields in zip(ids, chunk, strict=True):
                        email = fields[1].strip().lower() or None
                        row = (profile_id, *fields[:6], email, False, False, False, "{}", now, now)
                        copy.write_row(row)
                for profile_id, fields in zip(ids, chunk, strict=True):
                    email = fields[1].strip().lower()
                    if email:
                        digest = hashlib.sha256(email.encode()).digest()
                        keys.extend((scheme, "email", digest, profile_id) for scheme in schemes)
                rows += len(chunk)
        keys.sort(key=lambda key: key[2])  # by digest, as the import's stage
        with cursor.copy(_KEYS_COPY) as copy:
            for key in keys:
                copy.write_row(key)
    return rows


def _store_floor(workspace_engine: Engine, data: Path) -> int:
    """The rows a first load stores, read with nothing checked and written as it writes
    them: PostgreSQL only (see the module's docstring)."""
    db = duckdb.connect(config={"threads": 2, "preserve_insertion_order": False})
    db.execute(
        "CREATE TABLE raw AS SELECT row_number() OVER () - 1 AS n, * FROM read_csv("
        f"{sql_text(str(data))}, header = true, all_varchar = true)"
    )
    [(rows,)] = db.execute("SELECT count(*) FROM raw").fetchall()
    tables = (profiles.name, profile_keys.name)
    email = "nullif(lower(trim(email)), '')"
    with workspace_engine.begin() as connection:
        schemes = [s.value for s in schemes_in_use(connection) if IdKind.EMAIL in s.kinds]
        lock_exclusively(connection, tables)
        start = reserved_id_range(connection, profiles, rows).start
        with (
            indexes_built_after(connection, tables),
            load_time_default(connection, profiles, ("created_at", "updated_at")),
        ):
            copy_to_postgresql(
                connection,
                db,
                profiles.name,
                [
                    "id",
                    *_BASELINE_COLUMNS,
                    "birth_date",
                    "email_key",
                    "email_opt_out",
                    "sms_opt_out",
                    "blocklisted",
                    "attributes",
                ],
                f"SELECT {start} + n, {', '.join(_BASELINE_COLUMNS)}, "
                f"try_cast(birth_date AS DATE), {email}, false, false, false, '{{}}' FROM raw",
            )
            keys = " UNION ALL ".join(
                f"SELECT {sql_text(scheme)}, 'email', unhex(sha256({email})), {start} + n "
                f"FROM raw WHERE {email} IS NOT NULL"
                for scheme in schemes
            )
            copy_to_postgresql(
                connection, db, profile_keys.name, KEY_COLUMNS, f"{keys} ORDER BY 1, 2, 3, 4"
            )
    db.close()
    return rows


def _validation_only(data: Path) -> int:
    """The import's own reading, parsing and validation (two worker processes, keys
    hashed), with no database: the floor of the import's design on this machine."""
    source = _Source(data)
    try:
        header = source.header()
        delimiter = _delimiter(data, header, None)
        mapping = build_mapping(
            next(csv.reader([header], delimiter=delimiter)), UpsertKey.EMAIL, None
        )
        validator = RowValidator(mapping, [HashScheme.AAM], None)
        return sum(len(block) for block in _validated(source.blocks(), validator, delimiter, 2))
    finally:
        source.close()


def _one(backend: str, mode: str, data: Path) -> dict[str, float]:
    """Run one measurement in this (fresh) process and report it as JSON."""
    folder = scratch_folder("ah-bench-")
    url = _fresh_url(backend, folder)
    try:
        workspace = init_workspace(folder / "ws", campaign_db_url=url, people_db_url=url)
        engine = workspace.campaign
        if mode.startswith("re-import"):
            import_profiles(engine, data, rejects_path=folder / "rejects.csv")
        if mode in ("row import", "re-import row by row"):
            file_import.first_load_applies = lambda connection: False  # type: ignore[assignment]
            file_import.merge_applies = lambda connection: False  # type: ignore[assignment]
        started = time.perf_counter()
        if mode == "baseline":
            rows = _baseline(engine, data)
        elif mode == "write floor":
            with collector_paused():  # it holds the keys until they are sorted, as the import
                rows = _write_floor(engine, data)
        elif mode == "store floor":
            rows = _store_floor(engine, data)
        elif mode == "validation":
            rows = _validation_only(data)
        else:
            with collector_paused():  # as the CLI command runs it
                rows = import_profiles(engine, data, rejects_path=folder / "rejects.csv").read
        seconds = time.perf_counter() - started
        workspace.dispose()
    finally:
        _drop(url)
    return {
        "rows": rows,
        "seconds": seconds,
        "self_mb": peak_mb(),
        "worker_mb": children_peak_mb(),
    }


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run of median time among ``runs`` (the lower middle one of an even count), whole:
    its rows and peak memory with it."""
    ordered = sorted(runs, key=lambda run: run["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every mode this many times, in turn, and keep each one's median",
    )
    parser.add_argument(
        "--one", nargs=3, metavar=("BACKEND", "MODE", "FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one[0], args.one[1], Path(args.one[2]))))
        return
    data = profile_file(args.rows)
    print(f"\nProfile import, {args.rows:,} rows (0.5 % invalid), 2-core machine\n")
    print(
        f"{'backend':<11} {'run':<20} {'rows/s':>10} {'seconds':>8} {'ratio':>6} "
        f"{'peak MB':>8} {'worker MB':>9}"
    )
    for backend in args.backends.split(","):
        modes = ["baseline", "validation", "audiencehub", "re-import"]
        if backend == "postgresql":
            modes.insert(1, "write floor")
            modes.insert(2, "store floor")
            modes.insert(5, "row import")
            modes.append("re-import row by row")
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):  # in turn: the machine's speed drifts within minutes
            for mode in modes:
                runs[mode].append(run_child(__file__, "--one", backend, mode, str(data)))
        results = {mode: _median_run(runs[mode]) for mode in modes}
        for mode in modes:
            result = results[mode]
            ratio = result["seconds"] / results["baseline"]["seconds"]
            print(
                f"{backend:<11} {mode:<20} {result['rows'] / result['seconds']:>10,.0f} "
                f"{result['seconds']:>8.2f} {ratio:>5.2f}x "
                f"{result['self_mb']:>8.0f} {result['worker_mb']:>9.0f}"
            )
        if args.repeat > 1:
            for mode in modes[1:]:
                each = ", ".join(
                    f"{run['seconds'] / base['seconds']:.2f}x"
                    for run, base in zip(runs[mode], runs["baseline"], strict=True)
                )
                print(f"{'':<11} {mode:<20} each run over its round's baseline: {each}")
        loader = "COPY" if backend == "postgresql" else "executemany"
        columnar = backend == "postgresql"  # a first load, a merge by sets: DuckDB
        for mode, operation in (
            ("write floor", "profile import: write floor (COPY of profiles and keys)"),
            ("store floor", "profile import: store floor (read unchecked, stored as a first load)"),
            ("audiencehub", "profile import (first load)" if columnar else "profile import"),
            ("row import", "profile import: row by row"),
            ("re-import", "profile re-import (merge by sets)" if columnar else "profile re-import"),
            ("re-import row by row", "profile re-import: row by row"),
        ):
            if mode not in results:
                continue
            record(
                operation,
                args.rows,
                engine="duckdb" if columnar and mode in ("audiencehub", "re-import") else "python",
                backend=backend,
                seconds=results[mode]["seconds"],
                baseline=f"csv + {loader}",
                baseline_seconds=results["baseline"]["seconds"],
                items=results[mode]["rows"],
                unit="rows",
                peak_mb=max(results[mode]["self_mb"], results[mode]["worker_mb"]),
            )
    print(
        "\nbaseline: csv reader + COPY (PostgreSQL) or executemany (SQLite), no validation,"
        "\nno upsert, no keys. validation: the import's reading and validation in its two"
        "\nworkers, with no database at all: the most this design can import on this machine."
        "\nwrite floor (PostgreSQL): the profiles and their keys COPY'd with nothing checked"
        "\nor merged, indexes kept up row by row. store floor (PostgreSQL): the same rows read"
        "\nby DuckDB unchecked and stored as a first load stores them (binary COPY, indexes"
        "\nbuilt after): PostgreSQL's own part of a first load."
        "\nOn PostgreSQL the store is empty, so audiencehub is a first load (checked by"
        "\ncolumns, indexes built after); row import"
        "\nis the same file through the row-by-row import. re-import: the same file again,"
        "\nmerged by sets on PostgreSQL (re-import row by row: as the row import does it)."
    )


if __name__ == "__main__":
    main()
