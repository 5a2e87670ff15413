"""Value lists passed as one parameter come back exactly, whatever the text holds."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, literal, select

from audiencehub.campaign.schema import profiles
from audiencehub.db.value_lists import one_of, value_list

AWKWARD = ["a", 'b"c', "d\\e", "x,y", "{z}", " sp ", "nl\nx", "NULL", "", "é✓", '\\"', "'"]


def test_strings_come_back_as_they_were(workspace):
    """Quotes, backslashes, braces, commas, blanks and the word NULL survive the list."""
    with workspace.campaign.connect() as connection:
        rows = connection.execute(value_list(connection, pa.array(AWKWARD))).scalars().all()
    assert rows == AWKWARD


def test_integers_and_empty_lists(workspace):
    """Ids of any size, in one or several chunks, and a list of nothing."""
    ids = [1, 2, 3**30]
    with workspace.campaign.connect() as connection:
        assert connection.execute(value_list(connection, pa.array(ids))).scalars().all() == ids
        chunked = pa.chunked_array([ids[:1], ids[1:]])
        assert connection.execute(value_list(connection, chunked)).scalars().all() == ids
        empty = value_list(connection, pa.array([], pa.string()))
        assert connection.execute(empty).scalars().all() == []


@pytest.mark.parametrize("value", AWKWARD)
def test_one_of_finds_exactly_its_values(workspace, value):
    """``one_of`` is true for a listed value and false for one that is not listed."""
    with workspace.campaign.connect() as connection:
        inside = connection.execute(select(one_of(connection, literal(value, String), AWKWARD)))
        others = [v for v in AWKWARD if v != value]
        outside = connection.execute(select(one_of(connection, literal(value, String), others)))
        assert (inside.scalar_one(), outside.scalar_one()) == (True, False)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
        max_size=20,
    )
)
def test_any_text_survives_the_list(workspace, values):
    """Every text PostgreSQL can hold comes back unchanged (a property test)."""
    with workspace.campaign.connect() as connection:
        listed = value_list(connection, pa.array(values, pa.string()))
        assert connection.execute(listed).scalars().all() == values


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_list_reaches_the_plan_as_a_constant(workspace):
    """The server reads the list straight into an array constant, so ``= ANY`` can probe a
    hash of it; a text parameter converted to an array stays a conversion the planner
    does not fold, and each row is then compared with every element."""
    with workspace.campaign.connect() as connection:
        keys = profiles.c.email_key
        query = select(profiles.c.id).where(one_of(connection, keys, ["a", "b", "c"]))
        compiled = query.compile(connection)
        plan = connection.exec_driver_sql(f"EXPLAIN VERBOSE {compiled}", compiled.params).all()
    text = " ".join(row[0] for row in plan)
    assert "{a,b,c}" in text
    assert "::character varying)::character varying[]" not in text
