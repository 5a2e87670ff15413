"""Alembic environment; the shared logic lives in audiencehub.db.alembic_env."""

from audiencehub.db.alembic_env import run

run()
