"""Identifier checks and decoders as SQL expressions for the bulk engine.

Each mirrors a function of :mod:`audiencehub.identity` exactly (property tests
hold them to the same answers on arbitrary input), so a batch read in DuckDB
accepts and refuses the same IDs as one read line by line.
"""

from __future__ import annotations

from audiencehub.engines.dialect import DUCKDB, Dialect
from audiencehub.engines.session import sql_text
from audiencehub.identity.hashing import DIGEST_PATTERNS
from audiencehub.identity.schemes import DigestEncoding, HashScheme
from audiencehub.identity.visitor import MAX_HALF

__all__ = ["digest_of", "visitor_valid"]


def visitor_valid(column: str, dialect: Dialect = DUCKDB) -> str:
    """SQL: ``column`` is a visitor ID, exactly as :meth:`VisitorId.parse` decides."""
    digits = dialect.full_match(column, "'[0-9]{38}'")
    halves = " ".join(
        f"AND {dialect.unsigned(f'substr({column}, {start}, 19)')} <= {MAX_HALF}"
        for start in (1, 20)
    )
    return f"({digits} {halves})"


def digest_of(column: str, scheme: HashScheme, dialect: Dialect = DUCKDB) -> str:
    """SQL: ``column`` decoded to its 32 raw bytes under ``scheme``, NULL when it is no digest."""
    b64_pattern = sql_text(DIGEST_PATTERNS[DigestEncoding.BASE64])
    decoders = {
        # unhex refuses any character that is not a hex digit: on 64 characters
        # this is the pattern, at two thirds of the regular expression's cost
        DigestEncoding.HEX: f"CASE WHEN length({column}) = 64 THEN {dialect.hex_bytes(column)} END",
        DigestEncoding.BASE64: (
            f"CASE WHEN {dialect.full_match(column, b64_pattern)} "
            f"THEN {dialect.base64_bytes(column)} END"
        ),
    }
    parts = [decoders[encoding] for encoding in scheme.accepted_encodings]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
