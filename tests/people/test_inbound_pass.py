"""The compiled inbound pass held to the SQL plan: on the same lines and the same graph,
the same receipt (every counter, the first reasons word for word, in order), the same
last words per user and trait, the same key-values and rule traits, the same users
matched and the same customer IDs created, in the same order.

Lines are generated (hypothesis) from the parser's hard pieces, on IDs the graph knows,
IDs it does not, and IDs that are no IDs, for visitor-ID and customer-ID sources, in
sync and overwrite files, split over two files, with the per-user limit lowered to 3
so that both paths meet it often. Storage runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from audiencehub.engines.session import DuckBatch
from audiencehub.people import inbound_batch, inbound_pass
from audiencehub.people.data_sources import DEVICE_NAMESPACE
from audiencehub.people.inbound_batch import (
    Target,
    classify,
    count_receipt,
    known_users,
    resolve_users,
)
from audiencehub.people.inbound_effects import signal_effects, work_out_effects
from audiencehub.people.inbound_pass import Batch, pass_available, run_pass
from audiencehub.people.inbound_rows import drop_lines, read_files
from audiencehub.people.lake import LakeTables
from audiencehub.people.receipts import Receipt
from audiencehub.people.schema import users
from audiencehub.people.trait_index import TraitIndex
from tests.people.test_lake import _PIECES

pytestmark = pytest.mark.skipif(
    not pass_available(), reason="the package was installed without its compiled pass"
)

_INDEX = TraitIndex(ids={101, 102}, elsewhere={201}, codes={"bags": 102, "7": 101})
_INDEX.rules = {104: {"gender": "female"}}
_INDEX.rule_pairs = {("gender", "female")}

_KNOWN_VISITORS = [f"{n:038d}" for n in (1, 2, 3)]
_KNOWN_CUSTOMERS = ["c1", "c2", "c3"]
_IDS = st.sampled_from(
    [*_KNOWN_VISITORS, *_KNOWN_CUSTOMERS, f"{4:038d}", f"{5:038d}", "c4", "c5", "9" * 38,
     "c:1", "c%3a1", "", " ", "c\x7f", "x" * 513]
)  # fmt: skip
_GOOD = st.sampled_from(
    ["d_sid=101", "d_sid=102", "d_sid=201", "d_sid=999", "d_unsid=101", "d_unsid=102",
     "d_unsid=201", "ic=bags", "ic=none", "7", "101:0", "102:-1", "201:-1",
     '"gender"="female"', '"Gender"="FEMALE"', "gender=male", "k=v", "k=w", "k=v",
     '"a,b"="c"', "--k=v", '"São"="Zoë"', "", " d_sid=101 "]
)  # fmt: skip
_OFTEN = st.sampled_from([_KNOWN_VISITORS[0], _KNOWN_CUSTOMERS[0], f"{4:038d}", "c4"])
_TRAITS = st.lists(st.one_of(_GOOD, _GOOD, _GOOD, _GOOD, _PIECES), max_size=6).map(",".join)
_LINE = st.one_of(
    *[st.tuples(st.one_of(_OFTEN, _IDS), _TRAITS).map("\t".join)] * 5,
    st.lists(_PIECES.filter(str.isascii), max_size=6).map("".join),  # anything at all
)
_TABLES = LakeTables("realisations", "gu", "published", "signals")


def _session(graph_users: list[tuple[int, int, str]]) -> DuckBatch:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE gu (id BIGINT, ns INTEGER, external_id VARCHAR)")
    connection.executemany("INSERT INTO gu VALUES (?, ?, ?)", graph_users)
    connection.execute("CREATE TABLE signals (user_id BIGINT, key VARCHAR, value_list VARCHAR[])")
    return DuckBatch(connection)


def _graph(engine) -> list[tuple[int, int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(select(users.c.id, users.c.data_source_id, users.c.external_id))
        return [tuple(row) for row in rows]


def _run(engine, files: list[Path], target: Target, *, compiled: bool):
    """One path over the files, in a transaction of the graph rolled back after: the
    receipt, and the effects with each user named by its ID."""
    graph = _graph(engine)
    session = _session(graph)
    receipt = Receipt("batch", [p.name for p in files])
    now = datetime.now(UTC)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            if compiled:
                took = run_pass(session, _batch(files, target, connection, now), receipt)
                if not took:
                    return None
                effects = signal_effects(session, _INDEX, _TABLES)
            else:
                assert read_files(session, files, _INDEX)
                [(lines,)] = session.rows("SELECT count(*) FROM in_lines")
                receipt.records_received = int(lines)
                classify(session, target)
                known_users(session, target.namespace, _TABLES)
                resolve_users(connection, session, target, now)
                drop_lines(session)
                count_receipt(session, target, receipt, [p.name for p in files])
                effects = work_out_effects(session, target, _INDEX, _TABLES)
            named = dict(connection.execute(select(users.c.id, users.c.external_id)).tuples().all())
            created = connection.execute(
                select(users.c.external_id).where(users.c.id.not_in([g[0] for g in graph] or [0]))
                .order_by(users.c.id)
            ).scalars().all()  # fmt: skip
        finally:
            transaction.rollback()
    final = {
        (named[u], t, h)
        for u, t, h in session.rows("SELECT user_id, trait_id, held FROM final_traits")
    }
    values = sorted(
        (named[u], k, tuple(v))
        for u, k, v in session.rows("SELECT user_id, key, value_list FROM new_signals")
    )
    rules = (
        sorted((named[u], t) for u, t in session.rows("SELECT user_id, trait_id FROM rule_holds"))
        if effects.rules
        else None
    )
    matched = (
        {named[u] for (u,) in session.rows("SELECT DISTINCT uid FROM matched")}
        if target.overwrite
        else None
    )
    session.connection.close()
    result = asdict(receipt)
    for moment in ("started_at", "ended_at"):
        result.pop(moment)
    return result, final, values, rules, matched, list(created)


def _batch(files: list[Path], target: Target, connection, now=None) -> Batch:
    """The batch as the pass reads it, its graph a transaction the caller rolls back."""
    return Batch(
        lambda: files,
        [p.name for p in files],
        _INDEX,
        target,
        _TABLES,
        lambda: nullcontext(connection),
        now or datetime.now(UTC),
        budget=1 << 30,
    )


def _elsewhere(lines: list[str]) -> bool:
    """A line the pass leaves to the SQL plan: beyond ASCII, without a non-blank ASCII ID."""
    blank = " \t\x0b\x0c\x1c\x1d\x1e\x1f"
    for line in lines:
        if line.isascii():
            continue
        user_id, tab, _ = line.partition("\t")
        if not tab or not user_id.isascii() or not user_id.strip(blank):
            return True
    return False


@pytest.fixture
def ingest_graph(people):
    """The people fixture's sources, and the graph's known IDs: three visitors, three
    customers of source 7001."""
    from audiencehub.people.graph import create_users

    with people.people.begin() as connection:
        create_users(connection, DEVICE_NAMESPACE, _KNOWN_VISITORS)
        create_users(connection, 7001, _KNOWN_CUSTOMERS)
    return people.people


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(_LINE, min_size=1, max_size=14),
    st.lists(_LINE, max_size=6),
    st.booleans(),
    st.booleans(),
)
def test_the_pass_works_out_what_the_sql_plan_does(
    ingest_graph, tmp_path_factory, monkeypatch_module, first, second, device, overwrite
):
    first = [line.replace("\n", "").replace("\r", "").replace("\x01", "") for line in first]
    second = [line.replace("\n", "").replace("\r", "").replace("\x01", "") for line in second]
    folder = tmp_path_factory.mktemp("pass")
    files = []
    for number, lines in enumerate((first, second)):
        if lines or number == 0:
            path = folder / f"batch-{number}.sync"
            path.write_bytes("".join(f"{line}\n" for line in lines).encode())
            files.append(path)
    target = Target(
        namespace=DEVICE_NAMESPACE if device else 7001,
        device=device,
        source=7001,
        overwrite=overwrite,
    )
    compiled = _run(ingest_graph, files, target, compiled=True)
    assert (compiled is None) == _elsewhere(first + second)
    if compiled is None:
        event("left to the SQL plan")
        return
    assert compiled == _run(ingest_graph, files, target, compiled=False)
    receipt, _, values, rules, _, created = compiled
    for name, seen in (
        ("a trait realised", receipt["realized_traits"]),
        ("a trait removed", receipt["removed_traits"]),
        ("a key-value kept", values),
        ("a rule trait held", rules),
        ("an ID created", created),
        ("a line over the user's limit", any("more than" in p for p in receipt["problems"])),
        ("an unknown visitor", receipt["no_matching_id"]),
        ("another source's trait", receipt["traits_failed_validation"]),
    ):
        if seen:
            event(name)


@pytest.fixture(scope="module")
def monkeypatch_module():
    """The per-user limit at 3 for every example (both paths read it at run time)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inbound_batch, "MAX_LINES_PER_USER", 3)
        patch.setattr(inbound_pass, "MAX_LINES_PER_USER", 3)
        yield patch


def _files(folder: Path, *files: list[str]) -> list[Path]:
    paths = []
    for number, lines in enumerate(files):
        path = folder / f"batch-{number}.sync"
        path.write_bytes("".join(f"{line}\n" for line in lines).encode())
        paths.append(path)
    return paths


@pytest.mark.parametrize("device", [True, False])
def test_lines_over_the_user_limit(ingest_graph, tmp_path, monkeypatch_module, device):
    """Each ID's fourth line and after are over the (lowered) limit, on both paths, for a
    known ID, an unknown visitor ID and a customer ID the batch creates."""
    lines = [
        f"{user}\td_sid=101,k={number}"
        for number in range(6)
        for user in (_KNOWN_VISITORS[0], f"{4:038d}", "c1", "c9")
    ]
    files = _files(tmp_path, lines[:10], lines[10:])
    target = Target(DEVICE_NAMESPACE if device else 7001, device, 7001, overwrite=False)
    compiled = _run(ingest_graph, files, target, compiled=True)
    assert compiled is not None
    assert compiled == _run(ingest_graph, files, target, compiled=False)
    receipt = compiled[0]
    assert any("more than" in problem for problem in receipt["problems"])


def test_a_large_batch_grows_every_table(ingest_graph, tmp_path, monkeypatch):
    """Tens of thousands of lines, thousands of new IDs and distinct key-values: every
    table of the pass grows past its first size, and the result is still the plan's."""
    import random

    monkeypatch.setattr(inbound_pass, "_FIRST_WORDS", 1024)
    chance = random.Random(7)
    lines = []
    for number in range(60_000):
        user = f"c{chance.randrange(20_000)}"
        items = [f"d_sid={chance.choice((101, 102, 201, 5))}" for _ in range(chance.randrange(4))]
        items += [f"k{chance.randrange(50)}=v{chance.randrange(3_000)}"] * chance.randrange(2)
        items += ["d_unsid=101"] * (number % 7 == 0)
        lines.append(f"{user}\t{','.join(items)}")
    files = _files(tmp_path, lines[:30_000], lines[30_000:])
    target = Target(7001, False, 7001, overwrite=False)
    compiled = _run(ingest_graph, files, target, compiled=True)
    assert compiled is not None
    assert compiled == _run(ingest_graph, files, target, compiled=False)
    assert len(compiled[5]) > 10_000  # the IDs created


def test_lines_only_the_reference_reads_leave_the_batch_to_sql(ingest_graph, tmp_path):
    """An ID beyond ASCII: the pass stops, has done nothing, and says so."""
    files = _files(tmp_path, ["c1\td_sid=101", "zoë\td_sid=101"])
    target = Target(7001, False, 7001, overwrite=False)
    assert _run(ingest_graph, files, target, compiled=True) is None
    receipt, final, *_ = _run(ingest_graph, files, target, compiled=False)
    assert receipt["stored_records"] == 2 and ("zoë", 101, True) in final


def test_a_batch_over_the_memory_limit_is_left_to_sql(ingest_graph, tmp_path, caplog):
    """Tables that would not fit in the pass's memory limit: the batch goes by SQL, and
    the log says why, naming the setting."""
    session = _session(_graph(ingest_graph))
    receipt = Receipt("batch", ["batch-0.sync"])
    files = _files(tmp_path, ["c1\td_sid=101"])
    with ingest_graph.connect() as connection:
        batch = _batch(files, Target(7001, False, 7001, overwrite=False), connection)
        with caplog.at_level(logging.INFO, logger="audiencehub.people.inbound_pass"):
            took = run_pass(session, replace(batch, budget=1 << 16), receipt)
    assert not took
    assert receipt.records_received == 0  # nothing counted
    assert "inbound_pass_memory_limit" in caplog.text


def test_empty_files_are_read_as_no_lines(ingest_graph, tmp_path):
    """A batch with an empty file (no block to read) among others, and one of empty
    files only: both paths read them alike (the threads end together, none waits)."""
    target = Target(7001, False, 7001, overwrite=False)
    for files in (_files(tmp_path, ["c1\td_sid=101"], []), _files(tmp_path, [], [])):
        compiled = _run(ingest_graph, files, target, compiled=True)
        assert compiled is not None
        assert compiled == _run(ingest_graph, files, target, compiled=False)


def test_the_limits_of_a_line_are_the_sql_plan_s(ingest_graph, tmp_path):
    """Lines at and one byte past the longest line, IDs at and one past the longest ID:
    the pass's limits are the formats' (both paths agree on which lines break them)."""
    from audiencehub.formats.inbound import MAX_LINE_BYTES, MAX_USER_ID

    filler = "d_sid=101," * (MAX_LINE_BYTES // 10)
    lines = [
        ("c1\t" + filler)[:MAX_LINE_BYTES],
        ("c1\t" + filler)[: MAX_LINE_BYTES - 1] + "7,",
        "x" * MAX_USER_ID + "\td_sid=101",
        "y" * (MAX_USER_ID + 1) + "\td_sid=101",
    ]
    files = _files(tmp_path, lines)
    target = Target(7001, False, 7001, overwrite=False)
    compiled = _run(ingest_graph, files, target, compiled=True)
    assert compiled is not None
    assert compiled == _run(ingest_graph, files, target, compiled=False)
    assert compiled[0]["format_errors"] == 2
