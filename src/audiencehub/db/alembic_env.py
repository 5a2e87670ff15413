"""The Alembic environment both systems share: run on the connection we are handed."""

from __future__ import annotations

from alembic import context


def run() -> None:
    """Run the migrations of the current Alembic context online."""
    config = context.config
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        version_table=config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
