"""Every benchmark with one command, written up in ``bench/RESULTS.md``.

Runs each script of this folder at the sizes of ``--scale`` (``small``: a few
minutes, for a check that nothing regressed; ``full``: the sizes the targets
are set at, over an hour, plus the growth series of ``docs/scaling.md``). Each
script measures audiencehub beside its own baseline in the same run and
appends its results (see :func:`measure.record`); this script adds the
SHA-256 limit of the machine, writes the table, and with ``--plots`` draws
the growth of time and memory with size.

    python bench/suite.py --scale small|full [--only NAME,...] [--plots DIR]
    python bench/suite.py --redraw --plots DIR   # the plots of bench/RESULTS.md as it stands
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from measure import RESULTS_ENV

HERE = Path(__file__).resolve().parent
DATA = Path(tempfile.gettempdir())

#: the average length of the IDs the hashing-bound jobs hash: the benchmarks'
#: emails (``user1234567@example.com``) and the demo profiles' are 20 to 30 bytes
AVERAGE_ID_BYTES = 24

_SHARE_RUNS = "audiencehub,audiencehub on Spark,DuckDB join"


def _share(size: int, runs: str = _SHARE_RUNS) -> tuple[str, list[str]]:
    data = DATA / f"ah-suite-share-{size}"
    return "shared_import.py", ["--ids", str(size), "--data", str(data), "--runs", runs]


SCALES: dict[str, list[tuple[str, list[str]]]] = {
    "small": [
        ("profile_import.py", ["--rows", "100000"]),
        ("profile_merge.py", ["--rows", "100000"]),
        ("profile_edit.py", ["--rows", "100000", "--ops", "100"]),
        ("workflow_run.py", ["--profiles", "100000"]),
        _share(1_000_000),
        ("shared_export.py", ["--members", "300000", "--data", str(DATA / "ah-suite-export-s")]),
        ("people_pipeline.py", ["--lines", "200000", "--engines", "duckdb,spark"]),
        ("members_download.py", ["--members", "100000"]),
        ("clicks_and_mail.py", ["--seconds", "3", "--emails", "300"]),
    ],
    "full": [
        ("profile_import.py", ["--rows", "1000000", "--repeat", "3"]),
        ("profile_merge.py", ["--rows", "1000000"]),
        ("profile_edit.py", ["--rows", "1000000", "--ops", "200"]),
        ("workflow_run.py", ["--profiles", "1000000"]),
        _share(1_000_000),
        _share(5_000_000),
        _share(10_000_000),
        _share(50_000_000, "audiencehub,DuckDB join"),
        ("shared_export.py", ["--members", "3000000", "--data", str(DATA / "ah-suite-export")]),
        ("people_pipeline.py", ["--lines", "1000000", "--engines", "duckdb,spark"]),
        ("people_pipeline.py", ["--lines", "5000000", "--engines", "duckdb,spark"]),
        ("people_pipeline.py", ["--lines", "10000000", "--engines", "duckdb,spark"]),
        ("people_pipeline.py", ["--lines", "50000000", "--engines", "duckdb,spark"]),
        ("members_download.py", ["--members", "1000000"]),
        ("clicks_and_mail.py", ["--seconds", "10", "--emails", "2000"]),
    ],
}


def sha256_limit(average_bytes: int = AVERAGE_ID_BYTES) -> dict[str, float]:
    """What this CPU can hash: ``hashlib`` over one 256 MB buffer, as bytes/s on one
    core, and as digests/s of IDs of ``average_bytes`` on every core.

    A short message costs whole 64-byte blocks (with 9 bytes of padding and
    length), so the per-ID figure divides the block rate, not the byte rate.
    """
    buffer = os.urandom(256 << 20)
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        hashlib.sha256(buffer).digest()
        best = max(best, len(buffer) / (time.perf_counter() - started))
    blocks = -(-(average_bytes + 9) // 64)
    cores = os.cpu_count() or 1
    return {
        "bytes_per_s": best,
        "per_core": best / 64 / blocks,
        "cores": cores,
        "hashes_per_s": best / 64 / blocks * cores,
        "average_bytes": average_bytes,
    }


def _ratio(entry: dict[str, Any]) -> str:
    base = entry.get("baseline_seconds")
    return f"{entry['seconds'] / base:.2f}x" if base else "-"


def write_results(
    path: Path, entries: list[dict[str, Any]], limit: dict[str, float], scale: str, note: str = ""
) -> None:
    """The table of ``entries``, with the SHA-256 limit line, as Markdown."""
    lines = [
        "# Benchmark results",
        "",
        f"`python bench/suite.py --scale {scale}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        "Each row is one run, in a fresh process, beside its baseline measured in the same "
        "run; ratio = our time / baseline time (lower is better). Peak memory is the "
        "measuring process's VmHWM (with Spark's JVM added for Spark runs).",
        *(["", note] if note else []),
        "",
        f"**SHA-256 limit**: `hashlib` over one 256 MB buffer: "
        f"{limit['bytes_per_s'] / 1e6:,.0f} MB/s on one core, that is "
        f"{limit['per_core']:,.0f} digests/s of {limit['average_bytes']}-byte IDs per core, "
        f"**{limit['hashes_per_s']:,.0f} hashes/s** on {limit['cores']} cores. "
        "Rows marked `#` are bound by hashing (one digest per item); the last column gives "
        "their throughput as a fraction of that limit.",
        "",
        "| operation | size | engine | backend | ours (s) | baseline | baseline (s) | ratio "
        "| throughput | peak MB | of SHA limit |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for entry in entries:
        rate = entry["items"] / entry["seconds"] if entry["seconds"] else 0.0
        base = entry.get("baseline_seconds")
        share = f"{rate / limit['hashes_per_s']:.1%}" if entry.get("hashing") else ""
        lines.append(
            f"| {entry['operation']}{' #' if entry.get('hashing') else ''} "
            f"| {entry['size']:,} | {entry['engine']} | {entry['backend']} "
            f"| {entry['seconds']:.2f} | {entry['baseline']} "
            f"| {f'{base:.2f}' if base else '-'} | {_ratio(entry)} "
            f"| {rate:,.0f} {entry['unit']}/s | {entry['peak_mb']:,.0f} | {share} |"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_results(path: Path) -> list[dict[str, Any]]:
    """The entries of a table :func:`write_results` wrote (and people may have edited, as
    runs of several days are gathered): what :func:`draw` needs of each row."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 11 or not cells[1].replace(",", "").isdigit():
            continue  # not a row of results (the header, its rule, the text around)
        entries.append(
            {
                "operation": cells[0].removesuffix(" #"),
                "size": int(cells[1].replace(",", "")),
                "engine": cells[2],
                "seconds": float(cells[4]),
                "peak_mb": float(cells[9].replace(",", "")),
            }
        )
    return entries


def draw(entries: list[dict[str, Any]], folder: Path) -> list[Path]:
    """PNG plots of seconds and peak memory against size, one line per operation and
    engine that was measured at more than one size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float, float]]] = {}
    for entry in entries:
        label = f"{entry['operation']} ({entry['engine']})"
        series.setdefault(label, []).append((entry["size"], entry["seconds"], entry["peak_mb"]))
    grown = {k: sorted(v) for k, v in series.items() if len({s for s, _, _ in v}) > 1}
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for column, name, axis in (
        (1, "scaling-time.png", "seconds"),
        (2, "scaling-memory.png", "peak MB"),
    ):
        figure, plot = plt.subplots(figsize=(8, 5))
        for label, points in grown.items():
            plot.plot([p[0] for p in points], [p[column] for p in points], marker="o", label=label)
        plot.set_xscale("log")
        plot.set_yscale("log")
        plot.set_xlabel("rows (IDs, lines or users)")
        plot.set_ylabel(axis)
        plot.grid(True, which="both", alpha=0.3)
        plot.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(folder / name, dpi=110)
        plt.close(figure)
        written.append(folder / name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--only", help="comma-separated script names (without .py)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--plots", type=Path, help="draw the growth plots into this folder")
    parser.add_argument(
        "--results", type=Path, help="keep the raw results (JSON lines) here, and add to them"
    )
    parser.add_argument("--note", default="", help="a paragraph for the top of the results")
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="run nothing: draw the plots (--plots) from the table in --out as it stands",
    )
    args = parser.parse_args()
    if args.redraw:
        if not args.plots:
            parser.error("--redraw draws plots: say where with --plots DIR")
        for path in draw(read_results(args.out), args.plots):
            print(f"plot: {path}")
        return
    only = set(args.only.split(",")) if args.only else None
    results = args.results or Path(tempfile.mkstemp(prefix="ah-suite-", suffix=".jsonl")[1])
    env = {**os.environ, RESULTS_ENV: str(results)}
    for script, options in SCALES[args.scale]:
        if only and script.removesuffix(".py") not in only:
            continue
        print(f"\n=== {script} {' '.join(options)}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script), *options], env=env, check=False)
        print(f"=== {script}: {time.perf_counter() - started:.0f} s, exit {done.returncode}")
    entries = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    limit = sha256_limit()
    write_results(args.out, entries, limit, args.scale, args.note)
    print(f"\n{len(entries)} results in {args.out}")
    if args.plots:
        for path in draw(entries, args.plots):
            print(f"plot: {path}")


if __name__ == "__main__":
    main()
