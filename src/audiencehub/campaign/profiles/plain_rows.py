"""The row checks' fast paths as SQL (DuckDB): which lines of a file are plain rows, and
whether each field of a plain row passes the same tests :class:`.rows.RowValidator` runs.

Like the fast paths in Python (:mod:`.email_syntax`, the phone numbers'), these only
ever *accept*: a line or value they do not accept goes to the validator, which gives
the answer and the reason. ``tests/campaign/profiles/test_first_load.py`` holds the
two to the same outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from audiencehub.campaign.profiles.email_syntax import ADDRESS_MAX, LOCAL_MAX, PLAIN, SPECIAL_USE
from audiencehub.campaign.profiles.fields import ColumnMapping, ProfileField, UpsertKey
from audiencehub.campaign.profiles.merging import FLAG_COLUMNS
from audiencehub.campaign.profiles.rows import COUNTRIES, FALSE_WORDS, MAX_TEXT, TRUE_WORDS
from audiencehub.engines.session import sql_in, sql_text

__all__ = [
    "attribute_column",
    "attribute_object",
    "column_checks",
    "ends_in_quotes",
    "plain_line",
]

# A date the validator reads the same: four-digit year from 1, month and day in range
_ISO_DATE = r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}"


# The last character ``str.isspace()`` is true for (IDEOGRAPHIC SPACE): looking no further
# spares each import a pass over every code point, 0.3 s (a test holds it to Python's own
# Unicode tables).
LAST_SPACE = "\u3000"


@cache
def _other_space() -> str:
    """Every character Python's ``str.strip()`` removes, but the space: a line holding
    one goes to the validator, so that DuckDB's trim (spaces only) strips what Python
    strips."""
    return "".join(c for c in map(chr, range(ord(LAST_SPACE) + 1)) if c.isspace() and c != " ")


@cache
def _known_country(expression: str) -> str:
    """SQL: whether ``expression`` is one of the ISO 3166 codes the validator knows."""
    return sql_in(expression, (sql_text(code) for code in sorted(COUNTRIES)))


def _regex_class(characters: str) -> str:
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in characters) + "]"


def plain_line(delimiter: str) -> str:
    """SQL, true for a ``text`` line the columns can read as Python's csv reader reads it:
    no quote but around a whole field (with no quote or delimiter inside), no NUL, and no
    white space other than spaces."""
    other = _other_space().replace(delimiter, "")
    sep = f"\\x{{{ord(delimiter):x}}}"
    field = f'(?:"[^"{sep}]*"|[^"{sep}]*)'
    fields = sql_text(f"{field}(?:{sep}{field})*")
    # An ASCII line (as many bytes as characters) can hold only the ASCII ones: looked for
    # one by one, they cost a third of the regular expression (0.15 s a million lines
    # against 0.44 s).
    ascii_space = " OR ".join(f"contains(text, chr({ord(c)}))" for c in other if c.isascii())
    return (
        f"""(NOT contains(text, '"') OR (text <> '""' AND regexp_full_match(text, {fields})))"""
        f" AND NOT contains(text, chr(0))"
        f" AND CASE WHEN strlen(text) = length(text) THEN NOT ({ascii_space})"
        f" ELSE NOT regexp_matches(text, {sql_text(_regex_class(other))}) END"
    )


def _field(index: int) -> str:
    """A field of the split line ``f`` as the validator sees it: unquoted, stripped, NULL
    when empty."""
    raw = f"f[{index + 1}]"
    inside = f"substr({raw}, 2, length({raw}) - 2)"
    unquoted = f"CASE WHEN starts_with({raw}, '\"') THEN {inside} ELSE {raw} END"
    # trimmed only when there is a space to take: most fields have none, and trim() copies
    # every one (0.65 s the ten fields of a million rows, against 0.36 s)
    stripped = (
        f"CASE WHEN starts_with({unquoted}, ' ') OR ends_with({unquoted}, ' ') "
        f"THEN trim({unquoted}) ELSE {unquoted} END"
    )
    return f"nullif({stripped}, '')"


def attribute_column(name: str) -> str:
    """The column a custom attribute's value is read into."""
    return f'"attr_{name}"'


def column_checks(
    mapping: ColumnMapping, default_region: str | None
) -> tuple[list[str], list[str]]:
    """The columns read from a plain line's fields ``f`` (SQL select items), and the tests
    that must all hold for the row to be accepted without the validator.

    The columns are named after the fields, ``email_key`` aside; a flag is read as
    ``<flag>_said`` (0: not said, 1: yes, 2: no), a phone number as ``phone_text`` with
    the ``region`` it is read in, a birth date as ``birth_text`` and ``birth_date``.
    """
    columns: list[str] = ["len(f) AS width"]
    tests: list[str] = [f"width = {mapping.width}"]
    column_of = {field: index for index, field in mapping.fields}
    for index, field in mapping.fields:
        value = _field(index)
        name = field.value
        if field is ProfileField.EMAIL:
            columns.append(f"{value} AS email")
            tests.append(
                f"(email IS NULL OR (strlen(email) <= {ADDRESS_MAX}"
                f" AND regexp_full_match(email, {sql_text(PLAIN.pattern)})"
                f" AND strlen(split_part(email, '@', 1)) <= {LOCAL_MAX}"
                " AND NOT contains(split_part(email, '@', 2), '--')"
                " AND NOT "
                + sql_in("lower(split_part(email, '.', -1))", map(sql_text, sorted(SPECIAL_USE)))
                + "))"
            )
        elif field is ProfileField.COUNTRY:
            columns.append(f"upper({value}) AS country")
            tests.append(
                "(country IS NULL OR (regexp_full_match(country, '[A-Z]{2}') "
                f"AND {_known_country('country')}))"
            )
        elif field is ProfileField.BIRTH_DATE:
            columns.append(f"{value} AS birth_text")
            columns.append(f"try_cast({value} AS DATE) AS birth_date")
            tests.append(
                "(birth_text IS NULL OR (regexp_full_match(birth_text, "
                f"'{_ISO_DATE}') AND birth_date IS NOT NULL))"
            )
        elif name in FLAG_COLUMNS:
            yes = sql_in(f"lower({value})", map(sql_text, sorted(TRUE_WORDS)))
            no = sql_in(f"lower({value})", map(sql_text, sorted(FALSE_WORDS)))
            columns.append(  # NULL: the validator's to judge
                f"CASE WHEN {value} IS NULL THEN 0 WHEN {yes} THEN 1 "
                f"WHEN {no} THEN 2 END AS {name}_said"
            )
            tests.append(f"{name}_said IS NOT NULL")
        elif field is ProfileField.MOBILE_PHONE:
            columns.append(f"{value} AS phone_text")
        else:  # text
            columns.append(f"{value} AS {name}")
            # bytes, at least the characters: a longer one may still fit (the validator says)
            tests.append(f"({name} IS NULL OR strlen({name}) <= {MAX_TEXT})")
    if ProfileField.MOBILE_PHONE in column_of:
        region = sql_text(default_region) if default_region else "NULL::VARCHAR"
        if ProfileField.COUNTRY in column_of:
            region = f"CASE WHEN {_known_country('country')} THEN country ELSE {region} END"
        columns.append(f"{region} AS region")
    for index, name in mapping.attributes:
        columns.append(f"{_field(index)} AS {attribute_column(name)}")
    tests.append(f"{'email' if mapping.key is UpsertKey.EMAIL else 'crm_id'} IS NOT NULL")
    return columns, tests


def attribute_object(names: Sequence[str]) -> str:
    """SQL: the JSON object of the custom attributes a row gives (``names``, read into
    :func:`attribute_column`), as text; one left empty is not in it."""
    pairs = [
        f"CASE WHEN {attribute_column(n)} IS NOT NULL THEN to_json({sql_text(n)})::VARCHAR "
        f"|| ':' || to_json({attribute_column(n)})::VARCHAR END"
        for n in names
    ]
    return f"'{{' || concat_ws(',', {', '.join(pairs)}) || '}}'" if pairs else "'{}'"


def ends_in_quotes(text: str, delimiter: str) -> bool:
    """Whether a line ends inside a quoted field, read as Python's csv reader reads it
    (a quote opens a field only at its start; two quotes in one stand for one)."""
    state = "start"
    for c in text:
        if state == "start":
            state = "quoted" if c == '"' else ("start" if c == delimiter else "field")
        elif state == "field":
            if c == delimiter:
                state = "start"
        elif state == "quoted":
            if c == '"':
                state = "quote"
        else:  # a quote inside a quoted field: doubled, the field's end, or stray
            state = "quoted" if c == '"' else ("start" if c == delimiter else "field")
    return state == "quoted"
