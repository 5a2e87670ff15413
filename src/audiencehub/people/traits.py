"""Traits: onboarded ones (realised by inbound files) and rule ones (key-value conditions)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from typing_extensions import TypedDict

from audiencehub.db.audit_trail import record_change
from audiencehub.errors import InUse, InvalidInput, NotFound
from audiencehub.people.data_sources import get_data_source
from audiencehub.people.lake import delete_rows
from audiencehub.people.schema import audit_log, segments, traits
from audiencehub.people.segment_rules import parse_rule, trait_ids

__all__ = [
    "Trait",
    "add_trait",
    "delete_trait",
    "fold_signals",
    "get_trait",
    "list_traits",
    "parse_trait_rule",
    "rule_holds",
    "update_trait",
]


class Trait(TypedDict):
    """A trait: onboarded (realised by id or integration code) or rule-based (key-values)."""

    id: int
    name: str
    data_source_id: int
    integration_code: str | None
    rule: dict[str, str] | None
    created_at: datetime


def parse_trait_rule(text: str) -> dict[str, str]:
    """Read ``key=value,key=value``: the key-values a rule trait needs, all of them."""
    rule: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise InvalidInput(
                f"{part!r} is not a key=value condition",
                hint="Write key=value[,key=value...], e.g. gender=female,country=FR.",
            )
        rule[key.strip()] = value.strip()
    return rule


def fold_signals(pairs: Iterable[tuple[str, Iterable[str]]]) -> dict[str, set[str]]:
    """A user's key-values as rules compare them: keys and values case-folded, every
    value of a key kept. Adobe's FAQ ("Are the data file contents case-sensitive?")
    says key-value data generally is not, so ``PRODUCT=Phone`` meets ``product=phone``."""
    folded: dict[str, set[str]] = {}
    for key, values in pairs:
        folded.setdefault(key.casefold(), set()).update(v.casefold() for v in values)
    return folded


def rule_holds(rule: Mapping[str, str], signals: Mapping[str, set[str]]) -> bool:
    """True when every condition of the rule is among the user's (folded) key-values."""
    return all(value.casefold() in signals.get(key.casefold(), ()) for key, value in rule.items())


def add_trait(
    connection: Connection,
    *,
    trait_id: int,
    name: str,
    data_source_id: int,
    integration_code: str | None = None,
    rule: Mapping[str, str] | None = None,
    actor: str | None = None,
) -> Trait:
    """Create a trait; with ``rule`` it is realised by matching key-values instead of by name
    (``actor``: who, for the audit trail; None: the operating-system user)."""
    get_data_source(connection, data_source_id)
    row = Trait(
        id=trait_id,
        name=name,
        data_source_id=data_source_id,
        integration_code=integration_code,
        rule=dict(rule) if rule else None,
        created_at=datetime.now(UTC),
    )
    try:
        with connection.begin_nested():
            connection.execute(insert(traits), row)
    except IntegrityError:
        raise InvalidInput(
            f"trait {trait_id} (or integration code {integration_code!r} in data source "
            f"{data_source_id}) already exists"
        ) from None
    record_change(connection, audit_log, "trait created", actor=actor, after=row, trait_id=trait_id)
    return row


def list_traits(connection: Connection) -> list[Trait]:
    """Every trait, by id."""
    rows = connection.execute(select(traits).order_by(traits.c.id)).mappings()
    return [cast(Trait, dict(r)) for r in rows]


def get_trait(connection: Connection, trait_id: int) -> Trait:
    """One trait by id."""
    row = connection.execute(select(traits).where(traits.c.id == trait_id)).mappings().first()
    if row is None:
        raise NotFound(
            f"the people service has no trait {trait_id}",
            hint="List them with `audiencehub people traits list`.",
        )
    return cast(Trait, dict(row))


def update_trait(
    connection: Connection,
    trait_id: int,
    *,
    name: str | None = None,
    rule: Mapping[str, str] | None = None,
    actor: str | None = None,
) -> Trait:
    """Rename a trait or change its rule (new inbound data is realised by the new rule;
    realisations already made stay until they expire)."""
    current = get_trait(connection, trait_id)
    values: dict[str, object] = {}
    if name is not None:
        if not name.strip():
            raise InvalidInput("a trait's name cannot be empty")
        values["name"] = name
    if rule is not None:
        values["rule"] = dict(rule) or None
    if values:
        connection.execute(update(traits).where(traits.c.id == trait_id).values(**values))
    changed = get_trait(connection, trait_id)
    record_change(
        connection,
        audit_log,
        "trait changed",
        actor=actor,
        before=current,
        after=changed,
        trait_id=trait_id,
    )
    return changed


def delete_trait(connection: Connection, trait_id: int, *, actor: str | None = None) -> None:
    """Delete a trait no segment rule names, with its realisations."""
    current = get_trait(connection, trait_id)
    using = [
        segment_id
        for segment_id, rule in connection.execute(select(segments.c.id, segments.c.rule))
        if trait_id in trait_ids(parse_rule(rule))
    ]
    if using:
        raise InUse(
            f"trait {trait_id} is in the rule of segment(s) {', '.join(map(str, using))}",
            hint="Change or delete those segments first.",
        )
    delete_rows(
        connection.engine, "realisations", "trait_id", trait_id, why=f"trait {trait_id} deleted"
    )
    connection.execute(delete(traits).where(traits.c.id == trait_id))
    record_change(
        connection, audit_log, "trait deleted", actor=actor, before=current, trait_id=trait_id
    )
