"""A batch's lines are numbered by their place in their file, whatever the session."""

from __future__ import annotations

import gzip

import pytest

from audiencehub.engines.session import DuckBatch, open_session

# A plain file DuckDB's CSV reader splits into several blocks, which two threads read
# and, when the session may reorder rows, store in the order they finish.
_LINES = 2_000_000


@pytest.mark.parametrize("compressed", [False, True])
def test_lines_are_numbered_in_file_order_in_a_session_that_may_reorder(tmp_path, compressed):
    text = "".join(f"{i}\n" if i % 1000 else "\n" for i in range(1, _LINES + 1))
    files = []
    for number in range(2):
        path = tmp_path / f"part{number}.txt{'.gz' if compressed else ''}"
        if compressed:
            with gzip.open(path, "wt", compresslevel=1) as handle:
                handle.write(text)
        else:
            path.write_text(text)
        files.append((path, compressed))
    with open_session(tmp_path) as connection:
        session = DuckBatch(connection)
        session.numbered_lines("lines", files, 10**12)
        [(lines, blank, misplaced)] = session.rows(
            "SELECT count(*), count(*) FILTER (WHERE line IS NULL), "
            "count(*) FILTER (WHERE CAST(line AS BIGINT) <> k % 10^12) FROM lines"
        )
        assert (lines, blank, misplaced) == (2 * _LINES, 2 * _LINES // 1000, 0)
        assert session.rows("SELECT min(k), max(k) FROM lines") == [(1, 10**12 + _LINES)]
        # the session is left as it was: free to reorder what it makes next
        assert session.rows("SELECT current_setting('preserve_insertion_order')") == [(False,)]
