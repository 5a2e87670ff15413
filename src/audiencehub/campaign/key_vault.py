"""Encryption at rest of data-source keys, under the workspace's master key.

The master key comes from ``AUDIENCEHUB_MASTER_KEY`` (a Fernet key), else from
``master.key`` in the workspace, created on first use with owner-only
permissions. Stored secrets are Fernet tokens: a copied database without the
master key reveals no data-source key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from audiencehub.errors import ConfigurationError
from audiencehub.files import write_private

__all__ = ["KeyVault"]

_ENV = "AUDIENCEHUB_MASTER_KEY"


class KeyVault:
    """Seals and opens small JSON secrets with the workspace master key."""

    def __init__(self, workspace: Path) -> None:
        self._path = workspace / "master.key"

    def _fernet(self) -> Fernet:
        key = os.environ.get(_ENV)
        if key is None:
            if not self._path.exists():
                # another process may make it first: then its key is the one
                with contextlib.suppress(FileExistsError):
                    write_private(self._path, Fernet.generate_key(), exclusive=True)
            key = self._path.read_text(encoding="ascii").strip()
        try:
            return Fernet(key)
        except ValueError:
            raise ConfigurationError(
                "the workspace master key is malformed",
                hint=f"Set {_ENV} to a key made by cryptography's Fernet.generate_key().",
            ) from None

    def derive(self, purpose: str) -> bytes:
        """A secret for one purpose (signing tracked links, ...), derived from the master key."""
        self._fernet()  # creates the master key on first use
        key = os.environ.get(_ENV) or self._path.read_text(encoding="ascii").strip()
        return hmac.new(key.encode("ascii"), purpose.encode("utf-8"), hashlib.sha256).digest()

    def seal(self, secret: dict[str, Any]) -> bytes:
        """Encrypt a secret for storage."""
        return self._fernet().encrypt(json.dumps(secret).encode("utf-8"))

    def open(self, sealed: bytes) -> dict[str, Any]:
        """Decrypt a stored secret."""
        try:
            opened: dict[str, Any] = json.loads(self._fernet().decrypt(sealed))
        except InvalidToken:
            raise ConfigurationError(
                "a stored data-source key cannot be decrypted with this workspace's master key",
                hint=f"Use the master key the secret was stored with ({_ENV} or master.key).",
            ) from None
        return opened
