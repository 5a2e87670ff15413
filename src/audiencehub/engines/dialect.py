"""The few SQL spellings in which the bulk engines differ.

The batch jobs' queries are written once; where DuckDB and Spark SQL spell a
function differently (or not at all), the query asks its session's dialect.
Everything else they share is standard SQL. Each spelling keeps the exact
meaning of the reference implementation in :mod:`audiencehub.identity` (the
differential tests hold both engines to the same answers):

- full matches are anchored at the very end of the text: Java's ``$`` also
  matches before a final line break, RE2's does not, so Spark uses ``\\z``;
- a failed decode (not hex, not base64) is NULL, never an error: Spark runs
  in ANSI mode, where ``unhex`` and ``element_at`` would fail the job.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DUCKDB", "SPARK", "Dialect"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine spells the functions the batch queries need."""

    name: str

    @property
    def spark(self) -> bool:
        """Whether this is Spark SQL (else DuckDB)."""
        return self.name == "spark"

    def full_match(self, column: str, pattern_literal: str) -> str:
        """SQL: the whole of ``column`` matches the pattern (a SQL string literal)."""
        if self.spark:
            return f"({column} RLIKE concat('^(?:', {pattern_literal}, ')\\\\z'))"
        return f"regexp_full_match({column}, {pattern_literal})"

    def size(self, array: str) -> str:
        """SQL: how many elements ``array`` has."""
        return f"array_size({array})" if self.spark else f"len({array})"

    def hex_bytes(self, column: str) -> str:
        """SQL: ``column`` as bytes when it is hex digits only, else NULL."""
        return f"try_to_binary({column}, 'hex')" if self.spark else f"try(unhex({column}))"

    def base64_bytes(self, column: str) -> str:
        """SQL: ``column`` decoded from base64 (the caller checks the pattern first)."""
        return f"try_to_binary({column}, 'base64')" if self.spark else f"from_base64({column})"

    def unsigned(self, column: str) -> str:
        """SQL: ``column`` as an unsigned 64-bit number, NULL when it is none."""
        return (
            f"try_cast({column} AS DECIMAL(20, 0))"
            if self.spark
            else f"TRY_CAST({column} AS UBIGINT)"
        )

    def arg_max(self, value: str, by: str) -> str:
        """SQL aggregate: ``value`` of the row with the largest ``by``."""
        return f"max_by({value}, {by})" if self.spark else f"arg_max({value}, {by})"

    def item(self, array: str, position: int) -> str:
        """SQL: element ``position`` (from 1) of ``array``, NULL past its end."""
        if self.spark:
            return f"try_element_at({array}, {position})"
        return f"{array}[{position}]"

    def split(self, column: str, separator: str) -> str:
        """SQL: ``column`` split on a one-character ``separator`` (empty parts kept)."""
        if self.spark:  # Spark splits on a regular expression: escape the character
            return f"split({column}, '\\\\{separator}', -1)"
        return f"string_split({column}, '{separator}')"

    def bit(self, position: str) -> str:
        """SQL: a 64-bit mask with bit ``position`` (0 to 63) set. DuckDB's masks are
        unsigned; Spark has no unsigned type, and bit 63 is its sign bit, which the
        bitwise operators treat like any other."""
        if self.spark:
            return f"shiftleft(CAST(1 AS BIGINT), {position})"
        return f"(1::UBIGINT << {position})"

    @property
    def no_bits(self) -> str:
        """SQL: the empty 64-bit mask."""
        return "CAST(0 AS BIGINT)" if self.spark else "0::UBIGINT"

    def text(self, value: str) -> str:
        """``value`` as a string literal of this engine: Spark reads backslash escapes in
        its literals, so a regular expression's backslashes are doubled for it."""
        if self.spark:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + value.replace("'", "''") + "'"

    def byte_length(self, column: str) -> str:
        """SQL: the length of ``column`` in UTF-8 bytes."""
        return f"octet_length({column})" if self.spark else f"strlen({column})"

    def thousands(self, number: str) -> str:
        """SQL: an integer as text with a comma every three digits (``12,345``)."""
        return f"format_number({number}, 0)" if self.spark else f"format('{{:,}}', {number})"

    def finds(self, column: str, pattern_literal: str) -> str:
        """SQL: the pattern (a literal from :meth:`text`) matches somewhere in ``column``."""
        if self.spark:
            return f"({column} RLIKE {pattern_literal})"
        return f"regexp_matches({column}, {pattern_literal})"

    def matches_of(self, column: str, pattern_literal: str) -> str:
        """SQL: every non-overlapping match of the pattern in ``column``, as a list."""
        if self.spark:
            return f"regexp_extract_all({column}, {pattern_literal}, 0)"
        return f"regexp_extract_all({column}, {pattern_literal})"

    def arg_min(self, value: str, by: str) -> str:
        """SQL aggregate: ``value`` of the row with the smallest ``by``."""
        return f"min_by({value}, {by})" if self.spark else f"arg_min({value}, {by})"

    def ordered_list(self, value: str, by: str) -> str:
        """SQL aggregate: the values as a list ordered by ``by`` (distinct ``by``s)."""
        if self.spark:
            return (
                f"transform(array_sort(collect_list(named_struct('o', {by}, 'v', {value}))), "
                "x -> x.v)"
            )
        # sorting a list of structs is several times faster than an ordered aggregate
        return f"list_transform(list_sort(list({{'o': {by}, 'v': {value}}})), x -> x.v)"

    def unnest(self, array: str) -> str:
        """SQL, in a select list: one row per element of ``array``."""
        return f"explode({array})" if self.spark else f"unnest({array})"

    def count_pairs(self, first: str, second: str) -> str:
        """SQL aggregate: how many distinct (``first``, ``second``) pairs there are."""
        if self.spark:
            return f"count(DISTINCT {first}, {second})"
        return f"count(DISTINCT ({first}, {second}))"

    @property
    def null_text(self) -> str:
        """SQL: a NULL of the text type."""
        return "CAST(NULL AS STRING)" if self.spark else "NULL::VARCHAR"

    @property
    def tab(self) -> str:
        """SQL: the tab character."""
        return "'\\t'" if self.spark else "chr(9)"

    @property
    def cr(self) -> str:
        """SQL: the carriage return character."""
        return "'\\r'" if self.spark else "chr(13)"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")
