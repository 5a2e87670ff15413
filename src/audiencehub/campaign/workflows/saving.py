"""The Save audience activity: its modes, and which audiences it may write.

Modes replace or complete an existing audience, create or update one, create a
unique one (a timestamp in its name), or share the result into a people-service
segment through a data source (optionally passing on the records with no ID).
"""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import delete, func, insert, select, update

from audiencehub.campaign.audiences import add_profile_members
from audiencehub.campaign.schema import audience_members, audiences
from audiencehub.campaign.sharing.export_job import share_audience
from audiencehub.campaign.sharing.shared_ids import profiles_without_id
from audiencehub.campaign.workflows.context import WorkflowContext
from audiencehub.campaign.workflows.document import Activity
from audiencehub.db.value_lists import value_list
from audiencehub.errors import InvalidInput

__all__ = ["save_audience"]


# audiences the importSharedAudience job fills; a workflow saving into one would be
# overwritten at the next import, and would overwrite it meanwhile
_IMPORTED = frozenset({"shared", "file"})


def _writable(context: WorkflowContext, name: str) -> int | None:
    """The id of the audience ``name`` if a workflow may save into it (None: no such audience)."""
    found = context.connection.execute(
        select(audiences.c.id, audiences.c.type).where(audiences.c.name == name)
    ).first()
    if found is None:
        return None
    if found.type in _IMPORTED:
        raise InvalidInput(
            f"{name!r} is a shared audience filled by the importSharedAudience job; "
            "a workflow cannot save into it",
            hint="Save the result into an audience of its own (mode create_or_update).",
        )
    return int(found.id)


def _ensure_audience(context: WorkflowContext, name: str, kind: str = "list") -> int:
    found = _writable(context, name)
    if found is not None:
        return found
    context.connection.execute(
        insert(audiences),
        {
            "name": name,
            "type": kind,
            "force_profile": True,
            "created_at": context.now,
            "updated_at": context.now,
        },
    )
    return context.audience(name)


def save_audience(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    """Save modes: replace or complete an existing audience, create or update, unique, share."""
    mode = activity.settings["mode"]
    source = activity.inputs[0]
    if mode == "share":
        name = f"{activity.settings['shared_audience']} (shared from campaign)"
        target = _ensure_audience(context, name, kind="share")
    elif mode in ("replace", "complete"):
        name = str(activity.settings["audience"])
        existing = _writable(context, name)
        if existing is None:
            raise InvalidInput(
                f"activity {activity.id!r}: mode {mode} updates an existing audience, and "
                f"{name!r} does not exist",
                hint="Use mode create_or_update to create it.",
            )
        target = existing
    elif mode == "create_unique":
        name = f"{activity.settings['audience']} {context.now:%Y%m%d-%H%M%S}"
        target = _ensure_audience(context, name)
    else:
        name = str(activity.settings["audience"])
        target = _ensure_audience(context, name)
    current = audience_members.c.audience_id == target
    if mode in ("replace", "create_or_update", "share"):
        context.connection.execute(delete(audience_members).where(current))
    members = context.members(source).subquery()
    already = select(audience_members.c.profile_id).where(current)
    add_profile_members(
        context.connection,
        target,
        select(members.c.profile_id).where(members.c.profile_id.not_in(already)),
    )
    context.connection.execute(
        update(audiences).where(audiences.c.id == target).values(updated_at=context.now)
    )
    complement: dict[str, int] = {}
    if mode == "share":
        share_audience(
            context.connection,
            source_audience=name,
            shared_audience=str(activity.settings["shared_audience"]),
            data_source_id=str(activity.settings["datasource"]),
            client=context.client,
        )
        if activity.settings.get("complement"):
            left_out = profiles_without_id(
                context.connection, str(activity.settings["datasource"]), context.members(source)
            )
            output = f"{activity.id}.complement"
            ids = value_list(context.connection, pa.array(left_out, pa.int64()))
            complement[output] = context.store(output, ids)
    size = int(
        context.connection.execute(
            select(func.count()).select_from(audience_members).where(current)
        ).scalar_one()
    )
    return {name: size, **complement}
