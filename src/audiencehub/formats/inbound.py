"""Rows of inbound data files (campaign -> people).

``<user id><TAB><trait>,<trait>,...`` where a trait is ``d_sid=24`` (realise
trait 24), ``d_unsid=28`` (remove it), ``ic=52`` or a plain ``30608`` (realise the
trait with that integration code), ``28:0`` or ``28:-1`` (remove trait 28, as
``d_unsid=28`` does), or a
key-value ``"gender"="female"``. Lines over 102,400 bytes are refused; user IDs
are 38-digit visitor IDs or declared IDs of at most 512 characters, without
``:`` / ``%3A`` or control characters.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from audiencehub.errors import InvalidInput

__all__ = [
    "MAX_LINES_PER_USER",
    "MAX_LINE_BYTES",
    "InboundRow",
    "TraitRef",
    "TraitRefKind",
    "format_inbound_row",
    "format_traits",
    "parse_general_row",
    "parse_inbound_row",
]

MAX_LINE_BYTES = 102_400
MAX_LINES_PER_USER = 200
MAX_USER_ID = 512  # characters: what the people service stores for an ID
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TraitRefKind(enum.StrEnum):
    """How a row names a trait: by trait id (``d_sid``) or by integration code."""

    SID = "sid"
    CODE = "ic"


@dataclass(frozen=True, slots=True)
class TraitRef:
    """A trait named in a row."""

    kind: TraitRefKind
    value: str


@dataclass(frozen=True, slots=True)
class InboundRow:
    """One parsed line: who, which traits to realise and remove, which key-values."""

    user_id: str
    realize: tuple[TraitRef, ...] = ()
    remove: tuple[TraitRef, ...] = ()
    # every value of each key, in order: a key may repeat ("product = tablet, product =
    # phone", Inbound Data File Contents) and each value is kept
    signals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _split_outside_quotes(text: str) -> list[str]:
    if '"' not in text:
        return text.split(",")
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise InvalidInput("a quoted key or value is not closed")
    parts.append("".join(current))
    return parts


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if '"' in text:
        raise InvalidInput(f"{text!r} has a stray quote")
    return text


def check_user_id(user_id: str) -> None:
    """Refuse user IDs that cannot be visitor or declared IDs; the message never quotes the ID
    (receipts and logs must not carry people's identifiers)."""
    if not user_id:
        raise InvalidInput("the user ID is empty")
    if len(user_id) > MAX_USER_ID:
        raise InvalidInput(f"the user ID is {len(user_id):,} characters; at most {MAX_USER_ID}")
    if _CONTROL.search(user_id):
        raise InvalidInput("the user ID holds control characters (NUL, tab, line feed, ...)")
    if ":" in user_id or "%3a" in user_id.lower():
        raise InvalidInput("the user ID contains ':' or '%3A'")


# The shape nearly every line of a real file has: a plain ID, then trait ids only.
# Such a line parses to the same row as the general path gives it (a property
# test holds them together); anything else (codes, removals, key-values, spaces,
# quotes, '%' or ':' in the ID, non-ASCII digits) takes the general path.
_SIMPLE = re.compile(
    rf"([^\t:%\s\"\x00-\x1f\x7f]{{1,{MAX_USER_ID}}})\t((?:d_sid=[0-9]+,)*d_sid=[0-9]+)"
)
_SIMPLE_MAX_CHARS = MAX_LINE_BYTES // 4  # at most 4 UTF-8 bytes a character


@functools.lru_cache(maxsize=4096)
def _sid(value: str) -> TraitRef:
    """The (immutable) reference to trait ``value``: a file names few traits, many times."""
    return TraitRef(TraitRefKind.SID, value)


def parse_inbound_row(line: str) -> InboundRow:
    """Parse one line (without its newline); a malformed line is an error with the reason."""
    simple = _SIMPLE.fullmatch(line) if len(line) <= _SIMPLE_MAX_CHARS else None
    if simple is not None:
        sids = simple.group(2).split(",")
        return InboundRow(simple.group(1), tuple(_sid(t[6:]) for t in sids))
    return parse_general_row(line)


def parse_general_row(line: str) -> InboundRow:
    """:func:`parse_inbound_row` without its fast path: every form, every refusal."""
    if len(line.encode("utf-8")) > MAX_LINE_BYTES:
        raise InvalidInput(f"the line is over {MAX_LINE_BYTES:,} bytes")
    user_id, tab, traits = line.partition("\t")
    if not tab:
        raise InvalidInput("no TAB between the user ID and the traits")
    check_user_id(user_id)
    realize: list[TraitRef] = []
    remove: list[TraitRef] = []
    signals: dict[str, tuple[str, ...]] = {}
    for raw in _split_outside_quotes(traits):
        item = raw.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if eq and key in ("d_sid", "d_unsid", "ic"):
            if key == "ic" and (not value or '"' in value or " " in value):
                raise InvalidInput(f"{item!r}: ic takes an integration code")
            if key != "ic" and not value.isdigit():
                raise InvalidInput(f"{item!r}: {key} takes a number")
            ref = TraitRef(TraitRefKind.CODE if key == "ic" else TraitRefKind.SID, value)
            (remove if key == "d_unsid" else realize).append(ref)
        elif eq:
            # "We ignore dash signs at the start of keys": -product = camera is product
            name = _unquote(key.strip().lstrip("-")).lstrip("-")
            text = _unquote(value.strip())
            if not name:
                raise InvalidInput(f"{item!r} has an empty key")
            held = signals.get(name, ())
            if text not in held:
                signals[name] = (*held, text)
        elif item.endswith((":0", ":-1")) and item.rsplit(":", 1)[0].isdigit():
            # "24:0" and "24:-1" remove trait ID 24, as d_unsid=24 does (Adobe's
            # "Inbound Data File Contents", Example 2)
            remove.append(TraitRef(TraitRefKind.SID, item.rsplit(":", 1)[0]))
        elif item.isdigit():
            realize.append(TraitRef(TraitRefKind.CODE, item))
        else:
            raise InvalidInput(
                f'{item!r} is not a trait (d_sid=N, d_unsid=N, ic=N, N, N:-1, "k"="v")'
            )
    return InboundRow(user_id, tuple(realize), tuple(remove), signals)


def format_inbound_row(
    user_id: str,
    *,
    sids: Sequence[int] = (),
    unsids: Sequence[int] = (),
    codes: Sequence[str] = (),
    signals: Mapping[str, str | Sequence[str]] | None = None,
) -> str:
    """One inbound line (without newline) realising ``sids`` and ``codes``, removing ``unsids``."""
    check_user_id(user_id)
    return f"{user_id}\t{format_traits(sids=sids, unsids=unsids, codes=codes, signals=signals)}"


def format_traits(
    *,
    sids: Sequence[int] = (),
    unsids: Sequence[int] = (),
    codes: Sequence[str] = (),
    signals: Mapping[str, str | Sequence[str]] | None = None,
) -> str:
    """The traits column of an inbound line (a writer sending the same traits to many
    users formats it once)."""
    items = [f"d_sid={sid}" for sid in sids]
    items += [f"d_unsid={sid}" for sid in unsids]
    items += [f"ic={code}" for code in codes]
    for key, values in (signals or {}).items():
        for value in (values,) if isinstance(values, str) else values:
            items.append(f'"{key}"="{value}"')
    return ",".join(items)
