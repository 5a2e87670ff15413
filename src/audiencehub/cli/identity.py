"""``audiencehub id``: visitor IDs, declared-ID syncs, normalisation, hashing, ciphers.

Each command prints its value alone on stdout; errors go to stderr with exit code 2.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from audiencehub.cli.output import print_json, print_value
from audiencehub.errors import InvalidInput
from audiencehub.identity import (
    AesCbcCipher,
    AesSivCipher,
    AuthState,
    DeclaredIdCipher,
    DeclaredIdSync,
    HashScheme,
    IdKind,
    VisitorId,
    format_declared_sync,
    hash_id,
    normalize,
    parse_declared_sync_param,
)
from audiencehub.identity.visitor import amcv_cookie_name, format_amcv, visitor_id_from_amcv

__all__ = ["app"]

app = typer.Typer(help="Identity tools: visitor IDs, declared IDs, hashing and encryption.")
visitor_app = typer.Typer(help="Visitor IDs (38 digits) and the AMCV_ cookie.")
dcid_app = typer.Typer(help="Declared-ID syncs (d_cid / d_cid_ic).")
app.add_typer(visitor_app, name="visitor")
app.add_typer(dcid_app, name="dcid")


class Algorithm(enum.StrEnum):
    """Ciphers a data source can use for declared IDs."""

    AES_CBC = "aes-cbc"
    AES_SIV = "aes-siv"


SchemeOption = Annotated[HashScheme, typer.Option("--scheme", help="Hashing scheme.")]
KindOption = Annotated[IdKind, typer.Option("--kind", help="What the value is.")]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="Country (ISO code) to read national phone numbers.")
]
AlgorithmOption = Annotated[Algorithm, typer.Option("--algorithm", help="Cipher.")]
KeyOption = Annotated[
    str,
    typer.Option(
        "--key",
        envvar="AUDIENCEHUB_ENC_KEY",
        show_envvar=True,
        help="Key as hex (AES-CBC: 128/192/256 bits; AES-SIV: 256/384/512 bits).",
    ),
]
IvOption = Annotated[
    str | None,
    typer.Option(
        "--iv", envvar="AUDIENCEHUB_ENC_IV", show_envvar=True, help="AES-CBC IV, 128 bits as hex."
    ),
]
KeyIdOption = Annotated[
    str | None, typer.Option("--key-id", help="AES-SIV key id, written before the ciphertext.")
]


@visitor_app.command("new")
def visitor_new() -> None:
    """Print a new, random, valid visitor ID."""
    print_value(VisitorId.new())


@visitor_app.command("check")
def visitor_check(visitor_id: Annotated[str, typer.Argument(help="The ID to check.")]) -> None:
    """Exit 0 when VISITOR_ID is a valid visitor ID, else 2 with the reason."""
    print_value(VisitorId.parse(visitor_id))


@visitor_app.command("cookie")
def visitor_cookie(
    visitor_id: Annotated[str, typer.Argument(help="The visitor ID to put in the cookie.")],
    org_id: Annotated[str, typer.Option("--org-id", help="Organisation id, e.g. ABC123@AdobeOrg.")],
    existing: Annotated[
        str | None,
        typer.Option("--existing", help="Current cookie value, whose other pairs are kept."),
    ] = None,
    with_name: Annotated[bool, typer.Option("--with-name", help="Print NAME=VALUE.")] = False,
) -> None:
    """Print the AMCV_ cookie value carrying VISITOR_ID."""
    value = format_amcv(VisitorId.parse(visitor_id), existing)
    print_value(f"{amcv_cookie_name(org_id)}={value}" if with_name else value)


@visitor_app.command("from-cookie")
def visitor_from_cookie(
    value: Annotated[str, typer.Argument(help="An AMCV_ cookie value (raw or URL-encoded).")],
) -> None:
    """Print the visitor ID (MCMID) an AMCV_ cookie value carries."""
    print_value(visitor_id_from_amcv(value))


@dcid_app.command("parse")
def dcid_parse(
    fragment: Annotated[str, typer.Argument(help="A query fragment: d_cid=... or d_cid_ic=...")],
) -> None:
    """Print a d_cid / d_cid_ic sync as JSON."""
    sync = parse_declared_sync_param(fragment)
    print_json(
        {
            "param": sync.param,
            "namespace": sync.namespace,
            "declared_id": sync.declared_id,
            "auth_state": int(sync.auth_state),
            "auth_state_name": sync.auth_state.name.lower(),
        }
    )


@dcid_app.command("format")
def dcid_format(
    declared_id: Annotated[str, typer.Option("--id", help="The declared ID.")],
    dpid: Annotated[int | None, typer.Option("--dpid", help="Numeric data source id.")] = None,
    integration_code: Annotated[
        str | None, typer.Option("--integration-code", help="Data source integration code.")
    ] = None,
    auth_state: Annotated[
        int,
        typer.Option(
            "--auth-state", min=0, max=2, help="0 unknown, 1 authenticated, 2 logged out."
        ),
    ] = 0,
) -> None:
    """Print the URL-encoded d_cid (or d_cid_ic) query fragment."""
    if (dpid is None) == (integration_code is None):
        raise InvalidInput("give exactly one of --dpid and --integration-code")
    namespace = str(dpid) if dpid is not None else str(integration_code)
    sync = DeclaredIdSync(namespace, declared_id, AuthState(auth_state), dpid is None)
    print_value(format_declared_sync(sync))


@app.command("normalize")
def normalize_command(
    value: Annotated[str, typer.Argument(help="Email or phone number.")],
    scheme: SchemeOption,
    kind: KindOption,
    region: RegionOption = None,
) -> None:
    """Print VALUE normalised the way SCHEME does before hashing."""
    print_value(normalize(value, scheme, kind, region))


@app.command("hash")
def hash_command(
    value: Annotated[str, typer.Argument(help="Email or phone number.")],
    scheme: SchemeOption,
    kind: KindOption,
    region: RegionOption = None,
) -> None:
    """Print the SHA-256 of VALUE, normalised and encoded the way SCHEME does."""
    print_value(hash_id(value, scheme, kind, region))


def _cipher(algorithm: Algorithm, key: str, iv: str | None, key_id: str | None) -> DeclaredIdCipher:
    if algorithm is Algorithm.AES_CBC:
        if iv is None:
            raise InvalidInput("AES-CBC needs an IV", hint="Pass --iv HEX (32 hex digits).")
        return AesCbcCipher.from_hex(key, iv)
    if iv is not None:
        raise InvalidInput("AES-SIV takes no IV", hint="Drop --iv; AES-SIV derives its own.")
    return AesSivCipher.from_hex(key, key_id)


@app.command("encrypt")
def encrypt_command(
    value: Annotated[str, typer.Argument(help="The declared ID to encrypt.")],
    algorithm: AlgorithmOption,
    key: KeyOption,
    iv: IvOption = None,
    key_id: KeyIdOption = None,
) -> None:
    """Print VALUE encrypted (lowercase hex; deterministic)."""
    print_value(_cipher(algorithm, key, iv, key_id).encrypt(value))


@app.command("decrypt")
def decrypt_command(
    value: Annotated[str, typer.Argument(help="Hex ciphertext (a leading x is accepted).")],
    algorithm: AlgorithmOption,
    key: KeyOption,
    iv: IvOption = None,
    key_id: KeyIdOption = None,
) -> None:
    """Print VALUE decrypted; wrong keys and altered input are refused."""
    if algorithm is Algorithm.AES_SIV and key_id is None and "." in value:
        key_id = value.rpartition(".")[0]  # the key given is the one to use, whatever its id
    print_value(_cipher(algorithm, key, iv, key_id).decrypt(value))
