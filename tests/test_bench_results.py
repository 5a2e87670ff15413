"""The benchmark suite's table (``bench/suite.py``): rows read back as they were written, a
partial run replacing only its own rows, and the hand-written notes kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import BENCH, bench_module


@pytest.fixture(scope="module")
def suite() -> Any:
    return bench_module("suite")


LIMIT = {
    "bytes_per_s": 1.9e9,
    "per_core": 2.9e7,
    "cores": 2,
    "hashes_per_s": 5.9e7,
    "average_bytes": 24,
    "measured": "2026-12-04 20:00",
}


def _entry(operation: str, size: int, engine: str, seconds: float, **more: Any) -> dict[str, Any]:
    entry = {
        "operation": operation,
        "size": size,
        "engine": engine,
        "backend": "sqlite",
        "seconds": seconds,
        "baseline": "DuckDB alone",
        "baseline_seconds": 1.25,
        "items": size,
        "unit": "lines",
        "peak_mb": 812.4,
        "hashing": False,
        "measured": "2026-12-04 18:12",
    }
    return {**entry, **more}


def test_a_table_reads_back_as_written(suite: Any, tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    entries = [
        # 3.64x as measured, 3.65x from the rounded times: a rewrite keeps the first
        _entry("people ingest (lake)", 1_000_000, "duckdb", 9.304, baseline_seconds=2.554),
        _entry("export #x", 2_000, "python", 0.7, hashing=True, baseline_seconds=None),
    ]
    suite.write_results(path, entries, LIMIT, "- a note")
    first = path.read_text()
    read = suite.read_results(path)
    assert [(e["operation"], e["size"], e["engine"], e["backend"]) for e in read] == [
        ("people ingest (lake)", 1_000_000, "duckdb", "sqlite"),
        ("export #x", 2_000, "python", "sqlite"),
    ]
    assert read[1]["hashing"] and read[1]["baseline_seconds"] is None
    assert read[0]["measured"] == "2026-12-04 18:12"
    assert read[0]["unit"] == "lines" and read[0]["peak_mb"] == 812.0
    assert read[0]["ratio"] == "3.64x"
    suite.write_results(path, read, LIMIT, suite.notes_of(path))
    assert path.read_text() == first  # a rewrite changes nothing


def test_a_partial_run_replaces_only_its_own_rows(suite: Any, tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    kept = [
        _entry("people ingest (lake)", 10_000_000, "duckdb", 21.79),
        _entry("people ingest (lake)", 10_000_000, "spark", 116.55),
        _entry("people segments", 10_000_000, "duckdb", 2.52),
    ]
    suite.write_results(path, kept, LIMIT, "- the 10 M rows: one run")
    again = [_entry("people ingest (lake)", 10_000_000, "spark", 99.0, measured="2026-12-05 09:00")]
    table = suite.merged(suite.read_results(path), again)
    suite.write_results(path, table, LIMIT, suite.notes_of(path))
    rows = {(e["operation"], e["engine"]): e for e in suite.read_results(path)}
    assert len(rows) == 3
    assert rows["people ingest (lake)", "spark"]["seconds"] == 99.0
    assert rows["people ingest (lake)", "spark"]["measured"] == "2026-12-05 09:00"
    assert rows["people ingest (lake)", "duckdb"]["measured"] == "2026-12-04 18:12"
    assert suite.notes_of(path) == "- the 10 M rows: one run"


def test_a_table_of_before_the_measured_column_reads(suite: Any, tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(
        "| operation | size | engine | backend | ours (s) | baseline | baseline (s) | ratio "
        "| throughput | peak MB | of SHA limit |\n"
        "|---|---:|---|---|---:|---|---:|---:|---:|---:|---:|\n"
        "| shared-audience export # | 1,000,000 | spark | sqlite | 32.11 | plain loop | 2.02 "
        "| 15.90x | 31,143 records/s | 2,210 | 0.1% |\n"
    )
    [entry] = suite.read_results(path)
    assert entry["operation"] == "shared-audience export" and entry["hashing"]
    assert entry["measured"] == "" and entry["unit"] == "records"
    assert round(entry["items"] / entry["seconds"]) == 31_143


def test_every_row_of_the_committed_results_reads(suite: Any) -> None:
    """The plots and every merge read ``bench/RESULTS.md`` back: a row edited by hand
    that no longer parses would silently fall out of both."""
    path = BENCH / "RESULTS.md"
    rows = [line for line in path.read_text().splitlines() if line.startswith("| ")][1:]
    read = suite.read_results(path)
    assert len(read) == len(rows) > 0
    assert all(entry["measured"] for entry in read)
