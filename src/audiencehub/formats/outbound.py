"""Rows of outbound files (people -> campaign).

``<ID> <segment ids, comma-separated> <removed segment ids, comma-separated>``,
fields separated by a space (a TAB is accepted when reading).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from audiencehub.errors import InvalidInput

__all__ = ["OutboundRow", "format_outbound_row", "parse_outbound_row"]


@dataclass(frozen=True, slots=True)
class OutboundRow:
    """An ID with the segments it is in and the segments it left."""

    user_id: str
    segments: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()


def _ids(text: str, what: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput(f"{what} {text!r} are not comma-separated numbers") from None


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
