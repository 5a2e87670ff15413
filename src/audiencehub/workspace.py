"""A workspace: the settings file and the two databases it points at."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from audiencehub.config import (
    CONFIG_FILE,
    Settings,
    find_workspace,
    load_settings,
    normalize_db_url,
)
from audiencehub.db import System, create_db_engine, current_revision, require_current, upgrade
from audiencehub.engines.bulk_settings import bind_memory_limit, bind_scratch
from audiencehub.engines.lake import Lake, bind_lake, lake_beside
from audiencehub.engines.spark import SparkSettings, bind_spark
from audiencehub.files import private_dir, write_private

__all__ = ["ONLINE_LOCK_TIMEOUT_MS", "PEOPLE_LAKE", "Workspace", "init_workspace", "open_workspace"]

#: the name of the people service's lake: its catalog schema, file and folder
PEOPLE_LAKE = "people_lake"

# An online write waits this long for the database before it is spooled instead.
ONLINE_LOCK_TIMEOUT_MS = 20


@dataclass
class Workspace:
    """Settings plus lazily created engines; engines check the schema version on first use."""

    settings: Settings
    _engines: dict[System, Engine] = field(default_factory=dict, repr=False)
    _online: dict[System, Engine] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> Path:
        """The workspace folder."""
        return self.settings.workspace

    def url(self, system: System) -> str:
        """The database URL of ``system``."""
        return (
            self.settings.campaign_db_url
            if system is System.CAMPAIGN
            else self.settings.people_db_url
        )

    def engine(self, system: System, *, check: bool = True) -> Engine:
        """The engine of ``system``'s database; refuses one that needs migrating."""
        if system not in self._engines:
            engine = create_db_engine(self.url(system))
            if check:
                require_current(engine, system)
            if system is System.PEOPLE:
                bind_lake(engine, self.people_lake)
            bind_memory_limit(
                engine, self.settings.bulk_memory_limit, self.settings.inbound_pass_memory_limit
            )
            bind_scratch(engine, self.settings.scratch_path)
            if self.settings.bulk_engine == "spark":
                bind_spark(engine, self.spark)
            self._engines[system] = engine
        return self._engines[system]

    def online_engine(self, system: System) -> Engine:
        """An engine for ``system``'s online writes: it waits only a few milliseconds for a
        lock, after which the write goes to the spool (see :mod:`audiencehub.spool`)."""
        if system not in self._online:
            self.engine(system)  # checks the schema version once
            self._online[system] = create_db_engine(
                self.url(system), lock_timeout_ms=ONLINE_LOCK_TIMEOUT_MS
            )
        return self._online[system]

    @property
    def spark(self) -> SparkSettings:
        """Where this workspace's batch jobs run on Spark, when its settings choose it.

        An S3-compatible endpoint the workspace names (``s3_endpoint_url``) is given
        to Spark's S3A connector too, with path-style addressing as such stores
        need; ``spark_conf`` overrides both.
        """
        endpoint = self.settings.s3_endpoint_url
        s3a = (
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
            }
            if endpoint
            else {}
        )
        return SparkSettings(self.settings.spark_master, {**s3a, **self.settings.spark_conf})

    @property
    def people_lake(self) -> Lake:
        """Where the people service keeps its bulk state, with the settings' limits."""
        settings = self.settings
        return lake_beside(
            self.url(System.PEOPLE),
            name=PEOPLE_LAKE,
            data_path=settings.people_lake_path or str(self.path / PEOPLE_LAKE),
        ).with_settings(
            memory_limit=settings.bulk_memory_limit, s3_endpoint_url=settings.s3_endpoint_url
        )

    def spool_path(self, system: System) -> Path:
        """Where ``system``'s online writes wait while a bulk job holds the database."""
        return self.path / "spool" / f"{system.value}.db"

    @property
    def campaign(self) -> Engine:
        """The campaign database."""
        return self.engine(System.CAMPAIGN)

    @property
    def people(self) -> Engine:
        """The people service database."""
        return self.engine(System.PEOPLE)

    def upgrade(self) -> dict[System, str | None]:
        """Apply pending migrations to both databases; returns where each now stands."""
        result: dict[System, str | None] = {}
        for system in System:
            engine = self.engine(system, check=False)
            upgrade(engine, system)
            result[system] = current_revision(engine, system)
        return result

    def dispose(self) -> None:
        """Close every pooled connection (tests and short-lived commands)."""
        for engine in [*self._engines.values(), *self._online.values()]:
            engine.dispose()
        self._engines.clear()
        self._online.clear()


def open_workspace(path: Path | None = None) -> Workspace:
    """Open an existing workspace (``--workspace``, ``AUDIENCEHUB_WORKSPACE`` or the cwd)."""
    return Workspace(load_settings(path))


def init_workspace(
    path: Path | None = None,
    *,
    campaign_db_url: str | None = None,
    people_db_url: str | None = None,
    default_region: str | None = None,
    demo: bool = False,
) -> Workspace:
    """Create (or complete) a workspace and bring its databases to the newest schema.

    Running it on an existing workspace keeps its settings and only migrates. A
    ``demo`` workspace may hold example secrets, which any other refuses. A new
    workspace that cannot be made (an unreachable database, a bad URL) leaves
    nothing behind: what this call created is removed, so running it again with
    the right settings starts clean.
    """
    target = find_workspace(path)
    before = set(target.iterdir()) if target.is_dir() else None
    folder = private_dir(target)
    config = folder / CONFIG_FILE
    if config.exists():
        existing = open_workspace(folder)
        existing.upgrade()
        return existing
    workspace: Workspace | None = None
    try:
        lines = [
            "# audiencehub workspace settings; AUDIENCEHUB_* variables override them.",
            "[audiencehub]",
        ]
        for name, value in (
            ("campaign_db_url", campaign_db_url and normalize_db_url(campaign_db_url)),
            ("people_db_url", people_db_url and normalize_db_url(people_db_url)),
            ("default_region", default_region),
        ):
            if value:
                lines.append(f"{name} = {json.dumps(value)}")
        if demo:
            lines.append("demo = true")
        write_private(config, ("\n".join(lines) + "\n").encode("utf-8"))
        workspace = open_workspace(folder)
        workspace.upgrade()
    except BaseException:
        if workspace is not None:
            workspace.dispose()
        _remove_created(folder, before)
        raise
    return workspace


def _remove_created(folder: Path, before: set[Path] | None) -> None:
    """Remove what a failed ``init`` created: the folder if it was new, else its new files."""
    if before is None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for created in set(folder.iterdir()) - before:
        if created.is_dir():
            shutil.rmtree(created, ignore_errors=True)
        else:
            created.unlink(missing_ok=True)
