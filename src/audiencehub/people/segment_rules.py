"""Segment rules: boolean expressions over traits, parsed by a recursive-descent parser.

Grammar (``T<id>`` names a trait; keywords are case-insensitive)::

    expr   := term ("OR" term)*
    term   := factor ("AND" factor)*
    factor := "NOT" factor | "(" expr ")" | TRAIT

No ``eval``: the parser builds a small tree, and errors point at the position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audiencehub.errors import InvalidInput

__all__ = ["And", "Not", "Or", "Rule", "Trait", "parse_rule", "trait_ids"]

_TOKEN = re.compile(r"\s*(?:(?P<trait>[Tt]\d+)|(?P<word>[A-Za-z_]\w*)|(?P<punct>[()])|(?P<bad>\S))")


@dataclass(frozen=True, slots=True)
class Trait:
    """A trait reference."""

    trait_id: int


@dataclass(frozen=True, slots=True)
class Not:
    """Negation: users without the operand."""

    operand: Rule


@dataclass(frozen=True, slots=True)
class And:
    """Users matching both sides."""

    left: Rule
    right: Rule


@dataclass(frozen=True, slots=True)
class Or:
    """Users matching either side."""

    left: Rule
    right: Rule


Rule = Trait | Not | And | Or


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup or "bad"
            value = match.group(kind)
            position = match.start(kind) + 1
            if kind == "bad":
                raise self._error(f"unexpected character {value!r}", position)
            if kind == "word":
                if value.upper() not in ("AND", "OR", "NOT"):
                    raise self._error(f"{value!r} is not a trait (T<id>) or AND, OR, NOT", position)
                value = value.upper()
            self.tokens.append((kind, value, position))
        self.index = 0

    def _error(self, message: str, position: int) -> InvalidInput:
        pointer = " " * (position - 1) + "^"
        return InvalidInput(
            f"segment rule, position {position}: {message}\n  {self.text}\n  {pointer}",
            hint="Write a rule such as 'T101 AND (T102 OR NOT T103)'.",
        )

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _end(self) -> int:
        return len(self.text.rstrip()) + 1

    def parse(self) -> Rule:
        if not self.tokens:
            raise self._error("the rule is empty", 1)
        rule = self._expr()
        leftover = self._peek()
        if leftover is not None:
            raise self._error(f"unexpected {leftover[1]!r}", leftover[2])
        return rule

    def _expr(self) -> Rule:
        rule = self._term()
        while (token := self._peek()) is not None and token[1] == "OR":
            self.index += 1
            rule = Or(rule, self._term())
        return rule

    def _term(self) -> Rule:
        rule = self._factor()
        while (token := self._peek()) is not None and token[1] == "AND":
            self.index += 1
            rule = And(rule, self._factor())
        return rule

    def _factor(self) -> Rule:
        token = self._peek()
        if token is None:
            raise self._error("the rule ends where a trait or '(' was expected", self._end())
        kind, value, position = token
        self.index += 1
        if value == "NOT":
            return Not(self._factor())
        if value == "(":
            rule = self._expr()
            closing = self._peek()
            if closing is None or closing[1] != ")":
                at = closing[2] if closing else self._end()
                raise self._error(f"')' expected to close the '(' at position {position}", at)
            self.index += 1
            return rule
        if kind == "trait":
            return Trait(int(value[1:]))
        raise self._error(f"a trait or '(' was expected, not {value!r}", position)


def parse_rule(text: str) -> Rule:
    """Parse a segment rule; a syntax error says where and what was expected."""
    return _Parser(text).parse()


def trait_ids(rule: Rule) -> set[int]:
    """Every trait the rule refers to."""
    if isinstance(rule, Trait):
        return {rule.trait_id}
    if isinstance(rule, Not):
        return trait_ids(rule.operand)
    return trait_ids(rule.left) | trait_ids(rule.right)
