"""Cursor pages: stable under inserts, opaque to the caller.

A page ends at a key (an id, a name); the cursor is that key, encoded, and the
next page starts after it. Rows inserted meanwhile never shift a page (as
offsets would) and never make a row appear twice: a new row either sorts after
the cursor and comes later, or before it and was not promised. Large
collections are read by key in SQL (:func:`page_rows`), small settings lists are
paged the same way in memory (:func:`page_of`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from audiencehub.errors import InvalidInput

__all__ = [
    "Cursor",
    "Limit",
    "Page",
    "decode_cursor",
    "encode_cursor",
    "id_key",
    "id_or_text_key",
    "page_of",
    "page_rows",
]

T = TypeVar("T")

Limit = Annotated[
    int, Query(ge=1, le=1000, description="How many items a page holds.", examples=[50])
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description="The next_cursor of the previous page; none for the first page.",
        examples=["WzQyXQ"],
    ),
]

_CURSOR_HINT = "Send the next_cursor of the previous page unchanged, or none for the first page."


class Page(BaseModel, Generic[T]):
    """One page of a collection; ``next_cursor`` is absent on the last one."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page."
    )


def encode_cursor(key: Any) -> str:
    """The opaque form of a page's last key."""
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """The key a cursor stands for (None for the first page)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidInput(f"{cursor[:40]!r} is not a cursor", hint=_CURSOR_HINT) from None


def id_key(value: Any) -> bool:
    """A cursor of a collection keyed by integer ids."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def id_or_text_key(value: Any) -> bool:
    """A cursor of a collection keyed by an id, or by text where there is no id."""
    return id_key(value) or (isinstance(value, str) and len(value) <= 1024)


def page_rows(
    fetch: Callable[[Any, int], Sequence[T]],
    key: Callable[[T], Any],
    cursor: str | None,
    limit: int,
    valid: Callable[[Any], bool] = id_key,
) -> Page[T]:
    """A page read by key: ``fetch(after, n)`` returns up to n items sorted by ``key``,
    all after ``after``; one more than asked tells whether another page follows.
    ``valid`` tells a cursor of this collection from any other value."""
    after = decode_cursor(cursor)
    if after is not None and not valid(after):
        raise InvalidInput("the cursor belongs to another list", hint=_CURSOR_HINT)
    rows = list(fetch(after, limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[T](items=rows, next_cursor=encode_cursor(key(rows[-1])) if more else None)


def page_of(items: Sequence[T], key: Callable[[T], Any], cursor: str | None, limit: int) -> Page[T]:
    """The same page over a list already in memory (settings, definitions)."""
    after = decode_cursor(cursor)
    ordered = sorted(items, key=key)

    def fetch(start: Any, n: int) -> Sequence[T]:
        if start is None:
            return ordered[:n]
        try:
            return [item for item in ordered if key(item) > start][:n]
        except TypeError:  # a cursor of another collection
            raise InvalidInput("the cursor belongs to another list", hint=_CURSOR_HINT) from None

    return page_rows(lambda _after, n: fetch(after, n), key, None, limit, lambda _: True)
