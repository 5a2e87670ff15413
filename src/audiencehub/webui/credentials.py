"""Session tokens of the web pages, and the CSRF token derived from each.

A session is 32 random bytes kept by the browser in an HttpOnly cookie; the
server keeps only its SHA-256, so a copied database signs nobody in. The CSRF
token is an HMAC of the session under a fixed label: a page of another site can
make the browser send the cookie, but cannot read it, so cannot know the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["csrf_token_of", "new_session_token", "session_digest"]


def new_session_token() -> str:
    """A new session's cookie value."""
    return secrets.token_urlsafe(32)


def session_digest(token: str) -> bytes:
    """What is stored of a session."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def csrf_token_of(session_token: str) -> str:
    """The CSRF token of a session (derived, so nothing more is stored)."""
    key = session_token.encode("utf-8", "surrogateescape")
    return hmac.new(key, b"audiencehub csrf", hashlib.sha256).hexdigest()
