"""The bulk engine reads outbound batches exactly as the reference parser does.

The columnar reader (DuckDB, SQL patterns) and the line-by-line reader must give
the same rows and counts on arbitrary input; both must agree with
:func:`~audiencehub.formats.parse_outbound_row`.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiencehub.drops import FolderDrop
from audiencehub.drops.staging import StagedBatch, stage_files
from audiencehub.engines import open_session
from audiencehub.engines.outbound import LINES, open_lines
from audiencehub.engines.session import DuckBatch
from audiencehub.engines.spark import SparkBatch, SparkSettings, spark_session
from audiencehub.errors import InvalidInput
from audiencehub.formats import FileEntry, parse_outbound_row
from audiencehub.formats.outbound import is_blank

# characters that exercise the grammar: separators, digits (leading zeros,
# non-ASCII digits), whitespace the engines disagree on, letters and symbols
_ALPHABET = st.sampled_from(
    [" ", "\t", ",", "0", "1", "9", "a", "F", "+", "-", "_", "x", "\x0b", "\x0c", "\xa0",
     "\u3000", "\u0661", "é", "\x00", "=", "/"]
)  # fmt: skip
_LINE = st.text(_ALPHABET, max_size=24)
_SEGMENT_LINE = st.builds(
    lambda i, s, r: f"{i} {s} {r}",
    st.text(st.sampled_from("ab01"), min_size=1, max_size=4),
    st.sampled_from(["", "900", "900,901", "0900", "1,", ",2", "9" * 18, "9" * 19, "+5", "1_0"]),
    st.sampled_from(["", "901", "7,8", "00", "x"]),
)


def _expected(lines: list[str]) -> tuple[list[tuple[str, str, str]], int, int]:
    rows, read, errors = [], 0, 0
    for line in lines:
        if is_blank(line):
            continue
        read += 1
        try:
            row = parse_outbound_row(line)
        except InvalidInput:
            errors += 1
            continue
        rows.append(
            (row.user_id, ",".join(map(str, row.segments)), ",".join(map(str, row.removed)))
        )
    return sorted(rows), read, errors


def _load(
    folder: Path, lines: list[str], *, plain: bool
) -> tuple[list[tuple[str, str, str]], int, int]:
    path = folder / "part.txt"
    path.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))
    return _read(folder, path, plain=plain)


def _read(folder: Path, path: Path, *, plain: bool) -> tuple[list[tuple[str, str, str]], int, int]:
    with open_session(folder) as session:
        open_lines(DuckBatch(session), StagedBatch((path,), (), plain))
        rows = session.execute(f"SELECT id, segments, removed FROM {LINES} WHERE ok").fetchall()
        [(read, errors)] = session.execute(
            f"SELECT count(*), count(*) FILTER (NOT ok) FROM {LINES}"
        ).fetchall()
    return sorted(rows), read, errors


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(st.one_of(_LINE, _SEGMENT_LINE), max_size=12))
def test_both_readers_agree_with_the_reference_parser(tmp_path, lines):
    """Same rows, same read and error counts, on any line the columnar reader accepts."""
    expected = _expected(lines)
    assert _load(tmp_path, lines, plain=True) == expected
    assert _load(tmp_path, lines, plain=False) == expected


def _read_on_spark(
    settings: SparkSettings, folder: Path, lines: list[str]
) -> tuple[list[tuple[str, str, str]], int, int]:
    path = folder / "part.txt"
    path.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))
    batch = SparkBatch(spark_session(settings), folder)
    try:
        open_lines(batch, StagedBatch((path,), (), True))
        rows = batch.rows(f"SELECT id, segments, removed FROM {LINES} WHERE ok")
        [(read, errors)] = batch.rows(f"SELECT count(*), count_if(NOT ok) FROM {LINES}")
    finally:
        batch.close()
    return sorted(rows), read, errors


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(st.one_of(_LINE, _SEGMENT_LINE), max_size=12))
def test_spark_reads_plain_lines_as_the_reference_parser(tmp_path, spark_settings, lines):
    """Spark's reading of a plain batch (same SQL, its dialect) agrees line for line."""
    assert _read_on_spark(spark_settings, tmp_path, lines) == _expected(lines)


def test_spark_refuses_what_java_regexes_would_let_through(tmp_path, spark_settings):
    """Java's `$` matches before a final line break and `\u2028` is one: the Spark
    patterns are anchored at the very end, so `900\u2028` is no segment list."""
    lines = ["a 900\u2028", "b 900\u0085 ", "c 0900", "d 900 901", "  \t"]
    assert _read_on_spark(spark_settings, tmp_path, lines) == _expected(lines)
    assert _expected(lines) == ([("d", "900", "901")], 4, 3)


def test_leading_zeros_and_signs_are_format_errors(tmp_path):
    """`0900`, `+5` and `1_0` are not segment ids: counted as errors, not read as 900, 5, 10."""
    rows, read, errors = _load(
        tmp_path, ["a 0900 ", "b +5 ", "c 1_0 ", "d 900 901", "", "  \t"], plain=True
    )
    assert (rows, read, errors) == ([("d", "900", "901")], 4, 3)


def test_lines_that_are_not_utf8_are_format_errors(tmp_path):
    """A bad byte costs its own line; the rest of the file is read.

    Staging sends such a batch to the line-by-line reader (see the staging test).
    """
    path = tmp_path / "part.txt"
    path.write_bytes(b"a 900 \nb\xff 900 \nc 900 \n")
    rows, read, errors = _read(tmp_path, path, plain=False)
    assert ([r[0] for r in rows], read, errors) == (["a", "c"], 3, 1)


def _entry(name: str, data: bytes, lines: int) -> FileEntry:
    return FileEntry(name, len(data), lines, 0, hashlib.md5(data).hexdigest())  # noqa: S324


@pytest.mark.parametrize(
    ("tail", "plain"),
    [(b"b 900 \n", True), (b"b\r 900 \n", False), (b"b\x01 900 \n", False), (b"\xffb\n", False)],
)
def test_staging_checks_concatenated_gzip_members_and_flags_unusual_bytes(tmp_path, tail, plain):
    """Two gzip members are one file; CR, U+0001 or bad UTF-8 send it to the exact reader."""
    drop = tmp_path / "drop"
    drop.mkdir()
    data = gzip.compress(b"a 900 \n") + gzip.compress(tail)
    (drop / "x.gz").write_bytes(data)
    objects = {obj.name: obj for obj in FolderDrop(drop).list()}
    (tmp_path / "s").mkdir()
    staged = stage_files(FolderDrop(drop), [_entry("x.gz", data, 2)], objects, tmp_path / "s")
    assert staged.observed == (_entry("x.gz", data, 2),)
    assert staged.paths[0].read_bytes() == b"a 900 \n" + tail
    assert staged.plain_lines is plain


@pytest.mark.parametrize("data", [b"not gzip at all\n", gzip.compress(b"a 900 \n")[:-6]])
def test_staging_counts_a_corrupt_gzip_as_minus_one_line(tmp_path, data):
    """A corrupt or truncated file never matches its control file, so the batch waits."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "x.gz").write_bytes(data)
    objects = {obj.name: obj for obj in FolderDrop(drop).list()}
    (tmp_path / "s").mkdir()
    [seen] = stage_files(
        FolderDrop(drop), [_entry("x.gz", data, 1)], objects, tmp_path / "s"
    ).observed
    assert (seen.line_count, seen.byte_size, seen.md5) == (-1, len(data), _entry("x", data, 0).md5)


@pytest.mark.parametrize(
    ("data", "plain"),
    [
        ("a\u00e9 900 \nb 900 \n".encode(), True),  # é split across two chunks, then ASCII
        (b"a 900 \n" + "é".encode()[:1], False),  # ends inside a character
        (b"a 900 \n" + "é".encode()[:1] + b"bc\n", False),  # broken, then ASCII
    ],
)
def test_staging_checks_utf8_across_chunk_boundaries(tmp_path, monkeypatch, data, plain):
    """An ASCII chunk after a split character is still decoded, never waved through."""
    from audiencehub.drops import staging

    monkeypatch.setattr(staging, "_CHUNK", 2)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "x.txt").write_bytes(data)
    objects = {obj.name: obj for obj in FolderDrop(drop).list()}
    (tmp_path / "s").mkdir()
    entry = _entry("x.txt", data, data.count(b"\n"))
    staged = stage_files(FolderDrop(drop), [entry], objects, tmp_path / "s")
    assert staged.observed == (entry,)
    assert staged.plain_lines is plain
