"""An inbound batch's lines, parsed into DuckDB tables (the grammar of
:mod:`audiencehub.formats.inbound`), with their trait references resolved.

The staged files are read by DuckDB's parallel CSV reader, a line to a row. The
line's own checks (length, TAB, the user ID) are SQL; its traits are split into
items in SQL, and each *distinct* item (a file names a few hundred traits, many
million times) is classified once, by the reference parser itself, and resolved
against the batch's traits. So every item gets exactly the reference's verdict
and message, at the cost of a join. A line that is not ASCII goes through
:func:`~audiencehub.formats.inbound.parse_inbound_row` whole unless its user ID
is a non-blank ASCII text (see :func:`_python_only`); so does every line of a
batch whose files hold a CR or U+0001, which the CSV reader would split
differently from the reference reader. A differential test holds the result to
the reference parser on generated lines.

The result, for the batch's non-blank lines (``k``: the line's place in the batch,
:data:`LINE_KEY`: its file's index and its number in the file, blank lines counted):

- ``in_lines(k, user_id, error)``: ``error`` says why a line breaks the format (a view
  of the lines as read and those the reference parser read; :func:`drop_lines` drops
  it and them);
- ``in_refs(k, removal, trait_id, foreign_)``: each trait reference of a line (those
  of a line with an error mean nothing: whoever reads them keeps to the good lines),
  to realise or (``removal``) to remove; ``trait_id`` is NULL when it names no trait
  of the source, ``foreign_`` when it names another source's trait;
- ``in_pairs(k, pos, key, value, tested)``: the key-values, each value of a key once
  per line, in the order written; ``tested`` when some rule trait tests the pair.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from audiencehub.drops.staging import StagedBatch
from audiencehub.engines.session import BatchSession, DuckBatch, sql_text, streamed
from audiencehub.errors import InvalidInput
from audiencehub.formats.inbound import (
    MAX_LINE_BYTES,
    MAX_USER_ID,
    parse_general_row,
)
from audiencehub.people.inbound_reference import BLOCK_LINES, add_parsed, reference_lines
from audiencehub.people.trait_index import TraitIndex

__all__ = [
    "LINE_CHECKS",
    "LINE_KEY",
    "VERDICT_FIELDS",
    "drop_lines",
    "id_length_problem",
    "line_place",
    "part_verdict",
    "read_batch",
    "read_files",
]

#: a line's key: ``file index * LINE_KEY + line number``
LINE_KEY = 1_000_000_000_000


#: what each of a line's own checks says, in the order they are made (the ID's length,
#: after the empty ID, is :func:`id_length_problem`'s)
LINE_CHECKS = {
    "long": f"the line is over {MAX_LINE_BYTES:,} bytes",
    "no_tab": "no TAB between the user ID and the traits",
    "no_id": "the user ID is empty",
    "control": "the user ID holds control characters (NUL, tab, line feed, ...)",
    "colon": "the user ID contains ':' or '%3A'",
    "quote": "a quoted key or value is not closed",
}


def id_length_problem(length: int) -> str:
    """What a line whose user ID is ``length`` characters long (over the limit) says."""
    return f"the user ID is {length:,} characters; at most {MAX_USER_ID}"


def line_place(key: int) -> tuple[int, int]:
    """The file index and line number of a line's key."""
    return divmod(key, LINE_KEY)


_TABLES = {
    "parsed_lines": "CAST(NULL AS BIGINT) AS k, CAST(NULL AS STRING) AS user_id, "
    "CAST(NULL AS STRING) AS error",
    "in_refs": "CAST(NULL AS BIGINT) AS k, CAST(NULL AS BOOLEAN) AS removal, "
    "CAST(NULL AS INTEGER) AS trait_id, CAST(NULL AS BOOLEAN) AS foreign_",
    "in_pairs": "CAST(NULL AS BIGINT) AS k, CAST(NULL AS INTEGER) AS pos, "
    "CAST(NULL AS STRING) AS key, CAST(NULL AS STRING) AS value, "
    "CAST(NULL AS BOOLEAN) AS tested",
}

# Python's str.strip() whitespace among ASCII characters, and the characters it starts with
_BLANK_CHARS = " \\t\\x0b\\x0c\\x1c-\\x1f"
_BLANK = f"[{_BLANK_CHARS}]*"
_NOT_BLANK = f"[^{_BLANK_CHARS}]"
_BLANK_STARTS = "' ', chr(9), chr(11), chr(12), chr(28), chr(29), chr(30), chr(31)"
_CONTROL = "[\\x00-\\x1f\\x7f]"
# a trait item: up to a comma that no quoted key or value holds
_ITEM = '(?:[^,"]|"[^"]*")+'
_UNQUOTED = "replace(traits, '\"', '')"


def _create_tables(session: BatchSession) -> None:
    for name, columns in _TABLES.items():
        session.create_table(name, f"SELECT {columns} LIMIT 0")


def _split_lines(session: BatchSession, files: Sequence[Path]) -> None:
    """``lines_split(k, uid, traits, error, odd)``: each non-blank line of ``files`` with its
    own checks and its traits (for a good line), or, for a line only the reference parser reads
    (:func:`_python_only`) or that holds a CR, the line itself as ``odd`` (and nothing
    else); and ``parts(k, part, pos)``, the items of the good lines. The lines are read,
    checked and split in one pass, and only what that makes of them is kept: the lines
    themselves would be a second copy of the batch (at ten million lines, spilled)."""
    sql = session.dialect
    control = sql.finds("uid", sql.text(_CONTROL))
    blank = sql.full_match("line", sql.text(_BLANK))
    quotes = f"{sql.byte_length('traits')} - {sql.byte_length(_UNQUOTED)}"
    items = (
        f"CASE WHEN contains(traits, '\"') THEN {sql.matches_of('traits', sql.text(_ITEM))} "
        f"ELSE {sql.split('traits', ',')} END"
    )
    said = {name: sql_text(message) for name, message in LINE_CHECKS.items()}
    stages = [
        f"""line, instr(line, chr(9)) AS tab,
            line IS NULL OR (left(line, 1) IN ({_BLANK_STARTS}) AND {blank}) AS blank,
            coalesce({_python_only(session)} OR contains(line, chr(13)), false) AS odd_line""",
        f"""blank, CASE WHEN odd_line THEN line END AS odd,
            CASE WHEN NOT odd_line AND tab > 1 THEN substring(line, 1, tab - 1) END AS uid,
            CASE WHEN NOT odd_line THEN substring(line, tab + 1) END AS traits,
            CASE WHEN odd_line THEN NULL
              WHEN {sql.byte_length("line")} > {MAX_LINE_BYTES} THEN {said["long"]}
              WHEN tab = 0 THEN {said["no_tab"]}
              WHEN tab = 1 THEN {said["no_id"]}
              WHEN tab - 1 > {MAX_USER_ID}
                THEN 'the user ID is ' || {sql.thousands("tab - 1")}
                     || ' characters; at most {MAX_USER_ID}'
            END AS early""",
        f"""blank, odd, uid, traits,
            CASE WHEN odd IS NOT NULL THEN NULL
              WHEN early IS NOT NULL THEN early
              WHEN {control} THEN {said["control"]}
              WHEN contains(uid, ':') OR (contains(uid, '%') AND contains(lower(uid), '%3a'))
                THEN {said["colon"]}
              WHEN contains(traits, '"') AND ({quotes}) % 2 = 1 THEN {said["quote"]}
            END AS error""",
        """blank, uid, error, odd,
            CASE WHEN error IS NULL AND odd IS NULL THEN traits END AS traits""",
    ]
    session.numbered_lines("lines_read", files, LINE_KEY, stages)
    session.create_view(
        "lines_split", "SELECT k, uid, traits, error, odd FROM lines_read WHERE NOT blank"
    )
    # the items are split here, not kept as lists: a list of short texts takes more
    # memory than the text it is split from
    good = f"SELECT k, {items} AS p FROM lines_split WHERE traits IS NOT NULL"
    if sql.spark:
        numbered = (
            "SELECT k, part, pos + 1 AS pos "
            f"FROM (SELECT k, posexplode(p) AS (pos, part) FROM ({good}) g) e"
        )
    else:
        numbered = f"SELECT k, unnest(p) AS part, generate_subscripts(p, 1) AS pos FROM ({good}) g"
    session.create_table("parts", numbered)


def _results(session: BatchSession) -> None:
    """The three relations from the parts and their verdicts (see :func:`_vocabulary`).
    In DuckDB ``in_lines`` is a view of the lines kept as they were read, with the first
    error of their items (few lines have one): a table would be one more copy of every
    ID, in memory."""
    sql = session.dialect
    session.create_table(
        "bad_parts",
        f"SELECT p.k, {sql.arg_min('v.error', 'p.pos')} AS error "
        "FROM parts p JOIN (SELECT part, error FROM vocabulary WHERE error IS NOT NULL) v "
        "ON v.part = p.part GROUP BY p.k",
    )
    session.insert(
        "in_refs",
        "SELECT p.k, v.removal, v.trait_id, v.foreign_ FROM parts p "
        "JOIN (SELECT part, action = 'remove' AS removal, trait_id, foreign_ "
        "FROM vocabulary WHERE action IS NOT NULL) v ON v.part = p.part",
    )
    session.insert(
        "in_pairs",
        "SELECT p.k, min(p.pos), v.key, v.value, bool_or(v.tested) FROM parts p "
        "JOIN (SELECT part, key, value, tested FROM vocabulary WHERE key IS NOT NULL) v "
        "ON v.part = p.part GROUP BY p.k, v.key, v.value",
    )
    for name in ("parts", "vocabulary"):
        session.drop(name)
    session.create_view(  # the traits are read: the lines keep their IDs and checks
        "lines_split", "SELECT k, uid, error, odd FROM lines_read WHERE NOT blank"
    )
    session.drop_column("lines_read", "traits")
    # On Spark a view is a plan run again at each use, and a table is files, not memory
    name_lines = session.create_table if sql.spark else session.create_view
    name_lines(
        "in_lines",
        "SELECT l.k, CASE WHEN l.error IS NULL AND e.error IS NULL THEN l.uid END AS user_id, "
        "coalesce(l.error, e.error) AS error FROM lines_split l "
        "LEFT JOIN bad_parts e ON e.k = l.k WHERE l.odd IS NULL "
        "UNION ALL SELECT k, user_id, error FROM parsed_lines",
    )


def drop_lines(session: BatchSession) -> None:
    """Drop ``in_lines`` and what it reads (every line's ID): once the lines are matched,
    the rest of a job needs only ``in_refs``, ``in_pairs`` and the matches."""
    for name in ("in_lines", "lines_split", "lines_read", "bad_parts", "parsed_lines"):
        session.drop(name)


def read_batch(session: BatchSession, staged: StagedBatch, index: TraitIndex) -> None:
    """Create ``in_lines``, ``in_refs`` and ``in_pairs`` from a staged batch."""
    _create_tables(session)
    if staged.plain_lines:
        _split_lines(session, list(staged.paths))
        _read_split(session, index)
    else:
        add_parsed(session, reference_lines(list(staged.paths), LINE_KEY), index)
        session.create_view("in_lines", "SELECT k, user_id, error FROM parsed_lines")


def read_files(session: DuckBatch, files: Sequence[Path], index: TraitIndex) -> bool:
    """Create the three tables from plain files DuckDB reads in place, when
    they are UTF-8 text without CR or U+0001; False (and nothing made) when they are not,
    or cannot be read: the caller stages them instead, which says what is wrong."""
    try:
        _split_lines(session, files)
        [(odd,)] = session.rows("SELECT count(*) FROM lines_split WHERE contains(odd, chr(13))")
    except duckdb.Error:
        odd = 1
    if odd:
        for name in ("parts", "lines_split", "lines_read"):
            session.drop(name)
        return False
    _create_tables(session)
    _read_split(session, index)
    return True


def _read_split(session: BatchSession, index: TraitIndex) -> None:
    """The three tables from the split lines (:func:`_split_lines`). Each relation is
    dropped as soon as the last one made from it is: a batch of ten million lines holds
    gigabytes of text, and what stays spills to disk."""
    add_parsed(session, _python_only_lines(session), index)
    _vocabulary(session, index)
    _results(session)


def _python_only(session: BatchSession) -> str:
    """SQL: only the reference parser reads the line (the column ``line``): it is not ASCII,
    and its user ID is not a non-blank ASCII text before a TAB.

    Beyond ASCII, Python's ``strip`` and ``len`` are not SQL's (U+00A0 is white space
    to one, a letter to the other); but a line whose ID is such a text is never blank,
    its ID's checks are ASCII ones, lengths in bytes and quotes count the same, and its
    trait items are judged by the reference parser itself, once per distinct item."""
    sql = session.dialect
    tab = "instr(line, chr(9))"
    user_id = f"substring(line, 1, {tab} - 1)"
    return (
        f"line IS NOT NULL AND {sql.byte_length('line')} <> length(line) AND NOT ("
        f"{tab} > 1 AND {sql.byte_length(user_id)} = {tab} - 1 "
        f"AND {sql.finds(user_id, sql.text(_NOT_BLANK))})"
    )


def _python_only_lines(session: BatchSession) -> Iterator[tuple[int, str]]:
    """The lines only the reference parser reads (``lines_split``'s odd ones), in order,
    a block at a time: their reader adds each block to the session's tables before it
    takes the next, which would end a stream of them."""
    [(count,)] = session.rows("SELECT count(*) FROM lines_split WHERE odd IS NOT NULL")
    if not count:
        return
    session.create_table(
        "python_only_lines",
        "SELECT row_number() OVER (ORDER BY k) AS n, k, odd AS line FROM lines_split "
        "WHERE odd IS NOT NULL",
    )
    for start in range(0, int(count), BLOCK_LINES):
        yield from session.rows(
            f"SELECT k, line FROM python_only_lines WHERE n > {start} "
            f"AND n <= {start + BLOCK_LINES} ORDER BY n"
        )
    session.drop("python_only_lines")


def part_verdict(part: str, index: TraitIndex) -> dict[str, Any]:
    """What the reference parser makes of one trait item as written (``part``): an
    ``error``, a trait reference (``action``, ``trait_id`` resolved against ``index``,
    ``foreign_``), a key-value (``key``, ``value``, ``tested`` by some rule trait), or
    nothing (a blank part)."""
    entry: dict[str, Any] = dict.fromkeys(VERDICT_FIELDS)
    entry["part"] = part
    item = part.strip()
    if item:
        try:
            row = parse_general_row(f"x\t{item}")
        except InvalidInput as exc:
            entry["error"] = exc.message
        else:
            refs = [("realize", r) for r in row.realize] + [("remove", r) for r in row.remove]
            if refs:
                action, ref = refs[0]
                trait_id, foreign = index.resolve(ref)
                entry.update(action=action, trait_id=trait_id, foreign_=foreign)
            for key, values in row.signals.items():
                entry.update(key=key, value=values[0], tested=index.tested(key, values[0]))
    return entry


#: a verdict's fields (:func:`part_verdict`), and their Arrow types where not text
VERDICT_FIELDS = ("part", "error", "action", "trait_id", "foreign_", "key", "value", "tested")
_VERDICT_TYPES = {"trait_id": pa.int32(), "foreign_": pa.bool_(), "tested": pa.bool_()}


def _vocabulary(session: BatchSession, index: TraitIndex) -> None:
    """``vocabulary``: each distinct part of the batch, as the reference parser reads it
    (:func:`part_verdict`)."""
    columns: dict[str, list[Any]] = {name: [] for name in VERDICT_FIELDS}
    for (part,) in streamed(session, "SELECT DISTINCT part FROM parts"):
        entry = part_verdict(part, index)
        for name, column in columns.items():
            column.append(entry[name])
    table = pa.table(
        {
            name: pa.array(values, _VERDICT_TYPES.get(name, pa.string()))
            for name, values in columns.items()
        }
    )
    session.keep("vocabulary", table)
