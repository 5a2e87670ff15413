"""PGP keys of data sources: partners encrypt inbound files to them, ingest decrypts.

Adobe lets partners PGP-encrypt inbound files (``.pgp``/``.gpg``, "File PGP
Encryption for Inbound Data Types"). Each data source here has its own key pair:
its owner gives partners the public key and the service decrypts with the
private one. Private keys are secrets, so they live as owner-only files in the
workspace (``pgp/<DPID>.key``, like ``master.key``), never in the database, a
log or an answer; only the public key is ever printed. The OpenPGP work is
Sequoia's (``pysequoia``); nothing here is hand-written cryptography.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pysequoia

from audiencehub.errors import ConfigurationError, InputFileError, InvalidInput
from audiencehub.files import private_dir, write_private

__all__ = ["PgpKeys"]

_PROBE = b"audiencehub key probe\n"


def _first_line(exc: Exception) -> str:
    """Sequoia's message without its Rust backtrace."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _usable(secret: bytes) -> pysequoia.Tsk:
    """The private key in ``secret``, proven able to decrypt what is encrypted to it."""
    hint = (
        "Give an ASCII-armored private key without a passphrase "
        "(gpg --export-secret-keys --armor KEYID)."
    )
    try:
        key = pysequoia.Tsk.from_bytes(secret)
        probe = pysequoia.encrypt(recipients=[key.extract_certificate()], bytes=_PROBE)
        decrypted = pysequoia.decrypt(decryptor=key.decryptor(), bytes=probe).bytes
    except (RuntimeError, ValueError, TypeError) as exc:
        raise InvalidInput(
            f"not a usable OpenPGP private key: {_first_line(exc)}", hint=hint
        ) from None
    if decrypted != _PROBE:
        raise InvalidInput("not a usable OpenPGP private key: it misreads its own messages")
    return key


@dataclass(frozen=True)
class PgpKeys:
    """The data sources' private keys, in a workspace folder."""

    folder: Path

    @classmethod
    def of(cls, workspace: Path) -> PgpKeys:
        """The keys of the workspace in ``workspace`` (its ``pgp/`` folder)."""
        return cls(workspace / "pgp")

    def _path(self, dpid: int) -> Path:
        return self.folder / f"{int(dpid)}.key"

    def generate(self, dpid: int, user_id: str) -> str:
        """Make a key pair for ``dpid`` (replacing none) and return its public key."""
        if self._path(dpid).exists():
            raise InvalidInput(
                f"data source {dpid} already has a PGP key",
                hint=f"Print its public key with 'audiencehub people datasources pgp-key {dpid}'; "
                "a key is never replaced silently.",
            )
        return self.store(dpid, str(pysequoia.Tsk.generate(user_id)).encode("ascii"))

    def store(self, dpid: int, secret: bytes) -> str:
        """Keep ``secret`` (a private key) for ``dpid``; return its public key."""
        key = _usable(secret)
        write_private(private_dir(self.folder) / f"{int(dpid)}.key", secret)
        return str(key.extract_certificate())

    def public(self, dpid: int) -> str:
        """The public key partners encrypt ``dpid``'s files to."""
        return str(self._load(dpid).extract_certificate())

    def _load(self, dpid: int) -> pysequoia.Tsk:
        path = self._path(dpid)
        if not path.exists():
            raise ConfigurationError(
                f"data source {dpid} has no PGP key, so its encrypted files cannot be read",
                hint=f"Run: audiencehub people datasources pgp-key {dpid} --generate "
                "(or --import FILE), then give partners the public key it prints.",
            )
        return _usable(path.read_bytes())

    def decrypt_file(self, dpid: int, source: Path, target: Path, name: str) -> None:
        """Decrypt ``source`` into ``target`` with ``dpid``'s key (streamed by Sequoia)."""
        key = self._load(dpid)
        try:
            pysequoia.decrypt_file(decryptor=key.decryptor(), input=str(source), output=str(target))
        except (RuntimeError, ValueError) as exc:
            raise InputFileError(
                f"{name} cannot be decrypted with data source {dpid}'s key: {_first_line(exc)}",
                hint="Encrypt to the public key printed by "
                f"'audiencehub people datasources pgp-key {dpid}', without gzip.",
            ) from None
