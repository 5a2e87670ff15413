"""The engine's SQL decoders agree with the identity core, and extracts see every commit."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from audiencehub.campaign.schema import audience_addresses, audience_members, audiences
from audiencehub.db.value_lists import value_list
from audiencehub.engines import extract
from audiencehub.engines.bulk_settings import bind_scratch
from audiencehub.engines.identifiers import digest_of, visitor_valid
from audiencehub.errors import InvalidInput
from audiencehub.identity import HashScheme, VisitorId
from audiencehub.identity.hashing import decode_digest

_HEXISH = st.text(
    st.sampled_from("0123456789abcdefABCDEFg \t\x0bé\u0661"), min_size=62, max_size=66
)
_B64ISH = st.text(st.sampled_from("AZaz09+/=-_ "), min_size=42, max_size=46) | st.binary(
    min_size=31, max_size=33
).map(lambda b: base64.b64encode(b).decode())
_DIGITS = st.text(st.sampled_from("0123456789x\u0661"), min_size=37, max_size=39) | st.integers(
    0, 10**38 - 1
).map(lambda n: f"{n:038d}")


def _sql_decode(scheme: HashScheme, text: str) -> bytes | None:
    session = duckdb.connect()
    session.execute("CREATE TABLE t AS SELECT $text AS id", {"text": text})
    return session.execute(f"SELECT {digest_of('id', scheme)} FROM t").fetchall()[0][0]


def _python_decode(scheme: HashScheme, text: str) -> bytes | None:
    try:
        return decode_digest(text, scheme)
    except InvalidInput:
        return None


@settings(max_examples=200, deadline=None)
@given(scheme=st.sampled_from(list(HashScheme)), text=_HEXISH | _B64ISH)
def test_sql_digest_decoding_is_decode_digest(scheme, text):
    """Same bytes, or both refuse: whitespace, wrong lengths, padding, case."""
    assert _sql_decode(scheme, text) == _python_decode(scheme, text)


@settings(max_examples=200, deadline=None)
@given(text=_DIGITS)
def test_sql_visitor_validation_is_visitor_id_parse(text):
    """38 ASCII digits with each half at most 2^63-1, exactly as VisitorId.parse says."""
    session = duckdb.connect()
    session.execute("CREATE TABLE t AS SELECT $text AS id", {"text": text})
    valid = session.execute(f"SELECT {visitor_valid('id')} FROM t").fetchall()[0][0]
    try:
        VisitorId.parse(text)
        expected = True
    except InvalidInput:
        expected = False
    assert bool(valid) is expected


def test_extracts_see_each_commit(workspace):
    """Every extract reads the database as last committed, on both backends.

    (ADBC's own SQLite, in the same process as Python's, kept seeing a stale WAL.)
    """
    engine = workspace.campaign
    query = select(audience_addresses.c.address).where(audience_addresses.c.audience_id == 1)
    with engine.begin() as connection:
        now = datetime.now(UTC)
        connection.execute(
            insert(audiences).values(
                id=1, name="A", type="shared", force_profile=True, created_at=now, updated_at=now
            )
        )
    seen = []
    for count in range(3):
        seen.append(extract(engine, query).num_rows)
        with engine.begin() as connection:
            connection.execute(
                insert(audience_addresses).values(audience_id=1, address=f"{count}@example.com")
            )
    assert seen == [0, 1, 2]
    assert extract(engine, query).schema.field("address").type == pa.string()


@pytest.mark.parametrize("values", [pa.array([3, 1, 2]), pa.array(["p:1", "it's", 'q"'])])
def test_value_lists_expand_in_the_database(workspace, values):
    """A whole list passed as one parameter comes back as rows, quotes and all."""
    with workspace.campaign.connect() as connection:
        got = connection.execute(value_list(connection, values)).scalars().all()
    assert sorted(got) == sorted(values.to_pylist())


def test_extracts_work_without_shared_memory(sqlite_workspace, monkeypatch, tmp_path):
    """Where /dev/shm is missing or small (containers), the hand-over goes through the
    workspace's scratch path, else the system's temporary folder, and leaves nothing."""
    from audiencehub.engines import extracts

    monkeypatch.setattr(extracts, "_SHM", sqlite_workspace.path / "no-shm-here")
    engine = sqlite_workspace.campaign
    query = select(audience_members.c.profile_id)
    assert extracts._handover_parent(engine) is None
    assert extract(engine, query).num_rows == 0
    handed: list[Path] = []
    worker = extracts._run_worker

    def spied(database: str, sql: str, target: Path) -> None:
        handed.append(target)
        worker(database, sql, target)

    monkeypatch.setattr(extracts, "_run_worker", spied)
    bind_scratch(engine, tmp_path / "scratch")
    assert extract(engine, query).num_rows == 0
    assert [target.parent.parent for target in handed] == [tmp_path / "scratch"]
    assert list((tmp_path / "scratch").iterdir()) == []
