"""A consistent copy of an embedded workspace, taken while its servers run.

An embedded workspace keeps its state in files of its folder: the two SQLite
databases, the people lake (a SQLite catalog and Parquet files), the spools of
online writes, the settings and the master key. Copying them with ``cp`` while a
server or a job writes gives databases caught mid-transaction and a catalog that
names files the copy lacks. So a backup:

- holds the lake's writer lock throughout (ingest, materialisation, publication,
  retention and compaction wait; online writes to the databases do not);
- copies each database with SQLite's online backup, a snapshot of one moment
  however busy the file (its write-ahead log included);
- takes the lake's data files while no writer can add or delete one, as hard
  links where the copy is on the same file system (instant, whatever the lake's
  size) and as copies elsewhere; a lake file is never changed once written, so a
  link is a copy;
- then checks what it made: each database's integrity, and every lake table read
  whole through the copied catalog, which fails on a missing file.

The copy is itself a workspace: ``--workspace COPY`` serves it, and restoring is
putting the folder back. A workspace whose databases are on PostgreSQL, or whose
lake or databases live outside its folder, is refused: its own tools
(``pg_dump``, the object store's versioning) back those up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from audiencehub import __version__
from audiencehub.config import CONFIG_FILE
from audiencehub.db import System
from audiencehub.engines.lake import Lake, writer_lock
from audiencehub.errors import ConfigurationError, InvalidInput, StorageError
from audiencehub.files import private_dir, touch_private, write_private
from audiencehub.people.lake import TABLES, reading
from audiencehub.workspace import PEOPLE_LAKE, Workspace, open_workspace

__all__ = ["Backup", "back_up"]

MANIFEST = "backup.json"
# files kept beside the databases that a copy needs as they are (the key: sealed secrets)
_FILES = (CONFIG_FILE, "master.key")


@dataclass
class Backup:
    """What a backup copied, and where."""

    folder: str
    taken_at: str
    version: str
    databases: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    lake_files: int = 0
    lake_bytes: int = 0
    linked: int = 0  # lake files taken as hard links (same file system)
    lake_data: str = ""  # where the lake's data is when it is not in the folder (S3)
    seconds: float = 0.0
    checked: dict[str, int] = field(default_factory=dict)  # rows read back per lake table


def back_up(workspace: Workspace, destination: Path) -> Backup:
    """Copy ``workspace`` into ``destination`` (a new or empty folder) and check the copy."""
    started = time.perf_counter()
    folder = workspace.path.resolve()
    databases = _databases(workspace, folder)
    lake = workspace.people_lake
    local_lake = _local_lake(lake.data_path, folder)
    target = destination.resolve()
    if target == folder or folder in target.parents:
        raise InvalidInput(
            f"{destination} is inside the workspace it would copy",
            hint="Back up into a folder outside the workspace.",
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput(
            f"{destination} exists and is not an empty folder",
            hint="Name a new folder: a backup never mixes with files already there.",
        )
    created = not target.exists()
    private_dir(target)
    backup = Backup(str(target), "", __version__)
    try:
        _copy_into(workspace, lake, folder, target, databases, local_lake, backup)
    except BaseException:  # a backup cut short leaves nothing that could pass for one
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for made in target.iterdir():
                if made.is_dir():
                    shutil.rmtree(made)
                else:
                    made.unlink()
        raise
    backup.seconds = round(time.perf_counter() - started, 3)
    write_private(target / MANIFEST, (json.dumps(asdict(backup), indent=2) + "\n").encode())
    return backup


def _copy_into(
    workspace: Workspace,
    lake: Lake,
    folder: Path,
    target: Path,
    databases: list[Path],
    local_lake: Path | None,
    backup: Backup,
) -> None:
    with writer_lock(lake, workspace.people):
        backup.taken_at = datetime.now(UTC).isoformat()  # the moment the copy holds
        for source in databases:
            _copy_database(source, target / source.relative_to(folder))
            backup.databases.append(str(source.relative_to(folder)))
        if local_lake is None:
            backup.lake_data = lake.data_path
        else:
            _copy_lake(local_lake, target / local_lake.relative_to(folder), backup)
    for name in _FILES:
        if (folder / name).is_file():
            write_private(target / name, (folder / name).read_bytes())
            backup.files.append(name)
    backup.checked = _check(target, databases=[target / d for d in backup.databases])


def _databases(workspace: Workspace, folder: Path) -> list[Path]:
    """The SQLite files of the workspace: both databases, the lake's catalog and the
    spools; refused when one is not a SQLite file in the folder, or when the settings
    file names a database (a copy of it would still name the original)."""
    named = tomllib.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")).get("audiencehub", {})
    for setting in ("campaign_db_url", "people_db_url", "people_lake_path"):
        value = str(named.get(setting, ""))
        if value and not value.startswith("s3://"):
            raise ConfigurationError(
                f"this workspace's settings name its {setting}: a copy would still use it",
                hint="Back it up with that database's own tools (pg_dump for PostgreSQL, "
                "SQLite's .backup), and the folder with this command only when its settings "
                "name none.",
            )
    files = []
    for system in System:
        url = make_url(workspace.url(system))
        default = folder / f"{system.value}.db"
        if url.get_backend_name() != "sqlite" or Path(url.database or "").resolve() != default:
            raise ConfigurationError(
                f"the {system.value} database is not the workspace's own SQLite file "
                f"({url.render_as_string(hide_password=True)})",
                hint="Back up a PostgreSQL database with pg_dump, a SQLite file elsewhere "
                "with SQLite's .backup.",
            )
        files.append(default)
    catalog = workspace.people_lake.sqlite_file
    if catalog is not None and catalog.exists():
        files.append(catalog.resolve())
    spools = folder / "spool"
    files += sorted(p.resolve() for p in spools.glob("*.db")) if spools.is_dir() else []
    outside = [str(f) for f in files if folder not in f.parents]
    if outside:
        raise ConfigurationError(
            f"{', '.join(outside)} is outside the workspace folder {folder}",
            hint="Back it up with SQLite's .backup, or keep the workspace's own layout.",
        )
    return files


def _local_lake(data_path: str, folder: Path) -> Path | None:
    """The lake's data folder in the workspace, or None when the data is on S3."""
    if data_path.startswith("s3://"):
        return None
    path = Path(data_path).resolve()
    if path != folder / PEOPLE_LAKE:
        raise ConfigurationError(
            f"the people lake's data is at {path}, outside the workspace folder",
            hint="Back it up with the file system's own tools, or keep the default path.",
        )
    return path


def _copy_database(source: Path, copy: Path) -> None:
    """SQLite's online backup of ``source``: one consistent moment, while others write."""
    private_dir(copy.parent)
    touch_private(copy)
    with (
        contextlib.closing(sqlite3.connect(source)) as reader,
        contextlib.closing(sqlite3.connect(copy)) as writer,
    ):
        reader.backup(writer)


def _copy_lake(data: Path, copy: Path, backup: Backup) -> None:
    """Every file of the lake's data folder: a hard link on the same file system, else a copy."""
    if not data.is_dir():
        return
    for source in sorted(p for p in data.rglob("*") if p.is_file()):
        made = copy / source.relative_to(data)
        private_dir(made.parent)
        try:
            os.link(source, made)
            backup.linked += 1
        except OSError:  # another file system (or one without links)
            shutil.copy2(source, made)
        backup.lake_files += 1
        backup.lake_bytes += source.stat().st_size


def _check(target: Path, *, databases: list[Path]) -> dict[str, int]:
    """Each copied database passes SQLite's integrity check, and the copy opens as a
    workspace whose lake tables read whole (a missing file fails the read)."""
    for database in databases:
        with contextlib.closing(sqlite3.connect(database)) as connection:
            [(verdict,)] = connection.execute("PRAGMA quick_check").fetchall()
        if verdict != "ok":
            raise StorageError(f"the copy of {database.name} is damaged: {verdict}")
    copy = open_workspace(target)
    try:
        with reading(copy.people) as session:
            return {
                table: int(session.execute(f"SELECT count(*) FROM lake.{table}").fetchall()[0][0])
                for table in TABLES
            }
    finally:
        copy.dispose()
