"""Run the real CLI entry point in-process and capture what it prints."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from audiencehub.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


CLI_PASSWORD = "correct horse battery"


@pytest.fixture
def cli(capsys, monkeypatch):
    """Call ``audiencehub ARGS`` and return its exit code, stdout and stderr."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("AUDIENCEHUB_WORKSPACE", raising=False)
    monkeypatch.setenv("AUDIENCEHUB_PASSWORD", CLI_PASSWORD)  # what `users add` is given

    def run(*args: str) -> Result:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        captured = capsys.readouterr()
        return Result(int(exit_info.value.code or 0), captured.out, captured.err)

    return run
