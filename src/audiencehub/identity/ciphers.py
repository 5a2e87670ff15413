"""Deterministic encryption of declared IDs.

``AesCbcCipher`` is the campaign-compatible algorithm: AES-CBC, PKCS#7 padding, a
fixed IV, lowercase hex out. It is deterministic on purpose (equal inputs give
equal outputs, so encrypted IDs can be matched) and it is not authenticated: a
wrong key usually fails the padding or UTF-8 check, but cannot be guaranteed to.

``AesSivCipher`` (RFC 5297) is deterministic *and* authenticated, and prefixes
its output with a key id so keys can rotate: a tampered or foreign value is
rejected instead of decrypting to garbage.

Keys never appear in ``repr`` or error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from audiencehub.errors import DecryptionFailed, InvalidKey

__all__ = ["AesCbcCipher", "AesSivCipher", "DeclaredIdCipher", "parse_hex_key"]

_BLOCK_BYTES = 16
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SIV_CONTEXT = b"audiencehub declared id v1"


class DeclaredIdCipher(Protocol):
    """What a data source's encryption offers: text in, lowercase hex out, and back."""

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a declared ID."""
        ...

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt a declared ID; raise :class:`DecryptionFailed` when it cannot."""
        ...


def parse_hex_key(text: str, *, what: str, sizes: tuple[int, ...]) -> bytes:
    """Read a key or IV given as hex, checking its size without echoing its value."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise InvalidKey(f"the {what} is not hexadecimal", hint="Give it as hex digits.") from None
    if len(raw) not in sizes:
        allowed = ", ".join(str(size * 8) for size in sizes)
        raise InvalidKey(
            f"the {what} is {len(raw) * 8} bits; it must be {allowed} bits",
            hint=f"Give {' or '.join(str(size * 2) for size in sizes)} hex digits.",
        )
    return raw


def _ciphertext_bytes(text: str) -> bytes:
    body = text.strip()
    if body[:1] in ("x", "X"):
        body = body[1:]
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raise DecryptionFailed(f"{text!r} is not hexadecimal ciphertext") from None
    if not raw:
        raise DecryptionFailed("the ciphertext is empty")
    return raw


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionFailed(
            "the decrypted bytes are not UTF-8 text: wrong key or IV, or altered ciphertext"
        ) from None


@dataclass(frozen=True)
class AesCbcCipher:
    """AES-CBC with PKCS#7 padding and a fixed IV: the campaign-compatible algorithm."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    @classmethod
    def from_hex(cls, key_hex: str, iv_hex: str) -> AesCbcCipher:
        """Build from the hex key (128, 192 or 256 bits) and hex IV (128 bits)."""
        key = parse_hex_key(key_hex, what="AES-CBC key", sizes=(16, 24, 32))
        iv = parse_hex_key(iv_hex, what="AES-CBC IV", sizes=(16,))
        return cls(key, iv)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.iv))

    def encrypt(self, plaintext: str) -> str:
        """Encrypt to lowercase hex; equal inputs give equal outputs."""
        padder = padding.PKCS7(_BLOCK_BYTES * 8).padder()
        padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return (encryptor.update(padded) + encryptor.finalize()).hex()

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt hex, with or without a leading ``x``."""
        raw = _ciphertext_bytes(ciphertext)
        if len(raw) % _BLOCK_BYTES:
            raise DecryptionFailed(
                f"the ciphertext is {len(raw)} bytes, not a whole number of 16-byte blocks"
            )
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(_BLOCK_BYTES * 8).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise DecryptionFailed(
                "the padding check failed: wrong key or IV, or altered ciphertext"
            ) from None
        return _utf8(plain)


@dataclass(frozen=True)
class AesSivCipher:
    """AES-SIV (RFC 5297): deterministic, authenticated, with key ids for rotation.

    Output is ``<key id>.<hex>`` when a key id is set, else the hex alone. A
    cipher decrypts values under its own key id and any listed in ``previous``.
    """

    key: bytes = field(repr=False)
    key_id: str | None = None
    previous: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for key_id in [self.key_id, *self.previous]:
            if key_id is not None and not _KEY_ID.match(key_id):
                raise InvalidKey(
                    f"{key_id!r} is not a key id",
                    hint="A key id is 1 to 32 letters, digits, '_' or '-'.",
                )

    @classmethod
    def from_hex(cls, key_hex: str, key_id: str | None = None) -> AesSivCipher:
        """Build from a hex key of 256, 384 or 512 bits (SIV splits it in two)."""
        return cls(parse_hex_key(key_hex, what="AES-SIV key", sizes=(32, 48, 64)), key_id)

    @staticmethod
    def _associated(key_id: str | None) -> list[bytes]:
        return [_SIV_CONTEXT, (key_id or "").encode("ascii")]

    def encrypt(self, plaintext: str) -> str:
        """Encrypt to lowercase hex, prefixed with the key id when there is one."""
        sealed = AESSIV(self.key).encrypt(plaintext.encode("utf-8"), self._associated(self.key_id))
        return f"{self.key_id}.{sealed.hex()}" if self.key_id else sealed.hex()

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt and authenticate; a tampered or foreign value is refused."""
        key_id, dot, body = ciphertext.strip().rpartition(".")
        key_id_or_none = key_id if dot else None
        keys: dict[str | None, bytes] = {self.key_id: self.key}
        keys.update(self.previous)
        if key_id_or_none not in keys:
            raise DecryptionFailed(
                f"the value was encrypted under key id {key_id_or_none!r}, which this "
                "data source does not hold",
                hint="Add the old key to the data source's previous keys, or re-encrypt.",
            )
        raw = _ciphertext_bytes(body)
        try:
            plain = AESSIV(keys[key_id_or_none]).decrypt(raw, self._associated(key_id_or_none))
        except InvalidTag:
            raise DecryptionFailed(
                "the value fails authentication: it was altered, or encrypted with another key"
            ) from None
        return _utf8(plain)
