"""Database plumbing shared by both systems: engines, bulk helpers, column types, job-run
history and the Alembic runner. It imports no system: each names its migrations."""

from audiencehub.db.engine import create_db_engine
from audiencehub.db.migrate import System, current_revision, require_current, upgrade

__all__ = ["System", "create_db_engine", "current_revision", "require_current", "upgrade"]
