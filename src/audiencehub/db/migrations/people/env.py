"""Alembic environment; the shared logic lives in env_common."""

from audiencehub.db.migrations.env_common import run

run()
