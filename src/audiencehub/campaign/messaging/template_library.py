"""The stored message templates: read, list and delete (``triggers.add_template`` stores them).

A template is looked up by name when a trigger fires; deleting one makes later
triggers naming it fail with a clear error, while the messages already sent
keep their own record.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, delete, select
from typing_extensions import TypedDict

from audiencehub.campaign.schema import message_templates
from audiencehub.errors import NotFound

__all__ = ["StoredTemplate", "delete_template", "get_template", "list_templates"]


class StoredTemplate(TypedDict):
    """A named template as stored."""

    name: str
    channel: str
    subject: str
    text: str
    html: str


def get_template(connection: Connection, name: str) -> StoredTemplate:
    """One template by name."""
    row = (
        connection.execute(select(message_templates).where(message_templates.c.name == name))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"no template is named {name!r}", hint="List them with: audiencehub templates list"
        )
    return cast(StoredTemplate, dict(row))


def list_templates(connection: Connection) -> list[StoredTemplate]:
    """Every template, by name."""
    rows = connection.execute(select(message_templates).order_by(message_templates.c.name))
    return [cast(StoredTemplate, dict(row)) for row in rows.mappings()]


def delete_template(connection: Connection, name: str) -> None:
    """Delete a template; what was sent with it stays in the message log."""
    get_template(connection, name)
    connection.execute(delete(message_templates).where(message_templates.c.name == name))
