"""Rows of outbound files (people -> campaign).

``<ID> <segment ids, comma-separated> <removed segment ids, comma-separated>``,
fields separated by a space (a TAB is accepted when reading). Segment ids are
positive decimal integers of at most 18 digits, without sign or leading zero.
Lines holding only spaces, tabs and CR are blank and skipped.

The grammar is stated once, as :data:`SEGMENT_LIST` and :data:`BLANK`: the bulk
engine reads batches with the same patterns, and a test holds the two readers
to the same answers on arbitrary lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from audiencehub.errors import InvalidInput

__all__ = [
    "BLANK",
    "SEGMENT_LIST",
    "OutboundRow",
    "format_outbound_row",
    "is_blank",
    "parse_outbound_row",
]

#: a comma-separated list of segment ids, possibly empty (a regular expression
#: that Python's ``re`` and RE2 read alike)
SEGMENT_LIST = r"(?:[1-9][0-9]{0,17}(?:,[1-9][0-9]{0,17})*)?"
#: a line to skip
BLANK = r"[ \t\r]*"
_SEGMENT_LIST = re.compile(SEGMENT_LIST)
_BLANK = re.compile(BLANK)


@dataclass(frozen=True, slots=True)
class OutboundRow:
    """An ID with the segments it is in and the segments it left."""

    user_id: str
    segments: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()


def _ids(text: str, what: str) -> tuple[int, ...]:
    if not _SEGMENT_LIST.fullmatch(text):
        raise InvalidInput(
            f"{what} {text!r} are not comma-separated numbers",
            hint="Write segment ids as positive integers without sign or leading zero.",
        )
    return tuple(int(part) for part in text.split(",")) if text else ()


def is_blank(line: str) -> bool:
    """Whether ``line`` (without its newline) is skipped rather than read."""
    return _BLANK.fullmatch(line) is not None


def parse_outbound_row(line: str) -> OutboundRow:
    """Parse one outbound line (without newline)."""
    parts = line.replace("\t", " ").split(" ")
    if not parts[0] or len(parts) > 3:
        raise InvalidInput(f"{line!r} is not '<ID> <segments> <removed segments>'")
    segments = _ids(parts[1], "segment ids") if len(parts) > 1 else ()
    removed = _ids(parts[2], "removed segment ids") if len(parts) > 2 else ()
    return OutboundRow(parts[0], segments, removed)


def format_outbound_row(user_id: str, segments: Sequence[int], removed: Sequence[int] = ()) -> str:
    """One outbound line (without newline)."""
    return f"{user_id} {','.join(map(str, segments))} {','.join(map(str, removed))}"
