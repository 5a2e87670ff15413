"""Benchmark: downloading an audience's members as CSV over the REST API.

Makes a SQLite workspace with N profiles (1,000,000 by default) and two
audiences (every profile, and a tenth of them), then measures, in the same run:

- ``audiencehub``: ``GET /api/v1/audiences/{name}/members.csv?fields=email,first_name``
  from ``audiencehub serve`` in its own process, read by a streaming HTTP client;
  the server's resident memory is sampled while it answers;
- ``baseline``: the same join read with a raw sqlite3 cursor and written with
  the csv module to nowhere (no HTTP, no framework: the floor).

The server's memory is the point: streamed, its peak grows by the same small
amount for N/10 and N members (after one warm-up download, not reported, that
pays for first imports and caches).

    python bench/members_download.py [--members N]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from audiencehub.campaign.users import Role, add_user, create_token
from audiencehub.workspace import init_workspace
from measure import record, scratch_folder

_FIELDS = "email,first_name"
_QUERY = """SELECT m.profile_id, NULL, p.email, p.first_name
FROM audience_members m LEFT JOIN profiles p ON p.id = m.profile_id
WHERE m.audience_id = ? ORDER BY m.profile_id"""


def generate(folder: Path, members: int) -> str:
    """The workspace with its profiles and audiences; returns an admin's token."""
    workspace = init_workspace(folder)
    with workspace.campaign.begin() as connection:
        add_user(connection, "bench", "benchmark admin password", Role.ADMIN)
        _, token = create_token(connection, "bench", "bench")
    database = sqlite3.connect(folder / "campaign.db")
    now = "2026-12-02 00:00:00.000000"
    database.executescript(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {members})
        INSERT INTO profiles (email, email_key, first_name, country, email_opt_out,
            sms_opt_out, blocklisted, attributes, created_at, updated_at)
        SELECT 'person' || i || '@example.com', 'person' || i || '@example.com',
            'Name' || i, 'FR', 0, 0, 0, '{{}}', '{now}', '{now}' FROM n;
        INSERT INTO audiences (name, type, force_profile, created_at, updated_at)
            VALUES ('all', 'workflow', 1, '{now}', '{now}'),
                ('tenth', 'workflow', 1, '{now}', '{now}');
        INSERT INTO audience_members (audience_id, profile_id)
            SELECT (SELECT id FROM audiences WHERE name = 'all'), id FROM profiles;
        INSERT INTO audience_members (audience_id, profile_id)
            SELECT (SELECT id FROM audiences WHERE name = 'tenth'), id FROM profiles
            WHERE id % 10 = 0;
        """
    )
    database.commit()
    database.close()
    return token


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def download(base: str, token: str, audience: str, pid: int) -> dict[str, float]:
    """Stream one download, sampling the server's memory meanwhile."""
    before, peak, done = _rss_mb(pid), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started, size, lines = time.perf_counter(), 0, 0
    with httpx.stream(
        "GET",
        f"{base}/api/v1/audiences/{audience}/members.csv",
        params={"fields": _FIELDS},
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {
        "rows": lines - 1,
        "seconds": seconds,
        "mb": size / 1e6,
        "rss_before": before,
        "rss_peak": max(peak[0], before),
    }


def baseline(folder: Path, audience: str) -> dict[str, float]:
    """The floor: the same rows out of SQLite into csv, in this process."""
    database = sqlite3.connect(folder / "campaign.db")
    [(audience_id,)] = database.execute("SELECT id FROM audiences WHERE name = ?", (audience,))
    started, rows = time.perf_counter(), 0
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    for row in database.execute(_QUERY, (audience_id,)):
        writer.writerow(row)
        rows += 1
        if rows % 5000 == 0:
            sink.seek(0)
            sink.truncate()
    return {"rows": rows, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = scratch_folder("ah-download-") / "ws"
    started = time.perf_counter()
    token = generate(folder, args.members)
    print(f"generated {args.members:,} members in {time.perf_counter() - started:.1f} s")
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiencehub",
            "serve",
            "-w",
            str(folder),
            "--campaign-port",
            str(port),
            "--people-port",
            str(port + 1),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/api/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        time.sleep(3)  # the scheduler's first round (jobs due at start) settles
        download(base, token, "tenth", server.pid)  # warm-up: imports, caches, first query
        results = {}
        for audience in ("tenth", "all"):
            results[audience] = download(base, token, audience, server.pid)
            results[audience]["baseline_seconds"] = baseline(folder, audience)["seconds"]
    finally:
        server.terminate()
        server.communicate(timeout=20)
    print(
        f"\n{'audience':<8} {'rows':>10} {'MB':>7} {'API s':>7} {'rows/s':>10} "
        f"{'floor s':>8} {'server RSS before':>18} {'peak':>6} {'growth':>7}"
    )
    for audience, r in results.items():
        print(
            f"{audience:<8} {r['rows']:>10,} {r['mb']:>7.1f} {r['seconds']:>7.2f} "
            f"{r['rows'] / r['seconds']:>10,.0f} {r['baseline_seconds']:>8.2f} "
            f"{r['rss_before']:>15.0f} MB {r['rss_peak']:>6.0f} "
            f"{r['rss_peak'] - r['rss_before']:>+7.0f}"
        )
    for r in results.values():
        record(
            "members.csv download (API)",
            r["rows"],
            engine="python",
            backend="sqlite",
            seconds=r["seconds"],
            baseline="sqlite3 cursor into csv",
            baseline_seconds=r["baseline_seconds"],
            items=r["rows"],
            unit="rows",
            peak_mb=r["rss_peak"],
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
