"""The hashing schemes a declared ID can be compared under, and the kinds of IDs.

Each scheme fixes a normalisation per kind and an encoding of the SHA-256 digest
(DOMAIN.md section 2); a hashed value is meaningless without its scheme.
"""

from __future__ import annotations

import enum

__all__ = ["DigestEncoding", "HashScheme", "IdKind"]


class IdKind(enum.StrEnum):
    """What a declared ID is: an email address or a phone number."""

    EMAIL = "email"
    PHONE = "phone"


_EMAIL_ONLY = frozenset({IdKind.EMAIL})
_EMAIL_AND_PHONE = frozenset({IdKind.EMAIL, IdKind.PHONE})


class DigestEncoding(enum.StrEnum):
    """How the 32 raw bytes of a SHA-256 digest are written."""

    HEX = "hex"
    BASE64 = "base64"


class HashScheme(enum.StrEnum):
    """A normalise-then-hash convention shared with a partner system."""

    AAM = "aam"
    UID2 = "uid2"
    GOOGLE = "google"
    META = "meta"

    @property
    def encoding(self) -> DigestEncoding:
        """The encoding this scheme writes its digests in."""
        return DigestEncoding.BASE64 if self is HashScheme.UID2 else DigestEncoding.HEX

    @property
    def accepted_encodings(self) -> tuple[DigestEncoding, ...]:
        """The encodings digests are read in: the written one first, then the others its
        partners send (google's partners send both; the UID2 operator takes hashed emails
        and phones in base64 or hex)."""
        if self in (HashScheme.GOOGLE, HashScheme.UID2):
            other = (
                DigestEncoding.HEX
                if self.encoding is DigestEncoding.BASE64
                else DigestEncoding.BASE64
            )
            return (self.encoding, other)
        return (self.encoding,)

    @property
    def kinds(self) -> frozenset[IdKind]:
        """The kinds of ID this scheme defines a normalisation for."""
        return _EMAIL_ONLY if self is HashScheme.AAM else _EMAIL_AND_PHONE
