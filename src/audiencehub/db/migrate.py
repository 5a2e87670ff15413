"""Alembic migrations, one history per system, run programmatically.

Each system keeps its history beside its schema (``audiencehub.<system>.migrations``)
and its own version table, so that both can share one PostgreSQL database when an
operator points both URLs at it. The history is named as a package resource, so
this module imports no system.
"""

from __future__ import annotations

import enum

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from audiencehub.errors import StorageError

__all__ = ["System", "current_revision", "head_revision", "require_current", "upgrade"]


class System(enum.StrEnum):
    """The two systems, each owning its database."""

    CAMPAIGN = "campaign"
    PEOPLE = "people"

    @property
    def version_table(self) -> str:
        """The Alembic version table of this system."""
        return f"alembic_version_{self.value}"

    @property
    def script_location(self) -> str:
        """Where the system's Alembic history lives, as a package resource."""
        return f"audiencehub.{self.value}:migrations"


def _config(system: System) -> Config:
    config = Config()
    config.set_main_option("script_location", system.script_location)
    config.attributes["version_table"] = system.version_table
    return config


def head_revision(system: System) -> str | None:
    """The newest migration of ``system`` shipped with this version of audiencehub."""
    return ScriptDirectory.from_config(_config(system)).get_current_head()


def current_revision(engine: Engine, system: System) -> str | None:
    """The migration the database of ``system`` is at, or None when it has none."""
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": system.version_table}
            )
            return context.get_current_revision()
    except OperationalError as exc:
        raise StorageError(f"cannot reach the {system} database: {exc.orig}") from exc


def upgrade(engine: Engine, system: System) -> None:
    """Bring the database of ``system`` to the newest migration."""
    config = _config(system)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise StorageError(f"cannot migrate the {system} database: {exc.orig}") from exc


def require_current(engine: Engine, system: System) -> None:
    """Refuse to work on a database that is behind this version of the code."""
    current, head = current_revision(engine, system), head_revision(system)
    if current != head:
        raise StorageError(
            f"the {system} database is at migration {current or 'none'}, "
            f"this version of audiencehub needs {head}"
        )
