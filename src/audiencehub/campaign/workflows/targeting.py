"""The targeting language: filters over profile fields and audience membership.

Parsed by a recursive-descent parser into SQLAlchemy expressions: values are
always bound parameters, never spliced into SQL. Grammar (keywords are
case-insensitive)::

    expr      := term (OR term)*
    term      := factor (AND factor)*
    factor    := NOT factor | "(" expr ")" | IN AUDIENCE string | predicate
    predicate := field (= | != | <> | < | <= | > | >=) value
               | field [NOT] IN "(" value ("," value)* ")"
               | field [NOT] LIKE string | field STARTS WITH string
               | field IS [NOT] NULL
    field     := name | attributes.name
    value     := string | number | TRUE | FALSE | (TODAY | NOW) [(+ | -) number DAYS]

Examples: ``country = 'FR' AND created_at >= today - 30 days``,
``email LIKE '%@example.com' OR attributes.tier IN ('gold', 'silver')``,
``IN AUDIENCE 'Shoe lovers' AND NOT email_opt_out``.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Date, DateTime, and_, exists, not_, or_, select

from audiencehub.campaign.audiences import MEMBER_FIELDS
from audiencehub.campaign.schema import audience_members, profiles
from audiencehub.errors import InvalidInput

__all__ = ["FIELDS", "compile_filter"]

# a filter may test a profile's id and every field a member list can show
FIELDS = ("id", *MEMBER_FIELDS)
_KEYWORDS = {
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "STARTS",
    "WITH",
    "AUDIENCE",
    "TODAY",
    "NOW",
    "DAYS",
    "DAY",
}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),+\-])|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
    r"|(?P<bad>\S))"
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    position: int


class _Parser:
    def __init__(self, text: str, audience_id: Callable[[str], int]) -> None:
        self.text, self.audience_id = text, audience_id
        self.tokens: list[_Token] = []
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup or "bad"
            value, position = match.group(kind), match.start(kind) + 1
            if kind == "bad":
                raise self._error(f"unexpected character {value!r}", position)
            if kind == "name" and value.upper() in _KEYWORDS:
                kind, value = "keyword", value.upper()
            self.tokens.append(_Token(kind, value, position))
        self.index = 0

    def _error(self, message: str, position: int) -> InvalidInput:
        return InvalidInput(
            f"filter, position {position}: {message}\n  {self.text}\n  {' ' * (position - 1)}^",
            hint="Write e.g. country = 'FR' AND created_at >= today - 30 days.",
        )

    def _peek(self, offset: int = 0) -> _Token | None:
        at = self.index + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def _end(self) -> int:
        return len(self.text.rstrip()) + 1

    def _take(self, kind: str, text: str | None = None, expected: str | None = None) -> _Token:
        token = self._peek()
        if token is None or token.kind != kind or (text is not None and token.text != text):
            where = token.position if token else self._end()
            found = f"{token.text!r}" if token else "the end of the filter"
            raise self._error(f"{expected or text or kind} expected, found {found}", where)
        self.index += 1
        return token

    def _at(self, *words: str) -> bool:
        token = self._peek()
        return token is not None and token.kind == "keyword" and token.text in words

    def parse(self) -> ColumnElement[bool]:
        if not self.tokens:
            raise self._error("the filter is empty", 1)
        result = self._expr()
        if (token := self._peek()) is not None:
            raise self._error(f"unexpected {token.text!r}", token.position)
        return result

    def _expr(self) -> ColumnElement[bool]:
        parts = [self._term()]
        while self._at("OR"):
            self.index += 1
            parts.append(self._term())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def _term(self) -> ColumnElement[bool]:
        parts = [self._factor()]
        while self._at("AND"):
            self.index += 1
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def _factor(self) -> ColumnElement[bool]:
        if self._at("NOT"):
            self.index += 1
            return not_(self._factor())
        token = self._peek()
        if token is not None and token.kind == "punct" and token.text == "(":
            self.index += 1
            inner = self._expr()
            self._take("punct", ")", "')'")
            return inner
        if self._at("IN") and (after := self._peek(1)) is not None and after.text == "AUDIENCE":
            self.index += 2
            name = self._string()
            member = select(audience_members.c.profile_id).where(
                audience_members.c.audience_id == self.audience_id(name),
                audience_members.c.profile_id == profiles.c.id,
            )
            return exists(member)
        return self._predicate()

    def _string(self) -> str:
        return self._take("string", expected="a quoted string").text[1:-1].replace("''", "'")

    def _field(self) -> ColumnElement[Any]:
        token = self._take("name", expected="a field name")
        if token.text.startswith("attributes."):
            attribute: ColumnElement[Any] = profiles.c.attributes[
                token.text.split(".", 1)[1]
            ].as_string()
            return attribute
        if token.text not in FIELDS:
            raise self._error(
                f"{token.text!r} is not a field; fields are {', '.join(FIELDS)} and "
                "attributes.<name>",
                token.position,
            )
        return profiles.c[token.text]

    def _predicate(self) -> ColumnElement[bool]:
        column = self._field()
        if self._at("IS"):
            self.index += 1
            negate = self._at("NOT")
            self.index += negate
            self._take("keyword", "NULL", "NULL")
            return column.is_not(None) if negate else column.is_(None)
        negate = self._at("NOT")
        self.index += negate
        if self._at("IN"):
            self.index += 1
            self._take("punct", "(", "'('")
            values = [self._value(column)]
            while (token := self._peek()) is not None and token.text == ",":
                self.index += 1
                values.append(self._value(column))
            self._take("punct", ")", "')'")
            return column.not_in(values) if negate else column.in_(values)
        if self._at("LIKE"):
            self.index += 1
            pattern = self._string()
            return column.not_like(pattern) if negate else column.like(pattern)
        if negate:
            token = self._peek()
            raise self._error(
                "IN or LIKE expected after NOT", token.position if token else self._end()
            )
        if self._at("STARTS"):
            self.index += 1
            self._take("keyword", "WITH", "WITH")
            return column.startswith(self._string(), autoescape=True)
        following = self._peek()
        if isinstance(column.type, Boolean) and (
            following is None or following.text in ("AND", "OR", ")")
        ):
            return column.is_(True)  # a flag alone: `blocklisted`, `NOT email_opt_out`
        symbol = self._take("op", expected="a comparison (=, !=, <, <=, >, >=)").text
        value = self._value(column)
        compare: ColumnElement[bool] = _COMPARISONS[symbol](column, value)
        return compare

    def _value(self, column: ColumnElement[Any]) -> Any:
        token = self._peek()
        if token is None:
            raise self._error("a value expected", self._end())
        column_type = column.type
        if token.kind == "keyword" and token.text in ("TODAY", "NOW"):
            self.index += 1
            base: dt.date = (
                dt.datetime.now(dt.UTC) if token.text == "NOW" else dt.datetime.now(dt.UTC).date()
            )
            follow = self._peek()
            if follow is not None and follow.text in ("+", "-"):
                self.index += 1
                days = int(float(self._take("number", expected="a number of days").text))
                self._take("keyword", None, "DAYS")
                base = base + dt.timedelta(days=days if follow.text == "+" else -days)
            return base
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE"):
            self.index += 1
            return token.text == "TRUE"
        if token.kind == "number":
            self.index += 1
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind != "string":
            raise self._error(f"a value expected, found {token.text!r}", token.position)
        text = self._string()
        if isinstance(column_type, Date | DateTime):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                raise self._error(f"{text!r} is not a date (YYYY-MM-DD)", token.position) from None
        return text


def compile_filter(text: str, audience_id: Callable[[str], int]) -> ColumnElement[bool]:
    """A WHERE clause over ``profiles`` for ``text``; ``audience_id`` resolves audience names."""
    return _Parser(text, audience_id).parse()
