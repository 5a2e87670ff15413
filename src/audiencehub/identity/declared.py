"""Declared-ID syncs: the ``d_cid`` and ``d_cid_ic`` parameters of the visitor ID service.

Syntax: ``d_cid=<DPID>%01<ID>[%01<authState>]`` or
``d_cid_ic=<integration code>%01<ID>[%01<authState>]``. Functions here work on
the decoded value (``\\x01`` separators), which is what an HTTP framework hands
over; :func:`parse_declared_sync_param` also reads a raw ``key=value`` fragment.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import quote, unquote

from audiencehub.errors import InvalidDeclaredId

__all__ = [
    "MAX_DECLARED_ID",
    "MAX_DPID",
    "AuthState",
    "DeclaredIdSync",
    "format_declared_sync",
    "parse_declared_sync",
    "parse_declared_sync_param",
]

_SEP = "\x01"
MAX_DECLARED_ID = 512  # characters: what the people service stores for an ID
MAX_DPID = 2_147_483_647  # data source ids are 32-bit integers
MAX_NAMESPACE = 255  # an integration code's length
_CONTROL = frozenset(chr(c) for c in [*range(32), 127])


class AuthState(enum.IntEnum):
    """Authentication state sent with a declared ID."""

    UNKNOWN = 0
    AUTHENTICATED = 1
    LOGGED_OUT = 2


@dataclass(frozen=True, slots=True)
class DeclaredIdSync:
    """One declared ID, in the namespace of a data source (DPID or integration code)."""

    namespace: str
    declared_id: str
    auth_state: AuthState = AuthState.UNKNOWN
    by_integration_code: bool = False

    @property
    def dpid(self) -> int | None:
        """The numeric data source id, when the sync names one (``d_cid``)."""
        return None if self.by_integration_code else int(self.namespace)

    @property
    def param(self) -> str:
        """The query parameter name this sync travels under."""
        return "d_cid_ic" if self.by_integration_code else "d_cid"


def parse_declared_sync(value: str, *, by_integration_code: bool = False) -> DeclaredIdSync:
    """Parse a decoded ``d_cid`` (or, with ``by_integration_code``, ``d_cid_ic``) value.

    Errors never quote the declared ID (it is personal data, and may be huge).
    """
    param = "d_cid_ic" if by_integration_code else "d_cid"
    parts = value.split(_SEP)
    if len(parts) not in (2, 3):
        raise InvalidDeclaredId(
            f"a {param} value has {len(parts)} part(s); expected "
            "<namespace>%01<ID> with an optional %01<authState>"
        )
    namespace, declared_id = parts[0], parts[1]
    if not namespace:
        raise InvalidDeclaredId(f"a {param} value has an empty data source")
    if len(namespace) > MAX_NAMESPACE or _CONTROL.intersection(namespace):
        raise InvalidDeclaredId(
            f"a {param} data source is over {MAX_NAMESPACE} characters or holds control characters"
        )
    if not by_integration_code and not (
        namespace.isascii() and namespace.isdigit() and int(namespace) <= MAX_DPID
    ):
        raise InvalidDeclaredId(
            f"d_cid data source {namespace!r} is not a numeric DPID",
            hint="Use d_cid_ic to name a data source by its integration code.",
        )
    if not declared_id:
        raise InvalidDeclaredId(f"a {param} value has an empty declared ID")
    if len(declared_id) > MAX_DECLARED_ID:
        raise InvalidDeclaredId(
            f"a {param} declared ID is {len(declared_id):,} characters; at most "
            f"{MAX_DECLARED_ID} are accepted"
        )
    if _CONTROL.intersection(declared_id):
        raise InvalidDeclaredId(
            f"a {param} declared ID holds control characters (NUL, tab, line feed, ...)",
            hint="Send the ID as it is stored, URL-encoded, without control characters.",
        )
    state = AuthState.UNKNOWN
    if len(parts) == 3:
        try:
            state = AuthState(int(parts[2]))
        except ValueError:
            raise InvalidDeclaredId(
                f"{param} authentication state {parts[2]!r} is not 0, 1 or 2"
            ) from None
    return DeclaredIdSync(namespace, declared_id, state, by_integration_code)


def parse_declared_sync_param(fragment: str) -> DeclaredIdSync:
    """Parse a raw, URL-encoded ``d_cid=...`` or ``d_cid_ic=...`` query fragment."""
    key, sep, raw = fragment.partition("=")
    if not sep or key not in ("d_cid", "d_cid_ic"):
        raise InvalidDeclaredId(f"{fragment!r} is not a d_cid or d_cid_ic parameter")
    return parse_declared_sync(unquote(raw), by_integration_code=key == "d_cid_ic")


def format_declared_sync(sync: DeclaredIdSync, *, with_state: bool = True) -> str:
    """The URL-encoded ``key=value`` query fragment for ``sync``."""
    parts = [sync.namespace, sync.declared_id]
    if with_state:
        parts.append(str(int(sync.auth_state)))
    return f"{sync.param}=" + "%01".join(quote(part, safe="") for part in parts)
