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
    "DEFAULT_MEMORY_LIMIT",
    "bind_memory_limit",
    "bind_scratch",
    "memory_limit_of",
    "scratch_of",
]

# Beyond this DuckDB spills joins and sorts to the scratch folder, which keeps the
# whole job (DuckDB, Arrow extracts, the Python heap) well under 2 GB.
DEFAULT_MEMORY_LIMIT = "1GB"

# The memory limit and the scratch folder of each engine a workspace opened (its
# settings'); an engine with none bound gets the defaults.
_LIMITS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_SCRATCH: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()


def bind_memory_limit(engine: Engine, limit: str) -> None:
    """Remember that batch sessions of ``engine``'s jobs may use ``limit`` (``2GB``)."""
    _LIMITS[engine] = limit


def memory_limit_of(engine: Engine) -> str:
    """The memory limit bound to ``engine``, else the default."""
    return _LIMITS.get(engine, DEFAULT_MEMORY_LIMIT)


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
