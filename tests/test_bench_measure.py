"""The benchmarks' guard against a busy machine (``bench/measure.py``): a run waits until
other work leaves the CPU, and gives up with a clear message if it never does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import bench_module


@pytest.fixture(scope="module")
def measure() -> Any:
    return bench_module("measure")


def test_ticks_at_work_leave_out_idle_io_wait_and_steal(measure: Any) -> None:
    working, total = measure.cpu_ticks("cpu  615445 787 91474 435380 5571 0 1897 657 0 0")
    assert working == 615445 + 787 + 91474 + 1897
    assert total == working + 435380 + 5571 + 657


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads /proc/stat")
def test_a_process_spinning_on_a_core_shows_as_busy(measure: Any) -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        share = measure.busy_share(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    cores = len(os.sched_getaffinity(0))
    assert share > 0.8 / cores  # one core of the machine's, at least most of it


def test_a_run_waits_for_the_machine_to_quiet_down(
    measure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(measure.BUSY_OK, raising=False)
    shares = iter([0.9, 0.6, 0.1])
    monkeypatch.setattr(measure, "busy_share", lambda: next(shares))
    slept: list[float] = []
    monkeypatch.setattr(measure.time, "sleep", slept.append)
    measure.quiet_machine(wait=3600)
    assert slept == [10, 10]  # twice busy, then quiet
    assert next(shares, None) is None


def test_a_run_on_a_machine_that_stays_busy_stops_and_says_why(
    measure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(measure.BUSY_OK, raising=False)
    monkeypatch.setattr(measure, "busy_share", lambda: 0.9)
    monkeypatch.setattr(measure.time, "sleep", lambda _: None)
    with pytest.raises(SystemExit, match=r"other work takes 90% of its CPU.*BUSY_OK=1"):
        measure.quiet_machine(wait=0)


def test_the_guard_can_be_waived(measure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(measure.BUSY_OK, "1")
    monkeypatch.setattr(measure, "busy_share", lambda: pytest.fail("no need to look"))
    measure.quiet_machine(wait=0)
