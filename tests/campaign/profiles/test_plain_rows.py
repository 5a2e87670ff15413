"""Which lines the columns read themselves: every white space but the space sends a line to
the validator, found on ASCII lines and others alike."""

from __future__ import annotations

import sys

import duckdb
import pytest

from audiencehub.campaign.profiles.plain_rows import LAST_SPACE, plain_line

_OTHER_SPACE = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() and c != " "]


def _simple(lines: list[str], delimiter: str) -> list[bool]:
    db = duckdb.connect()
    db.execute("CREATE TABLE t (n INTEGER, text VARCHAR)")
    db.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(lines)))
    query = f"SELECT {plain_line(delimiter)} FROM t ORDER BY n"
    return [simple for (simple,) in db.execute(query).fetchall()]


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_a_line_with_any_other_white_space_is_not_plain(delimiter):
    """Each of Python's white spaces but the space (the delimiter aside), in an ASCII line
    and in a line with other characters, makes the line not plain; spaces do not."""
    others = [c for c in _OTHER_SPACE if c != delimiter]
    ascii_lines = [f"a{delimiter}b{c}c{delimiter}d" for c in others]
    wide_lines = [f"José{delimiter}b{c}c" for c in others]
    assert _simple(ascii_lines + wide_lines, delimiter) == [False] * (2 * len(others))
    plain = [f"a{delimiter} b c {delimiter}d", f"José{delimiter}Zoë", f'"a"{delimiter}b']
    assert _simple(plain, delimiter) == [True] * len(plain)


def test_a_delimiter_that_is_white_space_keeps_its_lines_plain():
    """A tab-delimited line is plain; a tab in a comma-delimited one is not."""
    assert _simple(["a\tb\tc", "é\tb"], "\t") == [True, True]
    assert _simple(["a\tb,c", "é\tb,c"], ",") == [False, False]


def test_no_white_space_lies_beyond_the_last_one_looked_for():
    """The white spaces are looked for up to LAST_SPACE: Python's Unicode tables hold none
    after it, and it is one."""
    assert _OTHER_SPACE[-1] == LAST_SPACE
