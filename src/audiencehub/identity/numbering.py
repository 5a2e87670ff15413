"""A fast path for plain phone numbers: the E.164 form ``phonenumbers`` gives, from its own plans.

``phonenumbers.parse`` costs about 20 microseconds a number, most of it spent
on what a number written as bare digits does not need (finding the number in
free text, extensions, letters, punctuation). On a profile import that alone
capped a core at 50,000 rows/s. A plain number (``+`` and digits, or national
digits with a region; spaces, dots, dashes and brackets allowed) is read here
with the library's own numbering-plan data (country codes, international and
national prefixes, national number patterns, possible lengths) by the same
steps the library takes, in a few microseconds.

Like the email fast path, it only ever *accepts*: whenever a step would take a
branch it does not follow (a transformed national prefix, an international
prefix, a number that starts with its own country code, a leading zero, a
length the plan does not allow), it answers ``None`` and the caller asks the
library, which gives the answer and every reason for a refusal. A property test
holds it to the library over every region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import duckdb
import phonenumbers
from phonenumbers import PhoneMetadata

from audiencehub.engines.session import sql_in, sql_text

__all__ = [
    "country_code_sql",
    "plain_e164",
    "read_plain_numbers",
]

# A plus sign, then digits with the punctuation people write in numbers ("(415) 555-0100"),
# which the library drops before reading the digits: no letters, no extension marks.
_PLAIN = re.compile(r"(\+?)([0-9 ().\-]+)")
_NOT_DIGIT = re.compile(r"[^0-9]")
_DIGITS = range(3, 20)
_MAX_COUNTRY_CODE_DIGITS = 3
_NSN_LENGTHS = range(2, 18)  # the library's shortest and longest national significant numbers


@dataclass(frozen=True)
class _Plan:
    """What the steps below read from one region's metadata, compiled once."""

    country_code: int
    international_prefix: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    transforms: bool  # the national prefix is rewritten, not only stripped: left to the library
    national_number: re.Pattern[str] | None
    lengths: frozenset[int]
    local_lengths: frozenset[int]
    shortest: int
    longest: int

    def length_result(self, nsn: str) -> str:
        """The library's length test of a national number, as one word."""
        size = len(nsn)
        if size in self.local_lengths:
            return "local"
        if size < self.shortest:
            return "short"
        if size > self.longest:
            return "long"
        return "possible" if size in self.lengths else "invalid"

    def national_number_fits(self, digits: str) -> bool:
        pattern = self.national_number
        return pattern is not None and pattern.fullmatch(digits) is not None

    def strip_national_prefix(self, digits: str) -> str | None:
        """The number with its national prefix stripped as the library strips it on parsing;
        ``None`` when the library would take a branch this path leaves to it."""
        if self.national_prefix is None:
            return digits
        found = self.national_prefix.match(digits)
        if found is None:
            return digits
        groups = found.groups()
        if self.transforms and groups and groups[-1] is not None:
            return None
        rest = digits[found.end() :]
        if self.national_number_fits(digits) and not self.national_number_fits(rest):
            return digits
        # parse keeps the stripped form only when its length is possible (or too long)
        return rest if self.length_result(rest) in ("possible", "long") else digits


@cache
def _plan(region: str) -> _Plan | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.general_desc is None or metadata.country_code is None:
        return None
    general = metadata.general_desc
    lengths = tuple(general.possible_length or ())
    if not lengths or lengths[0] < 0:
        return None
    return _Plan(
        country_code=metadata.country_code,
        international_prefix=re.compile(metadata.international_prefix)
        if metadata.international_prefix
        else None,
        national_prefix=re.compile(metadata.national_prefix_for_parsing)
        if metadata.national_prefix_for_parsing
        else None,
        transforms=bool(metadata.national_prefix_transform_rule),
        national_number=re.compile(general.national_number_pattern)
        if general.national_number_pattern
        else None,
        lengths=frozenset(lengths),
        local_lengths=frozenset(general.possible_length_local_only or ()),
        shortest=lengths[0],
        longest=lengths[-1],
    )


@cache
def _country_plan(country_code: int) -> _Plan | None:
    """The plan of the country code's main region, which the library reads it by."""
    region = phonenumbers.region_code_for_country_code(country_code)
    return None if region in ("ZZ", "001") else _plan(region)


def _country_code(digits: str) -> tuple[int, str] | None:
    if digits.startswith("0"):
        return None  # no country code starts with 0
    for size in range(1, _MAX_COUNTRY_CODE_DIGITS + 1):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    return None


def _finish(country_code: int, nsn: str | None) -> str | None:
    """``+CC NSN`` when the library would accept the number as possible with that reading."""
    if nsn is None or len(nsn) not in _NSN_LENGTHS or nsn.startswith("0"):
        return None  # a leading zero takes the library's trunk-prefix check
    plan = _country_plan(country_code)
    if plan is None or plan.length_result(nsn) not in ("possible", "local"):
        return None
    return f"+{country_code}{nsn}"


def plain_e164(text: str, region: str | None) -> str | None:
    """The E.164 form of a plain number, or ``None`` when only the library can tell.

    ``text`` is stripped; ``region`` is an upper-case region the library supports
    (or ``None``), as :func:`~audiencehub.identity.normalize.to_e164` passes them.
    """
    plain = _PLAIN.fullmatch(text)
    if plain is None:
        return None
    international, written = plain.groups()
    digits = _NOT_DIGIT.sub("", written)
    if len(digits) not in _DIGITS:
        return None
    if international:
        found = _country_code(digits)
        if found is None:
            return None
        country_code, rest = found
        plan = _country_plan(country_code)
        return _finish(country_code, plan.strip_national_prefix(rest) if plan else None)
    plan = _plan(region) if region is not None else None
    if plan is None or plan.international_prefix is None:
        return None
    if plan.international_prefix.match(digits) or digits.startswith(str(plan.country_code)):
        return None  # dialled from abroad, or with its own country code: the library decides
    return _finish(plan.country_code, plan.strip_national_prefix(digits))


# --- the same steps as SQL (DuckDB, whose regular expressions are RE2) -------------------
#
# A bulk load reads a million numbers: the steps above, once a number in Python, cost
# several seconds there. These build one SQL expression per region (or country code)
# that a column of digits runs through in DuckDB. They answer what plain_e164 answers,
# or NULL wherever it would take a step they leave to it (a national prefix that is
# rewritten), and NULL always means: ask the library (a property test holds them to it).


def _lengths(plan: _Plan, number: str) -> str:
    """The library's length test of ``number`` (SQL), as the word :meth:`_Plan.length_result`
    gives."""
    size = f"length({number})"
    local = f"{size} IN ({', '.join(map(str, sorted(plan.local_lengths)))})"
    possible = f"{size} IN ({', '.join(map(str, sorted(plan.lengths)))})"
    return (
        f"CASE WHEN {local if plan.local_lengths else 'false'} THEN 'local' "
        f"WHEN {size} < {plan.shortest} THEN 'short' WHEN {size} > {plan.longest} THEN 'long' "
        f"WHEN {possible} THEN 'possible' ELSE 'invalid' END"
    )


def _fits(plan: _Plan, number: str) -> str:
    pattern = plan.national_number
    return (
        "false" if pattern is None else f"regexp_full_match({number}, {sql_text(pattern.pattern)})"
    )


def _stripped(plan: _Plan, digits: str) -> str:
    """:meth:`_Plan.strip_national_prefix` as SQL; NULL where a transform rule could apply."""
    prefix = plan.national_prefix
    if prefix is None:
        return digits
    anchored = sql_text(f"^(?:{prefix.pattern})")
    rest = f"substr({digits}, length(regexp_extract({digits}, {anchored})) + 1)"
    if plan.transforms and prefix.groups:
        return f"CASE WHEN regexp_matches({digits}, {anchored}) THEN NULL ELSE {digits} END"
    return (
        f"CASE WHEN NOT regexp_matches({digits}, {anchored}) THEN {digits} "
        f"WHEN {_fits(plan, digits)} AND NOT {_fits(plan, rest)} THEN {digits} "
        f"WHEN ({_lengths(plan, rest)}) IN ('possible', 'long') THEN {rest} "
        f"ELSE {digits} END"
    )


def _finished(country_code: int, nsn: str) -> str:
    """:func:`_finish` as SQL: ``+CC NSN``, or NULL."""
    plan = _country_plan(country_code)
    if plan is None:
        return "NULL"
    return (
        f"CASE WHEN {nsn} IS NULL OR length({nsn}) NOT BETWEEN {_NSN_LENGTHS.start} "
        f"AND {_NSN_LENGTHS.stop - 1} OR starts_with({nsn}, '0') THEN NULL "
        f"WHEN ({_lengths(plan, nsn)}) IN ('possible', 'local') "
        f"THEN '+{country_code}' || {nsn} END"
    )


def country_code_sql(digits: str) -> str:
    """The country code (text) that international ``digits`` start with, or NULL."""
    by_size: dict[int, list[str]] = {}
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        by_size.setdefault(len(str(code)), []).append(sql_text(str(code)))
    tests = " ".join(
        f"WHEN {sql_in(f'substr({digits}, 1, {size})', sorted(codes))} "
        f"THEN substr({digits}, 1, {size})"
        for size, codes in sorted(by_size.items())
        if size <= _MAX_COUNTRY_CODE_DIGITS
    )
    return f"CASE WHEN starts_with({digits}, '0') THEN NULL {tests} END"


def _international_nsn(country_code: int, digits: str) -> str:
    """SQL for the national significant number :func:`plain_e164` reads from ``+`` then
    ``digits`` (which start with ``country_code``), to finish with :func:`_finished`:
    NULL when its country has no plan, or a step is left to the library."""
    plan = _country_plan(country_code)
    if plan is None:
        return "NULL"
    return _stripped(plan, f"substr({digits}, {len(str(country_code)) + 1})")


def _national_nsn(region: str, digits: str) -> str:
    """SQL for the national significant number :func:`plain_e164` reads from national
    ``digits`` in ``region`` (upper case), to finish with :func:`_finished` under the
    region's country code: NULL as above, or when the number is
    dialled abroad or starts with that code."""
    plan = _plan(region)
    if plan is None or plan.international_prefix is None:
        return "NULL"
    dialled = sql_text(f"^(?:{plan.international_prefix.pattern})")
    return (
        f"CASE WHEN regexp_matches({digits}, {dialled}) "
        f"OR starts_with({digits}, '{plan.country_code}') THEN NULL "
        f"ELSE {_stripped(plan, digits)} END"
    )


def read_plain_numbers(db: duckdb.DuckDBPyConnection, source: str, table: str) -> None:
    """Make ``table`` (``text``, ``region``, ``e164``) from the rows of ``source`` (a query
    giving ``text``: stripped, and ``region``: upper case or NULL), with the E.164 form
    :func:`~audiencehub.identity.normalize.to_e164` gives wherever the fast path reads the
    number, and NULL where the library must be asked (or refuses it).

    Only the regions and country codes the rows hold get a branch of the expression.
    """
    supported = sql_in("region", (sql_text(r) for r in sorted(phonenumbers.SUPPORTED_REGIONS)))
    db.execute(
        f"""
        CREATE TABLE {table} AS
        SELECT text, region, digits, intl,
               CASE WHEN intl THEN {country_code_sql("digits")} END AS code,
               plain AND length(digits) BETWEEN {_DIGITS.start} AND {_DIGITS.stop - 1}
               AND (region IS NULL OR {supported})
               AND (intl OR region IS NOT NULL) AS ok
        FROM (
            SELECT text, region, regexp_replace(text, '[^0-9]', '', 'g') AS digits,
                   starts_with(text, '+') AS intl,
                   regexp_full_match(text, {sql_text(_PLAIN.pattern)}) AS plain
            FROM ({source})
        )
        """
    )
    regions = [
        r
        for (r,) in db.execute(
            f"SELECT DISTINCT region FROM {table} WHERE ok AND NOT intl ORDER BY 1"
        ).fetchall()
    ]
    codes = [
        c
        for (c,) in db.execute(
            f"SELECT DISTINCT code FROM {table} WHERE ok AND intl AND code IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    national = _case("region", {r: _national_nsn(r, "digits") for r in regions})
    international = _case("code", {c: _international_nsn(int(c), "digits") for c in codes})
    # Finished over the column ``nsn``: given the whole reading in place of ``nsn``,
    # DuckDB ran it again at each of its places (French national numbers: 0.29 s for
    # 117,000 against 0.06 s read first, then finished).
    national_end = _case(
        "region",
        {r: _finished(plan.country_code, "nsn") for r in regions if (plan := _plan(r))},
    )
    international_end = _case("code", {c: _finished(int(c), "nsn") for c in codes})
    db.execute(
        f"""
        CREATE OR REPLACE TABLE {table} AS
        SELECT text, region,
               CASE WHEN nsn IS NULL THEN NULL
                    WHEN intl THEN {international_end} ELSE {national_end} END AS e164
        FROM (
            SELECT text, region, intl, code,
                   CASE WHEN NOT ok THEN NULL
                        WHEN intl THEN {international} ELSE {national} END AS nsn
            FROM {table}
        )
        """
    )


def _case(column: str, branches: dict[str, str]) -> str:
    """SQL: the expression of the branch named by ``column``'s value; NULL for no branch."""
    if not branches:
        return "NULL"
    return (
        f"CASE {column} {' '.join(f'WHEN {sql_text(k)} THEN {v}' for k, v in branches.items())} END"
    )
