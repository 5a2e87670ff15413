"""SHA-256 of normalised declared IDs, in each scheme's encoding."""

from __future__ import annotations

import base64
import hashlib
import re

from audiencehub.errors import InvalidInput
from audiencehub.identity.normalize import normalize
from audiencehub.identity.schemes import DigestEncoding, HashScheme, IdKind

__all__ = [
    "DIGEST_PATTERNS",
    "decode_digest",
    "digest",
    "digest_normalized",
    "encode_digest",
    "hash_id",
]

#: the exact text of a 32-byte digest in each encoding (regular expressions that
#: Python's ``re`` and RE2 read alike; the bulk engine decodes with the same ones)
DIGEST_PATTERNS = {
    DigestEncoding.HEX: "[0-9A-Fa-f]{64}",
    DigestEncoding.BASE64: "[A-Za-z0-9+/]{43}=",
}
_COMPILED = {encoding: re.compile(pattern) for encoding, pattern in DIGEST_PATTERNS.items()}


def digest_normalized(normalized: str) -> bytes:
    """The raw SHA-256 of an already normalised value (no salt, UTF-8)."""
    return hashlib.sha256(normalized.encode("utf-8")).digest()


def digest(value: str, scheme: HashScheme, kind: IdKind, region: str | None = None) -> bytes:
    """Normalise ``value`` under ``scheme`` and return its raw 32-byte SHA-256."""
    return digest_normalized(normalize(value, scheme, kind, region))


def encode_digest(raw: bytes, scheme: HashScheme) -> str:
    """Write a raw digest the way ``scheme`` publishes it (lowercase hex or base64)."""
    if scheme.encoding is DigestEncoding.BASE64:
        return base64.b64encode(raw).decode("ascii")
    return raw.hex()


def hash_id(value: str, scheme: HashScheme, kind: IdKind, region: str | None = None) -> str:
    """The hashed form of ``value`` under ``scheme``, as the partner expects it."""
    return encode_digest(digest(value, scheme, kind, region), scheme)


def decode_digest(text: str, scheme: HashScheme) -> bytes:
    """Read a digest published under ``scheme`` back to 32 raw bytes.

    Hex is accepted in either case (incoming files are not always lowercase);
    ``google`` and ``uid2`` accept hex or base64, as their partners send both.
    """
    candidates = scheme.accepted_encodings
    for encoding in candidates:
        if _COMPILED[encoding].fullmatch(text):
            return bytes.fromhex(text) if encoding is DigestEncoding.HEX else base64.b64decode(text)
    expected = " or ".join(str(encoding) for encoding in candidates)
    raise InvalidInput(
        f"{text!r} is not a SHA-256 digest in {expected}",
        hint=f"The {scheme} scheme writes 32-byte digests in {expected}.",
    )
