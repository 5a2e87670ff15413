"""Segments: a rule over traits and a merge rule, materialised with SQL set operations.

A rule compiles to INTERSECT / UNION / EXCEPT over the users holding each trait,
so a segment of millions of IDs is computed inside the database. What a user
"holds" depends on the merge rule: its own traits (device profile only), plus
those of the customer ID it most recently authenticated as (last authenticated
profile), or plus those of every linked ID (all cross-device). Opted-out users
are never members.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Select,
    and_,
    delete,
    except_,
    func,
    insert,
    intersect,
    select,
    true,
    union,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement, Subquery
from typing_extensions import TypedDict

from audiencehub.errors import InUse, InvalidInput, NotFound
from audiencehub.identity.declared import AuthState
from audiencehub.people.data_sources import DEVICE_NAMESPACE
from audiencehub.people.schema import (
    destinations,
    id_links,
    opt_outs,
    segments,
    traits,
    user_traits,
    users,
)
from audiencehub.people.segment_rules import And, Not, Or, Rule, Trait, parse_rule, trait_ids

__all__ = [
    "MergeRule",
    "Segment",
    "add_segment",
    "delete_segment",
    "get_segment",
    "list_segments",
    "members_query",
    "preview_rule",
    "segment_size",
    "update_segment",
]


class MergeRule(enum.StrEnum):
    """Which linked IDs contribute traits to a user when a segment is evaluated."""

    DEVICE = "device"
    LAST_AUTHENTICATED = "last-authenticated"
    ALL_CROSS_DEVICE = "all-cross-device"


def _merged_traits(merge_rule: MergeRule) -> Subquery:
    own = select(user_traits.c.user_id, user_traits.c.trait_id)
    if merge_rule is MergeRule.DEVICE:
        return own.subquery("held")
    link = id_links.alias("link")
    held = user_traits.alias("linked")
    condition: ColumnElement[bool] = true()
    if merge_rule is MergeRule.LAST_AUTHENTICATED:
        other = id_links.alias("other")
        latest = (
            select(func.max(other.c.last_seen))
            .where(
                other.c.device_user_id == link.c.device_user_id,
                other.c.auth_state == int(AuthState.AUTHENTICATED),
            )
            .scalar_subquery()
        )
        condition = and_(
            link.c.auth_state == int(AuthState.AUTHENTICATED), link.c.last_seen == latest
        )
    to_device = (
        select(link.c.device_user_id, held.c.trait_id)
        .select_from(link.join(held, held.c.user_id == link.c.customer_user_id))
        .where(condition)
    )
    to_customer = (
        select(link.c.customer_user_id, held.c.trait_id)
        .select_from(link.join(held, held.c.user_id == link.c.device_user_id))
        .where(condition)
    )
    return union(own, to_device, to_customer).subquery("held")


def _ids(query: Any) -> Select[Any]:
    inner = query.subquery()
    return select(inner.c[0].label("user_id"))


def _compile(rule: Rule, held: Subquery, universe: Select[Any]) -> Select[Any]:
    if isinstance(rule, Trait):
        return select(held.c.user_id.label("user_id")).where(held.c.trait_id == rule.trait_id)
    if isinstance(rule, Not):
        return _ids(except_(universe, _compile(rule.operand, held, universe)))
    left, right = _compile(rule.left, held, universe), _compile(rule.right, held, universe)
    combine = intersect if isinstance(rule, And) else union
    assert isinstance(rule, And | Or)  # noqa: S101 -- the Rule union has no other member
    return _ids(combine(left, right))


def members_query(
    rule: Rule,
    merge_rule: MergeRule,
    *,
    namespace: int | None = None,
    opted_out_of: Sequence[int] = (DEVICE_NAMESPACE,),
) -> Select[Any]:
    """``(user_id, external_id)`` of every member, optionally only IDs of one namespace.

    ``namespace`` 0 keeps visitor IDs, a DPID keeps that source's customer IDs;
    users opted out of any of ``opted_out_of`` (0: of everything) are left out.
    """
    universe = select(users.c.id.label("user_id"))
    if namespace is not None:
        universe = universe.where(users.c.data_source_id == namespace)
    blocked = select(opt_outs.c.user_id).where(opt_outs.c.data_source_id.in_(list(opted_out_of)))
    universe = universe.where(users.c.id.not_in(blocked))
    chosen = _ids(intersect(_compile(rule, _merged_traits(merge_rule), universe), universe))
    member = chosen.subquery("member")
    return select(users.c.id, users.c.external_id).join(member, member.c.user_id == users.c.id)


class Segment(TypedDict):
    """A segment: its rule over traits, merge rule, and current size."""

    id: int
    name: str
    rule: str
    merge_rule: str
    data_source_id: int | None
    created_at: datetime
    updated_at: datetime
    size: int


def add_segment(
    connection: Connection,
    *,
    segment_id: int,
    name: str,
    rule: str,
    merge_rule: MergeRule = MergeRule.DEVICE,
    data_source_id: int | None = None,
) -> Segment:
    """Create a segment after checking its rule parses and names only known traits."""
    _check_rule(connection, rule)
    _check_name(connection, name, segment_id)
    now = datetime.now(UTC)
    try:
        with connection.begin_nested():
            connection.execute(
                insert(segments),
                {
                    "id": segment_id,
                    "name": name,
                    "rule": rule,
                    "merge_rule": MergeRule(merge_rule).value,
                    "data_source_id": data_source_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )
    except IntegrityError:
        raise InvalidInput(f"segment {segment_id} (or one named {name!r}) already exists") from None
    return get_segment(connection, segment_id)


def _check_rule(connection: Connection, rule: str) -> None:
    """Refuse a rule that does not parse or names a trait that does not exist."""
    wanted = trait_ids(parse_rule(rule))
    known = set(connection.execute(select(traits.c.id).where(traits.c.id.in_(wanted))).scalars())
    if wanted - known:
        missing = ", ".join(f"T{t}" for t in sorted(wanted - known))
        raise InvalidInput(
            f"the rule names traits that do not exist: {missing}",
            hint="Create them with `audiencehub people traits add` first.",
        )


def _check_name(connection: Connection, name: str, segment_id: int) -> None:
    """Refuse a name another segment has (campaign finds shared audiences by name)."""
    same_name = select(segments.c.id).where(segments.c.name == name, segments.c.id != segment_id)
    taken = connection.execute(same_name).scalar()
    if taken is not None:
        raise InvalidInput(
            f"segment {taken} is already named {name!r}; segment names are unique",
            hint="Choose another name: campaign finds shared audiences by name.",
        )


def update_segment(
    connection: Connection,
    segment_id: int,
    *,
    name: str | None = None,
    rule: str | None = None,
    merge_rule: MergeRule | None = None,
) -> Segment:
    """Rename a segment or change its rule; the next publication sends the difference."""
    get_segment(connection, segment_id)
    values: dict[str, object] = {"updated_at": datetime.now(UTC)}
    if name is not None:
        if not name.strip():
            raise InvalidInput("a segment's name cannot be empty")
        _check_name(connection, name, segment_id)
        values["name"] = name
    if rule is not None:
        _check_rule(connection, rule)
        values["rule"] = rule
    if merge_rule is not None:
        values["merge_rule"] = MergeRule(merge_rule).value
    connection.execute(update(segments).where(segments.c.id == segment_id).values(**values))
    return get_segment(connection, segment_id)


def delete_segment(connection: Connection, segment_id: int) -> None:
    """Delete a segment no destination publishes."""
    get_segment(connection, segment_id)
    publishing = [
        destination_id
        for destination_id, carried in connection.execute(
            select(destinations.c.id, destinations.c.segments)
        )
        if segment_id in carried
    ]
    if publishing:
        raise InUse(
            f"segment {segment_id} is published by destination(s) "
            f"{', '.join(map(str, publishing))}",
            hint="Remove it from those destinations first (the next publication then "
            "removes its members there).",
        )
    connection.execute(delete(segments).where(segments.c.id == segment_id))


def preview_rule(connection: Connection, rule: str, merge_rule: MergeRule) -> int:
    """How many IDs a rule would hold now, after checking it (for an editor)."""
    _check_rule(connection, rule)
    return segment_size(connection, {"rule": rule, "merge_rule": MergeRule(merge_rule).value})


def get_segment(connection: Connection, segment_id: int) -> Segment:
    """One segment, with its current size."""
    row = connection.execute(select(segments).where(segments.c.id == segment_id)).mappings().first()
    if row is None:
        raise NotFound(
            f"the people service has no segment {segment_id}",
            hint="List segments with `audiencehub people segments list`.",
        )
    return cast(Segment, {**row, "size": segment_size(connection, row)})


def segment_size(connection: Connection, segment: Mapping[Any, Any]) -> int:
    """How many IDs (visitor and customer) are in the segment now."""
    members = members_query(parse_rule(segment["rule"]), MergeRule(segment["merge_rule"]))
    return int(
        connection.execute(select(func.count()).select_from(members.subquery())).scalar_one()
    )


def list_segments(connection: Connection) -> list[Segment]:
    """Every segment with its size."""
    rows = connection.execute(select(segments).order_by(segments.c.id)).mappings()
    return [cast(Segment, {**row, "size": segment_size(connection, row)}) for row in rows]
