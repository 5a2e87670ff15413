"""The traits an inbound batch's references can name: those of its data source, by id or
integration code, and the rule traits whose key-values the batch may test. Read once
per batch from the people database, then consulted for every distinct item."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from audiencehub.formats.inbound import TraitRef, TraitRefKind
from audiencehub.people.schema import traits

__all__ = ["TraitIndex"]


@dataclass
class TraitIndex:
    """The traits a batch's references can name: those of its source, by id or code."""

    ids: set[int] = field(default_factory=set)  # onboarded traits of the source
    elsewhere: set[int] = field(default_factory=set)  # onboarded traits of other sources
    codes: dict[str, int] = field(default_factory=dict)
    rules: dict[int, dict[str, str]] = field(default_factory=dict)
    #: the (case-folded) key-value pairs some rule trait tests
    rule_pairs: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def of(cls, connection: Connection, source: int) -> TraitIndex:
        """The index for references to data source ``source``'s traits."""
        index = cls()
        for row in connection.execute(
            select(traits.c.id, traits.c.data_source_id, traits.c.integration_code, traits.c.rule)
        ):
            if row.rule:
                index.rules[row.id] = dict(row.rule)
            elif row.data_source_id == source:
                index.ids.add(row.id)
                if row.integration_code:
                    index.codes[row.integration_code] = row.id
            else:
                index.elsewhere.add(row.id)
        index.rule_pairs = {
            (key.casefold(), value.casefold())
            for rule in index.rules.values()
            for key, value in rule.items()
        }
        return index

    def resolve(self, ref: TraitRef) -> tuple[int | None, bool]:
        """The trait a reference names here (or None), and whether it names another
        source's trait (which fails validation)."""
        if ref.kind is TraitRefKind.SID:
            number = int(ref.value)
            return (number if number in self.ids else None), number in self.elsewhere
        return self.codes.get(ref.value), False

    def tested(self, key: str, value: str) -> bool:
        """Whether a rule trait tests this key-value."""
        return (key.casefold(), value.casefold()) in self.rule_pairs
