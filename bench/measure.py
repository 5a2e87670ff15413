"""What every benchmark needs: a measurement in a fresh process, and its peak memory.

Each run happens in a child process so one run's memory and caches do not
colour the next; the child prints its result as JSON on its last line.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def scratch_folder(prefix: str) -> Path:
    """A new temporary folder for one run's workspace, removed when the process exits.

    A workspace of 1,000,000 profiles is about 300 MB: runs that left theirs behind
    filled the temporary folder.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def peak_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` starts afresh at exec; ``ru_maxrss`` would carry the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _vm_hwm_mb(pid: int | str) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone meanwhile
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_peak_mb() -> float:
    """This process's peak plus the peaks of its live descendants (Spark's JVM): an
    upper bound of what the job held at once."""
    total = peak_mb()
    pending = [str(os.getpid())]
    while pending:
        pid = pending.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            total += _vm_hwm_mb(child)
            pending.append(child)
    return total


def children_peak_mb() -> float:
    """The largest peak among finished children (an upper bound: it includes what they
    inherited at fork)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


#: the share of the machine's CPU that other work may take when a run starts
BUSY_SHARE = 0.25
#: how long a run waits for the machine to quiet down before it gives up (seconds)
BUSY_WAIT = 600.0
#: set (to anything) to measure on a busy machine all the same
BUSY_OK = "AUDIENCEHUB_BENCH_BUSY_OK"


def cpu_ticks(line: str) -> tuple[int, int]:
    """The CPU time the machine spent working and in all, in ticks, from the first line
    of ``/proc/stat``: idle, waiting for I/O and stolen by the hypervisor are not work."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(field) for field in line.split()[1:9]
    )
    working = user + nice + system + irq + softirq
    return working, working + idle + iowait + steal


def busy_share(seconds: float = 1.0) -> float:
    """The share of the machine's CPU at work over ``seconds``, while this process sleeps:
    between two runs, the share other work takes."""

    def sample() -> tuple[int, int]:
        with Path("/proc/stat").open(encoding="ascii") as stat:
            return cpu_ticks(stat.readline())

    working, total = sample()
    time.sleep(seconds)
    now_working, now_total = sample()
    return (now_working - working) / max(1, now_total - total)


def quiet_machine(wait: float = BUSY_WAIT) -> None:
    """Return once other work takes at most :data:`BUSY_SHARE` of the CPU; stop the
    benchmark if it still does after ``wait`` seconds. A run beside other work measures
    the contention: a people series run beside the test suite gave the publication 2.93x
    its floor, against 1.54x with the machine to itself."""
    if os.environ.get(BUSY_OK) or not Path("/proc/stat").exists():
        return
    deadline = time.monotonic() + wait
    while (share := busy_share()) > BUSY_SHARE:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the machine is busy: other work takes {share:.0%} of its CPU, and a "
                "benchmark run beside it would measure the contention. Stop that work, "
                f"or set {BUSY_OK}=1 to measure all the same."
            )
        print(f"waiting: other work takes {share:.0%} of the CPU", file=sys.stderr, flush=True)
        time.sleep(10)


def run_child(script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` with ``args`` in a fresh interpreter, once the machine is quiet
    (:func:`quiet_machine`); return the JSON it printed last."""
    quiet_machine()
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if done.returncode:  # say why before stopping: a failed run is a finding too
        sys.stderr.write(done.stderr[-4000:])
        done.check_returncode()
    output = done.stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def bench_parser(doc: str, runs: Iterable[str], data_name: str) -> argparse.ArgumentParser:
    """The options every generating benchmark takes: ``--data`` (the cache of generated
    data), ``--runs``, and the hidden ``--one NAME`` / ``--generate`` of its children."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / data_name)
    parser.add_argument("--runs", default=",".join(runs))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    return parser


def generate_in_child(script: str, *args: str) -> None:
    """Run ``script --generate ARGS`` in a child: the measuring runs are children of this
    process, and a child starts with its parent's peak memory."""
    subprocess.run([sys.executable, script, "--generate", *args], check=True)


def as_child(
    args: argparse.Namespace,
    one: Callable[[str], dict[str, Any]],
    generate: Callable[[], None],
) -> bool:
    """Play the child this process was started as, if any: ``--one NAME`` prints that
    run's result as JSON, ``--generate`` makes the data. False for the parent."""
    if args.one:
        print(json.dumps(one(args.one)))
        return True
    if args.generate:
        generate()
        return True
    return False


def bench_admin(connection: Any) -> Any:
    """The admin that accepts a benchmark data source's terms (made on first need)."""
    from audiencehub.campaign.users import Role, add_user, get_user
    from audiencehub.errors import NotFound

    try:
        return get_user(connection, "bench")
    except NotFound:
        return add_user(connection, "bench", "benchmark admin password", Role.ADMIN)


#: how a result's time of measurement is written (UTC)
MEASURED_FORMAT = "%Y-%m-%d %H:%M"

#: where :func:`record` appends results; the suite (``suite.py``) sets it for every script
RESULTS_ENV = "AUDIENCEHUB_BENCH_RESULTS"


def record(
    operation: str,
    size: int,
    *,
    engine: str,
    backend: str,
    seconds: float,
    baseline: str,
    baseline_seconds: float | None,
    items: int,
    unit: str,
    peak_mb: float,
    hashing: bool = False,
) -> None:
    """Append one result (one line of JSON) for the suite's table, when a suite runs.

    ``items`` over ``seconds`` is the throughput in ``unit``; ``hashing`` marks a
    figure bound by SHA-256 (one digest per item), which the table compares with
    what the CPU can hash. The result carries the minute it was measured at: the
    table gathers runs of several hours, and this machine's speed drifts between
    them, so only rows measured together compare.
    """
    target = os.environ.get(RESULTS_ENV)
    if not target:
        return
    entry = {
        "operation": operation,
        "size": size,
        "engine": engine,
        "backend": backend,
        "seconds": seconds,
        "baseline": baseline,
        "baseline_seconds": baseline_seconds,
        "items": items,
        "unit": unit,
        "peak_mb": peak_mb,
        "hashing": hashing,
        "measured": datetime.now(UTC).strftime(MEASURED_FORMAT),
    }
    with Path(target).open("a", encoding="utf-8") as sink:
        sink.write(json.dumps(entry) + "\n")
