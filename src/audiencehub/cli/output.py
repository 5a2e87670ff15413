"""Consoles and small printing helpers shared by the command modules."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

__all__ = ["console", "err_console", "print_json", "print_value"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_value(value: object) -> None:
    """Print a single value alone on one line, for scripts to capture."""
    console.out(str(value), highlight=False)


def print_json(data: Any) -> None:
    """Print machine-readable output: plain JSON, no colour, one document."""
    console.out(json.dumps(data, default=str, indent=2, sort_keys=True), highlight=False)
