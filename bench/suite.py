"""Every benchmark with one command, written up in ``bench/RESULTS.md``.

Runs each script of this folder at the sizes of ``--scale`` (``small``: a few
minutes, for a check that nothing regressed; ``full``: the sizes the targets
are set at, over an hour, plus the growth series of ``docs/scaling.md``). Each
script measures audiencehub beside its own baseline in the same run and
appends its results (see :func:`measure.record`); this script adds the
SHA-256 limit of the machine, writes the table, and with ``--plots`` draws
the growth of time and memory with size. The rows a run measures replace
their own rows in the table; the others stay, each with the time it was
measured, and so do the notes at its foot.

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

from measure import MEASURED_FORMAT, RESULTS_ENV

HERE = Path(__file__).resolve().parent
DATA = Path(tempfile.gettempdir())

#: the average length of the IDs the hashing-bound jobs hash: the benchmarks'
#: emails (``user1234567@example.com``) and the demo profiles' are 20 to 30 bytes
AVERAGE_ID_BYTES = 24

_SHARE_RUNS = "audiencehub,audiencehub on Spark,DuckDB join"


def _share(size: int, runs: str = _SHARE_RUNS) -> tuple[str, list[str]]:
    data = DATA / f"ah-suite-share-{size}"
    return "shared_import.py", ["--ids", str(size), "--data", str(data), "--runs", runs]


def _export(size: int) -> tuple[str, list[str]]:
    data = DATA / f"ah-suite-export-{size}"
    return "shared_export.py", ["--members", str(size), "--data", str(data)]


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
        *(_export(size) for size in (1_000_000, 5_000_000, 10_000_000, 50_000_000)),
        ("people_pipeline.py", ["--lines", "1000000", "--engines", "duckdb,spark"]),
        ("people_pipeline.py", ["--lines", "5000000", "--engines", "duckdb,spark"]),
        ("people_pipeline.py", ["--lines", "10000000", "--engines", "duckdb,spark"]),
        ("people_pipeline.py", ["--lines", "50000000", "--engines", "duckdb,spark"]),
        ("members_download.py", ["--members", "1000000"]),
        ("clicks_and_mail.py", ["--seconds", "10", "--emails", "2000"]),
    ],
}


def sha256_limit(average_bytes: int = AVERAGE_ID_BYTES) -> dict[str, Any]:
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
        "measured": datetime.now(UTC).strftime(MEASURED_FORMAT),
    }


def _ratio(entry: dict[str, Any]) -> str:
    base = entry.get("baseline_seconds")
    return f"{entry['seconds'] / base:.2f}x" if base else "-"


#: the heading of the hand-written notes at the foot of the results, kept by every rewrite
NOTES_HEADING = "## Notes on the runs"

_COLUMNS = (
    "operation",
    "size",
    "engine",
    "backend",
    "ours (s)",
    "baseline",
    "baseline (s)",
    "ratio",
    "throughput",
    "peak MB",
    "of SHA limit",
    "measured (UTC)",
)
_RIGHT = {"size", "ours (s)", "baseline (s)", "ratio", "throughput", "peak MB", "of SHA limit"}


def _key(entry: dict[str, Any]) -> tuple[str, int, str, str]:
    return (entry["operation"], entry["size"], entry["engine"], entry["backend"])


def merged(kept: list[dict[str, Any]], measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``kept`` with those ``measured`` again replaced (same operation, size,
    engine and backend), and the new ones added, in a stable order: a run of some
    scripts updates their rows and leaves the others as they were measured."""
    rows = {_key(entry): entry for entry in kept}
    rows.update((_key(entry), entry) for entry in measured)
    return [rows[key] for key in sorted(rows)]


def notes_of(path: Path) -> str:
    """The hand-written notes of the results at ``path`` (what follows
    :data:`NOTES_HEADING`), or nothing."""
    if not path.exists():
        return ""
    _, found, notes = path.read_text(encoding="utf-8").partition(NOTES_HEADING)
    return notes.strip() if found else ""


def write_results(
    path: Path, entries: list[dict[str, Any]], limit: dict[str, Any], notes: str = ""
) -> None:
    """The table of ``entries``, with the SHA-256 limit line and ``notes``, as Markdown."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python bench/suite.py` on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Each row is one run, in a fresh process, beside "
        "its baseline measured in the same run; ratio = our time / baseline time (lower is "
        "better). Peak memory is the measuring process's VmHWM (with Spark's JVM added for "
        "Spark runs). A run of some scripts (`--only`) replaces their rows and keeps the "
        "others, so each row says when it was measured: this machine's speed drifts, by a "
        "factor of three or more within a day, so compare the ratios of rows measured "
        "together, and absolute times only within one run.",
        "",
        f"**SHA-256 limit** (measured {limit['measured']} UTC): `hashlib` over one 256 MB "
        f"buffer: {limit['bytes_per_s'] / 1e6:,.0f} MB/s on one core, that is "
        f"{limit['per_core']:,.0f} digests/s of {limit['average_bytes']}-byte IDs per core, "
        f"**{limit['hashes_per_s']:,.0f} hashes/s** on {limit['cores']} cores. "
        "Rows marked `#` are bound by hashing (one digest per item); the column *of SHA "
        "limit* gives their throughput as a fraction of that limit.",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "|".join("---:" if name in _RIGHT else "---" for name in _COLUMNS) + "|",
    ]
    for entry in entries:
        rate = entry["items"] / entry["seconds"] if entry["seconds"] else 0.0
        base = entry.get("baseline_seconds")
        share = f"{rate / limit['hashes_per_s']:.1%}" if entry.get("hashing") else ""
        lines.append(
            f"| {entry['operation']}{' #' if entry.get('hashing') else ''} "
            f"| {entry['size']:,} | {entry['engine']} | {entry['backend']} "
            f"| {entry['seconds']:.2f} | {entry['baseline']} "
            f"| {f'{base:.2f}' if base else '-'} | {entry.get('ratio') or _ratio(entry)} "
            f"| {rate:,.0f} {entry['unit']}/s | {entry['peak_mb']:,.0f} | {share} "
            f"| {entry.get('measured', '')} |"
        )
    if notes:
        lines += ["", NOTES_HEADING, "", notes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_results(path: Path) -> list[dict[str, Any]]:
    """The entries of a table :func:`write_results` wrote (and people may have edited),
    as :func:`measure.record` made them; a table of before the *measured* column reads
    with that column empty."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) not in (11, 12) or not cells[1].replace(",", "").isdigit():
            continue  # not a row of results (the header, its rule, the text around)
        seconds = float(cells[4])
        rate, _, unit = cells[8].partition(" ")
        entries.append(
            {
                "operation": cells[0].removesuffix(" #"),
                "size": int(cells[1].replace(",", "")),
                "engine": cells[2],
                "backend": cells[3],
                "seconds": seconds,
                "baseline": cells[5],
                "baseline_seconds": None if cells[6] == "-" else float(cells[6]),
                "ratio": cells[7],  # as measured: the times above are rounded
                "items": float(rate.replace(",", "")) * seconds,
                "unit": unit.removesuffix("/s"),
                "peak_mb": float(cells[9].replace(",", "")),
                "hashing": cells[0].endswith(" #"),
                "measured": cells[11] if len(cells) == 12 else "",
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
        figure, plot = plt.subplots(figsize=(12, 5.5))
        colours = plt.get_cmap("tab20").colors
        for place, (label, points) in enumerate(grown.items()):
            plot.plot(
                [p[0] for p in points],
                [p[column] for p in points],
                marker="o",
                label=label,
                color=colours[place % len(colours)],
                linestyle="--" if label.endswith("(spark)") else "-",  # Spark dashed
            )
        plot.set_xscale("log")
        plot.set_yscale("log")
        plot.set_xlabel("rows (IDs, lines or users)")
        plot.set_ylabel(axis)
        plot.grid(True, which="both", alpha=0.3)
        plot.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the lines
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
    parser.add_argument(
        "--note", default="", help="a paragraph to add at the top of the results' notes"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start the table afresh with this run's rows (by default they replace their "
        "own rows in --out and the others stay)",
    )
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
    kept = [] if args.fresh or not args.out.exists() else read_results(args.out)
    notes = "" if args.fresh else notes_of(args.out)
    if args.note:
        notes = f"{args.note}\n\n{notes}".strip()
    table = merged(kept, entries)
    write_results(args.out, table, sha256_limit(), notes)
    print(f"\n{len(entries)} results of this run, {len(table)} in {args.out}")
    if args.plots:
        for path in draw(table, args.plots):
            print(f"plot: {path}")


if __name__ == "__main__":
    main()
