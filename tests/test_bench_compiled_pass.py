"""The benchmark's compiled pass (``bench/compiled_pass.c``) holds to the ingest's plan
floor (``bench/people_pipeline.py``), whose work it does in one streaming pass: the
same sums, errors and realisations over lines made to break each check, and over the
benchmark's own generated lines, with blocks so small that lines straddle them."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.helpers import bench_module

pytestmark = pytest.mark.skipif(
    not bench_module("compiled_pass").compiler(), reason="the compiled pass needs a C compiler"
)


@pytest.fixture(scope="module")
def bench() -> tuple[Any, Any]:
    return bench_module("compiled_pass"), bench_module("people_pipeline")


KNOWN = [f"{i:038d}" for i in range(1, 9)] + ["zoë-visitor", "A" * 40]

EDGE_LINES = [
    f"{KNOWN[0]}\td_sid=101,ic=code102,103",
    f"{KNOWN[0]}\td_unsid=101,104:-1,104",  # a removal beside an addition of one trait
    f"{KNOWN[1]}\t105,,106,",  # empty items count as others
    f"{KNOWN[1]}\t",  # no item but an empty one
    f'{KNOWN[2]}\t"gender"="female","city"="a,b",107',  # commas inside quotes
    f'{KNOWN[2]}\t"""",108',  # quoted runs back to back
    f"{KNOWN[3]}\t99999999999,0000109,abc,d_sid=-110",  # too big for an INTEGER; zeros
    f"{KNOWN[3]}\td_sid=111\tsecond TAB,112",
    f"{KNOWN[4]} d_sid=101",  # no TAB
    "\td_sid=101",  # no ID
    f"{KNOWN[5][:-1]}\x02\td_sid=101",  # a control character in the ID
    f"{KNOWN[5]}:x\td_sid=101",  # a colon in the ID
    f'{KNOWN[5]}\t"gender="female"',  # an odd number of quotes
    f"{KNOWN[6]}\t" + ",".join(["113"] * 30_000),  # long: over 100,000 characters
    f"{KNOWN[6]}\td_sid=114,São Paulo",  # beyond ASCII in the traits
    f"{KNOWN[8]}\td_sid=115",  # beyond ASCII in a known ID
    f"{KNOWN[9]}\td_sid=116",
    f"{'9' * 38}\td_sid=101",  # unknown
    f"{KNOWN[7]}\td_sid=117",
    f"{KNOWN[7]}\td_unsid=117",  # the last word is a removal
    f"{KNOWN[0]}\t101",  # added again after its removal
    f"{KNOWN[4]}\t" + ",".join(str(t) for t in range(101, 121)),
]


def _answers(
    bench: tuple[Any, Any], data: Path, known: list[str], folder: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the plan floor and the compiled pass work out over ``data``."""
    compiled_pass, pipeline = bench
    session = duckdb.connect()
    session.execute("ATTACH ':memory:' AS lake")
    session.execute("CREATE TABLE lake.graph_users (ns INTEGER, external_id VARCHAR, id BIGINT)")
    session.executemany(
        "INSERT INTO lake.graph_users VALUES (?, ?, ?)",
        [(0, external, 1000 + i) for i, external in enumerate(known)]
        + [(1, known[0], 5)],  # another namespace's user of the same text
    )
    plan = folder / "plan.parquet"
    for statement in pipeline._PLAN:
        result = session.execute(statement.format(data=data, out=plan))
        if statement.startswith("SELECT"):  # the receipt's sums
            [(added, removed, other, users)] = result.fetchall()
    errors = dict(session.execute("SELECT error, count(*) FROM p_lines GROUP BY error").fetchall())
    [(odd, lines)] = session.execute("SELECT count(odd), count(*) FROM p_lines").fetchall()
    [(unknown,)] = session.execute("SELECT count(*) FROM p_resolved WHERE uid IS NULL").fetchall()
    [(with_lines,)] = session.execute("SELECT count(*) FROM p_users").fetchall()
    sums = {"added": added, "removed": removed, "other": other, "users": users}
    by_plan = {
        **pipeline._answer(session, plan, **sums),
        "lines": lines,
        "errors": {k: v for k, v in errors.items() if k is not None},
        "beyond ASCII": odd,
        "unknown IDs": unknown,
        "users with lines": with_lines,
    }
    out = folder / "compiled.parquet"
    counts = compiled_pass.run(compiled_pass.library(), session, data, out)
    kinds = compiled_pass.COUNTS[1:7]  # the checks' verdicts, in the C pass's order
    by_pass = {
        **pipeline._answer(
            session, out, **{key: counts[name] for key, name in pipeline._COMPILED_COUNTS.items()}
        ),
        "lines": counts["lines"],
        "errors": {kind: counts[kind] for kind in kinds if counts[kind]},
        "beyond ASCII": counts["beyond ASCII"],
        "unknown IDs": counts["unknown IDs"],
        "users with lines": counts["users with lines"],
    }
    session.close()
    return by_plan, by_pass


def _write(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(f"{line}\n" for line in lines))
    return path


@pytest.mark.parametrize("block", [64, 1 << 20], ids=["lines straddling blocks", "one block"])
def test_lines_made_to_break_each_check(
    bench: tuple[Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(bench[0], "_BLOCK", block)
    data = _write(tmp_path / "edge.sync.gz", EDGE_LINES)
    by_plan, by_pass = _answers(bench, data, KNOWN, tmp_path)
    assert by_pass == by_plan
    assert by_plan["errors"] == {
        "long": 1,
        "no TAB": 1,
        "no ID": 1,
        "control": 1,
        "colon": 1,
        "quote": 1,
    }
    assert by_plan["unknown IDs"] == 1
    assert by_plan["beyond ASCII"] == 2  # the line of São Paulo and that of zoë's ID
    assert by_plan["held"] > 0


def test_the_benchmarks_own_lines(bench: tuple[Any, Any], tmp_path: Path) -> None:
    data = tmp_path / "generated.sync.gz"
    bench[1]._generate(data, 4_000)
    known = [bench[1]._visitor(i) for i in range(4_000)]
    by_plan, by_pass = _answers(bench, data, known, tmp_path)
    assert by_pass == by_plan
    assert by_plan["errors"] == {"no TAB": 20}  # one line in two hundred
    assert by_plan["unknown IDs"] == 400  # one line in ten, none of them broken
    assert by_plan["held"] > 3_000
