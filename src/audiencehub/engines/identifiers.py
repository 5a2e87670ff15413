"""Identifier checks and decoders as SQL expressions for the bulk engine.

Each mirrors a function of :mod:`audiencehub.identity` exactly (property tests
hold them to the same answers on arbitrary input), so a batch read in DuckDB
accepts and refuses the same IDs as one read line by line.
"""

from __future__ import annotations

from audiencehub.engines.session import sql_text
from audiencehub.identity.hashing import DIGEST_PATTERNS
from audiencehub.identity.schemes import DigestEncoding, HashScheme
from audiencehub.identity.visitor import MAX_HALF

__all__ = ["digest_of", "visitor_valid"]


def visitor_valid(column: str) -> str:
    """SQL: ``column`` is a visitor ID, exactly as :meth:`VisitorId.parse` decides."""
    return (
        f"(regexp_full_match({column}, '[0-9]{{38}}') "
        f"AND TRY_CAST(substr({column}, 1, 19) AS UBIGINT) <= {MAX_HALF} "
        f"AND TRY_CAST(substr({column}, 20, 19) AS UBIGINT) <= {MAX_HALF})"
    )


def digest_of(column: str, scheme: HashScheme) -> str:
    """SQL: ``column`` decoded to its 32 raw bytes under ``scheme``, NULL when it is no digest."""
    b64_pattern = sql_text(DIGEST_PATTERNS[DigestEncoding.BASE64])
    decoders = {
        # unhex refuses any character that is not a hex digit: on 64 characters
        # this is the pattern, at two thirds of the regular expression's cost
        DigestEncoding.HEX: f"CASE WHEN length({column}) = 64 THEN try(unhex({column})) END",
        DigestEncoding.BASE64: (
            f"CASE WHEN regexp_full_match({column}, {b64_pattern}) THEN from_base64({column}) END"
        ),
    }
    parts = [decoders[encoding] for encoding in scheme.accepted_encodings]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
