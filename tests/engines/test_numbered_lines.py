"""A batch's lines are numbered by their place in their file, whatever the session."""

from __future__ import annotations

from audiencehub.engines.session import DuckBatch, open_session

# A plain file DuckDB's CSV reader splits into several blocks, which two threads read
# and, when the session may reorder rows, store in the order they finish.
_LINES = 2_000_000


def test_lines_are_numbered_in_file_order_in_a_session_that_may_reorder(tmp_path):
    text = "".join(f"{i}\n" if i % 1000 else "\n" for i in range(1, _LINES + 1))
    files = []
    for number in range(2):
        path = tmp_path / f"part{number}.txt"
        path.write_text(text)
        files.append(path)
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


def test_stages_keep_what_they_make_of_each_line_numbered_in_file_order(tmp_path):
    text = "".join(f"{i}\t{'x' * (i % 7)}\n" if i % 1000 else "\n" for i in range(1, _LINES + 1))
    files = []
    for number in range(2):
        path = tmp_path / f"part{number}.txt"
        path.write_text(text)
        files.append(path)
    stages = [
        "line, instr(line, chr(9)) AS tab",
        "CAST(substring(line, 1, tab - 1) AS BIGINT) AS n, length(line) - tab AS xs",
    ]
    with open_session(tmp_path) as connection:
        session = DuckBatch(connection)
        session.numbered_lines("lines", files, 10**12, stages)
        assert [c[0] for c in connection.execute("DESCRIBE lines").fetchall()] == ["k", "n", "xs"]
        [(lines, blank, misplaced, wrong)] = session.rows(
            "SELECT count(*), count(*) FILTER (WHERE n IS NULL), "
            "count(*) FILTER (WHERE n <> k % 10^12), count(*) FILTER (WHERE xs <> n % 7) FROM lines"
        )
        assert (lines, blank, misplaced, wrong) == (2 * _LINES, 2 * _LINES // 1000, 0, 0)
        session.drop("lines")
        assert connection.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'lines%'"
        ).fetchall() == [(0,)]
