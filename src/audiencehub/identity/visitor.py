"""Visitor IDs (ECID-compatible) and the ``AMCV_`` cookie that carries them.

A visitor ID is 38 decimal digits: two zero-padded 19-digit halves, each a value
that fits a signed 64-bit integer. The browser keeps it in the ``AMCV_<org id>``
cookie under the key ``MCMID``; everything else in that cookie is kept as it is
when we rewrite it, so that other tags sharing the cookie keep their state.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote, unquote

from audiencehub.errors import InvalidInput, InvalidVisitorId

__all__ = [
    "MAX_HALF",
    "VisitorId",
    "amcv_cookie_name",
    "amcv_session_cookie_name",
    "format_amcv",
    "parse_amcv",
    "visitor_id_from_amcv",
]

MAX_HALF = 2**63 - 1
_HALF_DIGITS = 19
_ORG_ID = re.compile(r"^[A-Za-z0-9]+@[A-Za-z0-9]+$")
_MCMID = "MCMID"


@dataclass(frozen=True, slots=True)
class VisitorId:
    """A validated 38-digit visitor ID; build it with :meth:`parse` or :meth:`new`."""

    value: str

    @classmethod
    def parse(cls, text: str) -> VisitorId:
        """Validate ``text`` and say precisely why it is not a visitor ID."""
        if len(text) != 2 * _HALF_DIGITS:
            raise InvalidVisitorId(
                f"{text!r} is not a visitor ID: it has {len(text)} characters, not 38 digits"
            )
        for position, char in enumerate(text, start=1):
            if not "0" <= char <= "9":
                raise InvalidVisitorId(
                    f"{text!r} is not a visitor ID: character {position} is {char!r}, not a digit"
                )
        for name, half in (("first", text[:_HALF_DIGITS]), ("second", text[_HALF_DIGITS:])):
            if int(half) > MAX_HALF:
                raise InvalidVisitorId(
                    f"{text!r} is not a visitor ID: its {name} half {half} is over "
                    f"2^63-1 ({MAX_HALF})"
                )
        return cls(text)

    @classmethod
    def new(cls) -> VisitorId:
        """Draw a fresh visitor ID from the operating system's CSPRNG."""
        high = secrets.randbelow(MAX_HALF + 1)
        low = secrets.randbelow(MAX_HALF + 1)
        return cls(f"{high:019d}{low:019d}")

    @property
    def halves(self) -> tuple[int, int]:
        """The two 64-bit halves, as the visitor ID service stores them."""
        return int(self.value[:_HALF_DIGITS]), int(self.value[_HALF_DIGITS:])

    def __str__(self) -> str:
        return self.value


def _check_org_id(org_id: str) -> None:
    if not _ORG_ID.match(org_id):
        raise InvalidInput(
            f"{org_id!r} is not an organisation id",
            hint="An organisation id looks like 1234567890ABCDEF@AdobeOrg.",
        )


def amcv_cookie_name(org_id: str) -> str:
    """Name of the visitor cookie for ``org_id``: ``AMCV_`` and the URL-encoded id."""
    _check_org_id(org_id)
    return "AMCV_" + quote(org_id, safe="")


def amcv_session_cookie_name(org_id: str) -> str:
    """Name of the session flag cookie (``AMCVS_<org id>``, value ``1``)."""
    _check_org_id(org_id)
    return "AMCVS_" + quote(org_id, safe="")


def parse_amcv(value: str) -> tuple[str | None, dict[str, str]]:
    """Split an ``AMCV_`` value into its leading checksum token (if any) and its pairs.

    Browsers and tag managers store the value URL-encoded (``%7C`` for ``|``) or
    raw; both are read. The reference product puts a bare checksum token first,
    which makes the token count odd.
    """
    tokens = unquote(value).split("|")
    if tokens == [""]:
        return None, {}
    prefix: str | None = None
    if len(tokens) % 2 == 1:
        prefix, tokens = tokens[0], tokens[1:]
    pairs = dict(zip(tokens[0::2], tokens[1::2], strict=True))
    return prefix, pairs


def visitor_id_from_amcv(value: str) -> VisitorId:
    """The visitor ID under ``MCMID`` in an ``AMCV_`` value; an error if absent or invalid."""
    _, pairs = parse_amcv(value)
    if _MCMID not in pairs:
        raise InvalidVisitorId(f"the cookie value {value!r} holds no MCMID key")
    return VisitorId.parse(pairs[_MCMID])


def format_amcv(visitor_id: VisitorId, existing: str | None = None) -> str:
    """An ``AMCV_`` value carrying ``visitor_id``, keeping any other pairs of ``existing``."""
    prefix, pairs = parse_amcv(existing) if existing else (None, {})
    pairs[_MCMID] = visitor_id.value
    tokens = [prefix] if prefix is not None else []
    for key, val in pairs.items():
        tokens.extend((key, val))
    return "|".join(tokens)
