"""Shared audiences: segments as partners see them, and segments partners create to fill."""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from typing_extensions import TypedDict

from audiencehub.people.data_sources import get_data_source
from audiencehub.people.schema import data_sources, destinations, segments, traits
from audiencehub.people.segment_rules import Trait, parse_rule
from audiencehub.people.segments import MergeRule, add_segment, segment_size
from audiencehub.people.traits import add_trait

__all__ = [
    "SharedAudience",
    "SharedSegment",
    "create_shared_segment",
    "list_shared_audiences",
]


class SharedAudience(TypedDict):
    """A segment as partners see it: title, source, size, active and date modified.

    ``integration_code`` and ``data_source_id`` say how partner data can fill it:
    the code of its one onboarded trait and the data source that trait belongs to.
    A segment built by a rule over several traits (or a rule trait) cannot take
    partner data: both are None.
    """

    id: int
    title: str
    source: str
    size: int
    active: bool
    modified: str  # ISO 8601
    integration_code: str | None
    data_source_id: int | None


class SharedSegment(TypedDict):
    """A segment made for a partner to fill, with the trait the partner realises."""

    id: int
    title: str
    data_source_id: int
    trait_id: int
    integration_code: str


def list_shared_audiences(connection: Connection) -> list[SharedAudience]:
    """Every segment with title, source, current size, active flag and date modified.

    A segment is active while at least one destination carries it.
    """
    carried: set[int] = set()
    for ids in connection.execute(select(destinations.c.segments)).scalars():
        carried.update(ids)
    names = dict(connection.execute(select(data_sources.c.id, data_sources.c.name)).tuples().all())
    fillable = {  # onboarded traits with a code (a rule trait is stored with a JSON rule)
        row.id: (row.integration_code, row.data_source_id)
        for row in connection.execute(
            select(
                traits.c.id, traits.c.integration_code, traits.c.data_source_id, traits.c.rule
            ).where(traits.c.integration_code.is_not(None))
        )
        if row.rule is None
    }
    result = []
    for row in connection.execute(select(segments).order_by(segments.c.id)).mappings():
        rule = parse_rule(row["rule"])
        code, source = (
            fillable.get(rule.trait_id, (None, None)) if isinstance(rule, Trait) else (None, None)
        )
        result.append(
            SharedAudience(
                id=row["id"],
                title=row["name"],
                source=names.get(row["data_source_id"], "people service"),
                size=segment_size(row),
                active=row["id"] in carried,
                modified=row["updated_at"].isoformat(),
                integration_code=code,
                data_source_id=source,
            )
        )
    return result


def create_shared_segment(
    connection: Connection,
    *,
    name: str,
    data_source_id: int,
    segment_id: int | None = None,
    actor: str | None = None,
) -> SharedSegment:
    """Create a segment a partner fills through inbound files.

    It gets its own onboarded trait in the partner's data source; the partner
    realises it with ``d_sid=<trait id>`` (or ``ic=<integration code>``).
    """
    get_data_source(connection, data_source_id)
    next_segment = (
        segment_id
        or int(connection.execute(select(func.coalesce(func.max(segments.c.id), 0))).scalar_one())
        + 1
    )
    trait_id = (
        int(connection.execute(select(func.coalesce(func.max(traits.c.id), 0))).scalar_one()) + 1
    )
    code = f"segment-{next_segment}"
    add_trait(
        connection,
        trait_id=trait_id,
        name=f"{name} (shared)",
        data_source_id=data_source_id,
        integration_code=code,
        actor=actor,
    )
    segment = add_segment(
        connection,
        segment_id=next_segment,
        name=name,
        rule=f"T{trait_id}",
        merge_rule=MergeRule.DEVICE,
        data_source_id=data_source_id,
        actor=actor,
    )
    return SharedSegment(
        id=segment["id"],
        title=name,
        data_source_id=data_source_id,
        trait_id=trait_id,
        integration_code=code,
    )
