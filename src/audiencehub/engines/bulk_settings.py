"""What a workspace lets its bulk jobs use: a memory limit for their DuckDB sessions and a
folder for their scratch folders (staged and inflated copies of batches, spills).

The settings belong to the workspace, but the jobs are handed only a database engine:
each engine the workspace opens is bound to them here, so a job finds them from the
engine it was given, and one process may serve several workspaces.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from sqlalchemy import Engine

__all__ = [
    "DEFAULT_COMPILED_MEMORY_LIMIT",
    "DEFAULT_MEMORY_LIMIT",
    "bind_memory_limit",
    "bind_scratch",
    "memory_limit_of",
    "pass_memory_limit_of",
    "scratch_of",
    "size_in_bytes",
]

# Beyond this DuckDB spills joins and sorts to the scratch folder, which keeps the
# whole job (DuckDB, Arrow extracts, the Python heap) well under 2 GB.
DEFAULT_MEMORY_LIMIT = "1GB"
# What the inbound pass's tables may take (24 bytes per user of the namespace, 16 per
# (user, trait) word of the batch, a third more for room): a batch that needs more is
# read by the SQL plan, which spills.
DEFAULT_COMPILED_MEMORY_LIMIT = "2GB"

_UNITS = {"K": 1, "M": 2, "G": 3, "T": 4}

# The memory limit and the scratch folder of each engine a workspace opened (its
# settings'); an engine with none bound gets the defaults.
_LIMITS: weakref.WeakKeyDictionary[Engine, tuple[str, str]] = weakref.WeakKeyDictionary()
_SCRATCH: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()


def bind_memory_limit(
    engine: Engine, limit: str, pass_limit: str = DEFAULT_COMPILED_MEMORY_LIMIT
) -> None:
    """Remember that batch sessions of ``engine``'s jobs may use ``limit`` (``2GB``), and
    the inbound pass's tables ``pass_limit``."""
    _LIMITS[engine] = (limit, pass_limit)


def memory_limit_of(engine: Engine) -> str:
    """The memory limit bound to ``engine``, else the default."""
    return _LIMITS.get(engine, (DEFAULT_MEMORY_LIMIT, ""))[0]


def pass_memory_limit_of(engine: Engine) -> int:
    """The bytes the inbound pass's tables may take in a job of ``engine``."""
    return size_in_bytes(_LIMITS.get(engine, ("", DEFAULT_COMPILED_MEMORY_LIMIT))[1])


def size_in_bytes(text: str) -> int:
    """``2GB``, ``512 MiB``: a size as the settings write it (KB and KiB both 1,024)."""
    number, unit = text.strip().upper().rstrip("B").rstrip("I").rstrip(), ""
    while number and number[-1] in _UNITS:
        number, unit = number[:-1].rstrip(), number[-1]
    return int(float(number) * 1024 ** _UNITS.get(unit, 0))


def bind_scratch(engine: Engine, folder: Path | None) -> None:
    """Remember that ``engine``'s bulk jobs make their scratch folders in ``folder``;
    None: the system's temporary folder."""
    if folder is None:
        _SCRATCH.pop(engine, None)
    else:
        _SCRATCH[engine] = folder


def scratch_of(engine: Engine, given: Path | None = None) -> Path | None:
    """Where a job of ``engine`` makes its scratch folders: ``given`` when its caller names
    one, else the folder bound to ``engine`` (None: the system's temporary folder)."""
    return given if given is not None else _SCRATCH.get(engine)
