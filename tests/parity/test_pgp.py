"""Parity: PGP-encrypted inbound files, decrypted with the data source's private key.

Source: "File PGP Encryption for Inbound Data Types" (AdobeDocs/audience-manager.en):
"All encrypted data must use .pgp or .gpg as the file extension (e.g.
ftp_dpm_100_123456789.sync.pgp or ftp_dpm_100_123456789.overwrite.gpg)"; PGP
compresses, so a PGP file is not also gzip-compressed. Driven through the CLI, with real
OpenPGP keys and messages made by Sequoia.
"""

from __future__ import annotations

import json
import stat

import pysequoia

from tests.helpers import cli_ok


def _setup(cli, tmp_path):
    ws = str(tmp_path / "ws")
    cli_ok(cli, "init", ws)
    cli_ok(cli, "people", "datasources", "add", "--id", "100", "--name", "CRM",
        "--inbound-id-type", "customer", "-w", ws)  # fmt: skip
    cli_ok(cli, "people", "traits", "add", "--id", "101", "--name", "T101",
        "--datasource", "100", "-w", ws)  # fmt: skip
    return ws


def _encrypt(public: str, text: str, *, armor: bool) -> bytes:
    cert = pysequoia.Cert.from_bytes(public.encode("ascii"))
    message = pysequoia.encrypt(recipients=[cert], bytes=text.encode("utf-8"), armor=armor)
    return message if isinstance(message, bytes) else message.encode("ascii")


def _ingest(cli, ws, drop):
    return json.loads(cli_ok(cli, "people", "ingest", "--from", str(drop), "--json", "-w", ws).out)


def test_encrypted_files_are_decrypted_with_the_sources_key(cli, tmp_path):
    """Both documented names, binary and armored messages: applied like plain files."""
    ws = _setup(cli, tmp_path)
    public = cli_ok(cli, "people", "datasources", "pgp-key", "100", "--generate",
                 "CRM <crm@example.com>", "-w", ws).out  # fmt: skip
    assert public.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert "PRIVATE" not in public
    assert cli_ok(cli, "people", "datasources", "pgp-key", "100", "-w", ws).out == public
    key_file = tmp_path / "ws" / "pgp" / "100.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    drop = tmp_path / "in"
    drop.mkdir()
    (drop / "ftp_dpm_100_1764300000.sync.pgp").write_bytes(
        _encrypt(public, "c1\td_sid=101\nc2\td_sid=101\n", armor=False)
    )
    (drop / "ftp_dpm_100_1764300100.overwrite.gpg").write_bytes(
        _encrypt(public, "c3\td_sid=101\n", armor=True)
    )
    receipts = _ingest(cli, ws, drop)
    assert [(r["status"], r["stored_records"]) for r in receipts] == [
        ("applied", 2),
        ("applied", 1),
    ]
    cli_ok(cli, "people", "segments", "add", "--id", "900", "--name", "S", "--rule", "T101",
        "-w", ws)  # fmt: skip
    shown = cli_ok(cli, "people", "segments", "show", "900", "--json", "-w", ws).out
    assert json.loads(shown)["size"] == 3
    assert not list(tmp_path.glob("**/*.txt"))  # no decrypted copy is left behind


def test_a_file_for_another_key_or_without_a_key_is_refused_and_retried(cli, tmp_path):
    """The batch is refused whole with the reason and the fix, and applies once readable."""
    ws = _setup(cli, tmp_path)
    drop = tmp_path / "in"
    drop.mkdir()
    stranger = str(pysequoia.Tsk.generate("Someone <x@example.com>").extract_certificate())
    encrypted = drop / "ftp_dpm_100_1764300000.sync.pgp"
    encrypted.write_bytes(_encrypt(stranger, "c1\td_sid=101\n", armor=False))
    [missing] = _ingest(cli, ws, drop)
    assert missing["status"] == "refused"
    assert "has no PGP key" in missing["problems"][0]
    assert "pgp-key 100 --generate" in missing["problems"][0]

    public = cli_ok(cli, "people", "datasources", "pgp-key", "100", "--generate",
                 "CRM <crm@example.com>", "-w", ws).out  # fmt: skip
    [wrong] = _ingest(cli, ws, drop)
    assert wrong["status"] == "refused"
    assert "cannot be decrypted with data source 100's key" in wrong["problems"][0]

    encrypted.write_bytes(_encrypt(public, "c1\td_sid=101\n", armor=False))
    [applied] = _ingest(cli, ws, drop)
    assert (applied["status"], applied["stored_records"]) == ("applied", 1)


def test_keys_are_checked_and_never_replaced_silently(cli, tmp_path):
    """A public key is not a private key; a second --generate is refused."""
    ws = _setup(cli, tmp_path)
    public_only = tmp_path / "public.asc"
    public_only.write_text(
        str(pysequoia.Tsk.generate("A <a@example.com>").extract_certificate()), "ascii"
    )
    refused = cli("people", "datasources", "pgp-key", "100", "--import", str(public_only),
                  "-w", ws)  # fmt: skip
    assert refused.code == 2 and "not a usable OpenPGP private key" in refused.err
    private = tmp_path / "private.asc"
    private.write_text(str(pysequoia.Tsk.generate("B <b@example.com>")), "ascii")
    shown = cli_ok(cli, "people", "datasources", "pgp-key", "100", "--import", str(private),
                "-w", ws).out  # fmt: skip
    assert shown.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    again = cli("people", "datasources", "pgp-key", "100", "--generate", "C <c@x.org>", "-w", ws)
    assert again.code == 2 and "already has a PGP key" in again.err
