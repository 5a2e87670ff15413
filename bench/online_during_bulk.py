"""Online paths during bulk jobs: click redirects and /id syncs while an import or ingest runs.

`audiencehub serve` runs on a workspace; a steady load of click redirects and
`/id` declared-ID syncs is sent while (1) nothing else runs, the baseline,
(2) a profile import of ``--profiles`` rows runs, (3) an ingest of ``--lines``
inbound lines runs, each bulk job started as the CLI would, in its own process.
Every request's latency is recorded; afterwards the clicks stored in the
database (once the spool has drained) are counted against the clicks answered,
so a lost click shows. Targets: p99 under 50 ms, no errors, nothing lost.

    .venv/bin/python bench/online_during_bulk.py [--profiles 2000000] [--lines 1000000]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.tracking import LinkSigner, TrackedLink
from audiencehub.campaign.profiles.store import create_profile
from audiencehub.campaign.schema import tracking_log
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.schema import id_links
from audiencehub.people.traits import add_trait
from audiencehub.runtime.demo import write_demo_profiles
from audiencehub.workspace import init_workspace, open_workspace
from measure import scratch_folder

_CLI = [sys.executable, "-m", "audiencehub"]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _inbound(path: Path, lines: int) -> None:
    rng = random.Random(11)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
        for index in range(lines):
            traits = ",".join(f"d_sid={t}" for t in rng.sample(range(101, 111), rng.randint(1, 3)))
            handle.write(f"c{index}\t{traits}\n")


class Load:
    """Clicks and /id syncs at a steady rate from worker threads, each latency recorded."""

    def __init__(self, campaign: str, people: str, token: str, rate: float) -> None:
        self.campaign, self.people, self.token, self.rate = campaign, people, token, rate
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.clicks = 0
        self.syncs = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _worker(self, kind: str) -> None:
        interval = 2.0 / self.rate  # the rate is shared by the two kinds
        rng = random.Random(kind)
        with httpx.Client(timeout=60) as client:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                if kind == "click":
                    url = f"{self.campaign}/r/{self.token}"
                else:
                    crm = f"web-{rng.randrange(10**9)}"
                    url = f"{self.people}/id?d_cid=7001%01{crm}%011"
                started = time.perf_counter()
                try:
                    response = client.get(url, follow_redirects=False)
                    ok = response.status_code == (302 if kind == "click" else 200)
                    problem = None if ok else f"{kind} answered {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = f"{kind}: {type(exc).__name__}"
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.latencies.append(elapsed)
                    if problem:
                        self.errors.append(problem)
                    elif kind == "click":
                        self.clicks += 1
                    else:
                        self.syncs += 1
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))

    def run_while(self, job: subprocess.Popen[bytes] | float) -> float:
        """Send load until ``job`` ends (or for that many seconds); returns the job's time."""
        workers = [threading.Thread(target=self._worker, args=(k,)) for k in ("click", "id")]
        for worker in workers:
            worker.start()
        started = time.perf_counter()
        if isinstance(job, float):
            time.sleep(job)
        else:
            job.wait()
            if job.returncode != 0:
                raise SystemExit(f"the bulk job failed ({job.returncode})")
        seconds = time.perf_counter() - started
        self._stop.set()
        for worker in workers:
            worker.join()
        return seconds


def _stored(ws_path: Path) -> tuple[int, int]:
    workspace = open_workspace(ws_path)
    with workspace.campaign.connect() as connection:
        clicks = connection.execute(select(func.count()).select_from(tracking_log)).scalar_one()
    with workspace.people.connect() as connection:
        links = connection.execute(select(func.count()).select_from(id_links)).scalar_one()
    workspace.dispose()
    return int(clicks), int(links)


def _settled(ws_path: Path, clicks: int, links: int, timeout: float = 120.0) -> tuple[int, int]:
    """What the database holds once the spools have drained (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        stored = _stored(ws_path)
        if stored >= (clicks, links) or time.monotonic() > deadline:
            return stored
        time.sleep(0.5)


def _row(name: str, load: Load, seconds: float, lost_clicks: int, lost_syncs: int) -> str:
    ms = sorted(x * 1000 for x in load.latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else 0.0
    return (
        f"| {name} | {seconds:.1f} | {len(ms):,} | {statistics.median(ms) if ms else 0:.1f} | "
        f"{p99:.1f} | {max(ms) if ms else 0:.1f} | {len(load.errors)} | {lost_clicks} | "
        f"{lost_syncs} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=2_000_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests a second, in all")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    args = parser.parse_args()

    folder = scratch_folder("ah-online-")
    ws_path = folder / "ws"
    workspace = init_workspace(ws_path)
    with workspace.campaign.begin() as connection:
        profile = create_profile(connection, email="clicker@example.com")
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        for trait in range(101, 111):
            add_trait(connection, trait_id=trait, name=f"T{trait}", data_source_id=7001)
    signer = LinkSigner(KeyVault(ws_path).derive("tracking"))
    token = signer.sign(TrackedLink(None, profile, 0, "https://shop.example.com/"))
    workspace.dispose()
    print(f"generating {args.profiles:,} profiles and {args.lines:,} inbound lines ...")
    profiles_file = write_demo_profiles(folder / "profiles.csv.gz", args.profiles)
    inbound = folder / "inbound"
    inbound.mkdir()
    _inbound(inbound / "ftp_dpm_7001_1764300000.sync.gz", args.lines)

    campaign_port, people_port = _free_port(), _free_port()
    env = {**os.environ, "AUDIENCEHUB_WORKSPACE": str(ws_path)}
    server = subprocess.Popen(
        [*_CLI, "serve", "--campaign-port", str(campaign_port), "--people-port", str(people_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    campaign, people = f"http://127.0.0.1:{campaign_port}", f"http://127.0.0.1:{people_port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{people}/id", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        rows = []
        clicks = links = 0
        scenarios: list[tuple[str, list[str] | None]] = [
            ("no bulk job (baseline)", None),
            (f"profile import, {args.profiles:,} rows", ["profiles", "import", str(profiles_file)]),
            (f"people ingest, {args.lines:,} lines", ["people", "ingest", "--from", str(inbound)]),
        ]
        for name, command in scenarios:
            load = Load(campaign, people, token, args.rate)
            job = (
                args.baseline_seconds
                if command is None
                else subprocess.Popen(
                    [*_CLI, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            seconds = load.run_while(job)
            clicks, links = clicks + load.clicks, links + load.syncs
            stored_clicks, stored_links = _settled(ws_path, clicks, links)
            rows.append(_row(name, load, seconds, clicks - stored_clicks, links - stored_links))
            print(f"  {name}: done", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print()
    print(
        "| while | seconds | requests | p50 ms | p99 ms | max ms | errors | lost clicks | "
        "lost /id syncs |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
