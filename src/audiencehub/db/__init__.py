"""Database plumbing shared by both systems: engines and Alembic migrations."""

from audiencehub.db.engine import create_db_engine
from audiencehub.db.migrate import System, current_revision, require_current, upgrade

__all__ = ["System", "create_db_engine", "current_revision", "require_current", "upgrade"]
