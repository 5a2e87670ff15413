"""Pure identity functions: visitor IDs, declared IDs, normalisation, hashing, ciphers.

Nothing here does I/O; the campaign and people systems both build on it.
"""

from audiencehub.identity.ciphers import AesCbcCipher, AesSivCipher, DeclaredIdCipher
from audiencehub.identity.declared import (
    AuthState,
    DeclaredIdSync,
    format_declared_sync,
    parse_declared_sync,
    parse_declared_sync_param,
)
from audiencehub.identity.hashing import decode_digest, digest, encode_digest, hash_id
from audiencehub.identity.normalize import normalize, normalize_email, normalize_phone, to_e164
from audiencehub.identity.schemes import HashScheme, IdKind
from audiencehub.identity.visitor import (
    VisitorId,
    amcv_cookie_name,
    format_amcv,
    visitor_id_from_amcv,
)

__all__ = [
    "AesCbcCipher",
    "AesSivCipher",
    "AuthState",
    "DeclaredIdCipher",
    "DeclaredIdSync",
    "HashScheme",
    "IdKind",
    "VisitorId",
    "amcv_cookie_name",
    "decode_digest",
    "digest",
    "encode_digest",
    "format_amcv",
    "format_declared_sync",
    "hash_id",
    "normalize",
    "normalize_email",
    "normalize_phone",
    "parse_declared_sync",
    "parse_declared_sync_param",
    "to_e164",
    "visitor_id_from_amcv",
]
