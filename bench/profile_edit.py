"""Benchmark: profiles changed and erased one at a time, as the API does, in a full store.

Loads the benchmark's N demo profiles (``profile_import.py``'s file) into a fresh
database of each backend, with what a working store holds beside them: every other
profile a member of each of 10 audiences and exported by a share of one of them,
and every profile linked to a visitor ID (``--audiences``). Then times K
operations of each kind, each in its own transaction, as a person's request
through the API or the UI runs:

- ``baseline``: a one-row ``UPDATE`` of a profile's first name by its id, the least
  any edit costs;
- ``email edit``: :func:`audiencehub.campaign.profiles.editing.update_profile` with
  a new address (the profile's keys are rewritten: the old ones found by their
  digests, the new ones inserted);
- ``erasure``: :func:`~audiencehub.campaign.profiles.editing.delete_profile` (keys,
  memberships, links, exports and working sets; message counts kept).

Prints the median and 90th percentile of each, and operations/s over the K.

    python bench/profile_edit.py [--rows N] [--ops K] [--audiences A]
        [--backends postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, text, update

from audiencehub.campaign import import_profiles
from audiencehub.campaign.profiles.editing import delete_profile, update_profile
from audiencehub.campaign.schema import audiences, profiles, shared_data_sources, shares
from audiencehub.runtime.policy import collector_paused
from audiencehub.workspace import init_workspace
from measure import peak_mb, record, scratch_folder
from profile_import import _drop, _fresh_url, profile_file


def _timed(
    engine: Engine, step: Callable[[Connection, int, int], None], ids: list[int]
) -> list[float]:
    """Seconds of each call of ``step`` (connection, profile id, its number), one
    transaction each."""
    seconds = []
    for number, profile_id in enumerate(ids):
        started = time.perf_counter()
        with engine.begin() as connection:
            step(connection, profile_id, number)
        seconds.append(time.perf_counter() - started)
    return seconds


def _bare(connection: Connection, profile_id: int, number: int) -> None:
    connection.execute(
        update(profiles).where(profiles.c.id == profile_id).values(first_name=f"B{number}")
    )


def _edit(connection: Connection, profile_id: int, number: int) -> None:
    update_profile(connection, profile_id, {"email": f"edited{number}@example.org"})


def _erase(connection: Connection, profile_id: int, number: int) -> None:
    delete_profile(connection, profile_id)


def _neighbours(connection: Connection, count: int) -> None:
    """Memberships of ``count`` audiences (every other profile in each), one share's
    exports and a visitor link per profile: what an erasure must find its rows among."""
    now = datetime.now(UTC)
    connection.execute(
        insert(shared_data_sources),
        {
            "id": "AMCDS1",
            "label": "bench",
            "priority": 1,
            "reconciliation": "visitor",
            "created_at": now,
        },
    )
    connection.execute(
        insert(audiences),
        [
            {
                "id": n,
                "name": f"bench {n}",
                "type": "file",
                "force_profile": False,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(1, count + 1)
        ],
    )
    connection.execute(
        insert(shares),
        {
            "id": 1,
            "source_audience_id": 1,
            "segment_id": 1,
            "trait_code": "bench",
            "data_source_id": "AMCDS1",
            "created_at": now,
        },
    )
    connection.execute(
        text(
            "INSERT INTO audience_members (audience_id, profile_id) "
            "SELECT a.id, p.id FROM audiences a CROSS JOIN profiles p WHERE p.id % 2 = 0"
        )
    )
    connection.execute(
        text(
            "INSERT INTO share_exports (share_id, profile_id, exported_at) "
            "SELECT 1, profile_id, :now FROM audience_members WHERE audience_id = 1"
        ),
        {"now": now},
    )
    connection.execute(
        text(
            "INSERT INTO visitor_links (visitor_id, profile_id, linked_at) "
            "SELECT CAST(id AS VARCHAR(38)), id, :now FROM profiles"
        ),
        {"now": now},
    )


def _measure(backend: str, data: Path, rows: int, ops: int, neighbours: int) -> None:
    folder = scratch_folder("ah-bench-edit-")
    url = _fresh_url(backend, folder)
    try:
        workspace = init_workspace(folder / "ws", campaign_db_url=url, people_db_url=url)
        engine = workspace.campaign
        with collector_paused():
            import_profiles(engine, data, rejects_path=folder / "rejects.csv")
        with engine.begin() as connection:
            _neighbours(connection, neighbours)
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
            ids = list(
                connection.execute(
                    select(profiles.c.id)
                    .where(profiles.c.email.is_not(None))
                    .order_by(profiles.c.id)
                    .limit(2 * ops)
                ).scalars()
            )
        baseline = _timed(engine, _bare, ids[:ops])
        runs = {
            "email edit": _timed(engine, _edit, ids[:ops]),
            "erasure": _timed(engine, _erase, ids[ops:]),
        }
        workspace.dispose()
    finally:
        _drop(url)
    print(f"{backend:<11} {'baseline':<11} {_line(baseline)}")
    for name, seconds in runs.items():
        print(f"{backend:<11} {name:<11} {_line(seconds)}  {sum(seconds) / sum(baseline):.2f}x")
        record(
            f"profile {name} (API, one at a time)",
            rows,
            engine="-",
            backend=backend,
            seconds=sum(seconds),
            baseline="one-row UPDATE by id",
            baseline_seconds=sum(baseline),
            items=len(seconds),
            unit="operations/s",
            peak_mb=peak_mb(),
        )


def _line(seconds: list[float]) -> str:
    p90 = sorted(seconds)[int(len(seconds) * 0.9)]
    return (
        f"{statistics.median(seconds) * 1000:9.1f} {p90 * 1000:9.1f} "
        f"{len(seconds) / sum(seconds):10,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--audiences", type=int, default=10, help="each holding half the store")
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    data = profile_file(args.rows)
    print(
        f"\nProfiles changed and erased one at a time, in a store of {args.rows:,} "
        f"with {args.audiences * args.rows // 2:,} audience memberships\n"
    )
    print(f"{'backend':<11} {'run':<11} {'median ms':>9} {'p90 ms':>9} {'ops/s':>10}  ratio")
    for backend in args.backends.split(","):
        _measure(backend, data, args.rows, args.ops, args.audiences)
    print(
        "\nbaseline: a one-row UPDATE by id, its own transaction. ratio: the run's total "
        "time over the baseline's."
    )


if __name__ == "__main__":
    main()
