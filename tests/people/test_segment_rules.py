"""The segment rule parser: precedence, parentheses, and errors that point."""

from __future__ import annotations

import pytest

from audiencehub.errors import InvalidInput
from audiencehub.people.segment_rules import And, Not, Or, Trait, parse_rule, trait_ids


def test_precedence_not_over_and_over_or():
    """NOT binds tighter than AND, AND tighter than OR."""
    assert parse_rule("T1 OR T2 AND NOT T3") == Or(Trait(1), And(Trait(2), Not(Trait(3))))


def test_parentheses_and_case():
    """Parentheses group; keywords and the T prefix are case-insensitive."""
    assert parse_rule("(t1 or T2) and not (T3)") == And(Or(Trait(1), Trait(2)), Not(Trait(3)))
    assert trait_ids(parse_rule("T1 AND (T2 OR NOT T1)")) == {1, 2}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "position 1: the rule is empty"),
        ("T1 AND", "position 7: the rule ends where a trait or '(' was expected"),
        ("T1 AND (T2 OR T3", "position 17: ')' expected to close the '(' at position 8"),
        ("T1 T2", "position 4: unexpected 'T2'"),
        ("T1 AND shoes", "position 8: 'shoes' is not a trait"),
        ("T1 & T2", "position 4: unexpected character '&'"),
        ("__import__('os')", "position 1: '__import__' is not a trait"),
    ],
)
def test_errors_point_at_the_position(rule, message):
    """A syntax error names the position and what was expected; nothing is evaluated."""
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rule(rule)
