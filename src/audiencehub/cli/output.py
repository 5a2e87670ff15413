"""Consoles and the printing helpers of every command module: JSON, tables, reports, progress.

Command modules import their printing from here and never from each other.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from audiencehub.campaign.profiles.file_import import ImportReport

__all__ = [
    "byte_progress",
    "console",
    "err_console",
    "print_json",
    "print_or_json",
    "print_records",
    "print_report",
    "print_table",
    "print_value",
]

# Piped output is for other programs: tables keep every column instead of being cut
# to the 80 columns rich assumes without a terminal.
_PIPED_WIDTH = 1_000
console = Console(
    highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPED_WIDTH
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_value(value: object) -> None:
    """Print a single value alone on one line, for scripts to capture."""
    console.out(str(value), highlight=False)


def print_json(data: Any) -> None:
    """Print machine-readable output: plain JSON, no colour, one document."""
    console.out(json.dumps(data, default=str, indent=2, sort_keys=True), highlight=False)


def print_table(rows: Sequence[Mapping[str, object]], columns: list[str], title: str) -> None:
    """Rows as a table of the named columns (an empty cell for a missing value)."""
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def print_records(rows: Sequence[Mapping[str, object]], title: str) -> None:
    """Rows as a table of their plain-valued columns (nested values: see --json)."""
    columns = [
        key
        for key in (rows[0] if rows else {})
        if all(not isinstance(r.get(key), (dict, list)) for r in rows)
    ]
    print_table(rows, columns, title)


def print_or_json(data: Any, title: str, *, as_json: bool) -> None:
    """What list and show commands print: JSON when asked, else a table of ``data`` (a
    record or a list of records); every such command offers both."""
    if as_json:
        print_json(data)
        return
    rows = data if isinstance(data, list) else [data]
    print_records(rows, title)


def print_facts(title: str, facts: Sequence[tuple[str, str]]) -> None:
    """One thing's facts, a label and a value a line."""
    table = Table(title=title, show_header=False)
    for label, value in facts:
        table.add_row(label, value)
    console.print(table)


def print_report(report: ImportReport) -> None:
    """The import summary: read = inserted + updated + unchanged + rejected."""
    table = Table(title=f"Import of {report.path.name}", show_header=False)
    for label, value in (
        ("read", report.read),
        ("inserted", report.inserted),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("rejected", report.rejected),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("time", f"{report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)")
    if report.kept_opt_outs:
        table.add_row(
            "opt-outs kept", f"{report.kept_opt_outs:,} (made by the people; --resubscribe)"
        )
    console.print(table)
    if report.rejects_path is not None:
        console.print(
            f"Rejected rows, with line numbers and reasons: {report.rejects_path}\n"
            "Fix them there and import that file again."
        )


def byte_progress() -> Progress:
    """A progress bar over the bytes of a file being read."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
