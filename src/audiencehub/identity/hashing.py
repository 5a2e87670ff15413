"""SHA-256 of normalised declared IDs, in each scheme's encoding."""

from __future__ import annotations

import base64
import binascii
import hashlib

from audiencehub.errors import InvalidInput
from audiencehub.identity.normalize import normalize
from audiencehub.identity.schemes import DigestEncoding, HashScheme, IdKind

__all__ = ["decode_digest", "digest", "digest_normalized", "encode_digest", "hash_id"]

_DIGEST_SIZE = 32


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
    ``google`` accepts hex or base64, as its partners send both.
    """
    candidates: list[DigestEncoding] = [scheme.encoding]
    if scheme is HashScheme.GOOGLE:
        candidates.append(DigestEncoding.BASE64)
    for encoding in candidates:
        try:
            raw = (
                bytes.fromhex(text)
                if encoding is DigestEncoding.HEX
                else base64.b64decode(text, validate=True)
            )
        except (ValueError, binascii.Error):
            continue
        if len(raw) == _DIGEST_SIZE:
            return raw
    expected = " or ".join(str(encoding) for encoding in candidates)
    raise InvalidInput(
        f"{text!r} is not a SHA-256 digest in {expected}",
        hint=f"The {scheme} scheme writes 32-byte digests in {expected}.",
    )
