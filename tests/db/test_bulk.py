"""Bulk writes: the ids a COPY's rows are given up front on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from audiencehub.campaign.schema import profiles
from audiencehub.db.bulk import reserved_ids


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_reserved_ids_are_fresh_and_never_drawn_again(workspace):
    """Ids drawn for a COPY come back as a range and the sequence moves past them."""
    with workspace.campaign.begin() as connection:
        first = reserved_ids(connection, profiles, 1000)
        second = reserved_ids(connection, profiles, 10)
    assert isinstance(first, range) and len(first) == 1000
    assert second is not None and len(set(second)) == 10 and min(second) > max(first)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_ids_that_are_not_contiguous_come_back_one_by_one(workspace):
    """When the sequence does not give a run of ids (another session drew some, or it steps
    by more than one), the ids drawn are returned as they are."""
    with workspace.campaign.begin() as connection:
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence('profiles', 'id')")
        ).scalar_one()
        connection.execute(text(f"ALTER SEQUENCE {sequence} INCREMENT BY 3"))
        ids = reserved_ids(connection, profiles, 50)
    assert ids is not None and not isinstance(ids, range)
    assert len(set(ids)) == 50 and sorted(ids) == list(range(min(ids), max(ids) + 1, 3))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_numbers_rows_itself(workspace):
    """No ids are drawn on SQLite: the rows' rowids are read after the insert instead."""
    with workspace.campaign.begin() as connection:
        assert reserved_ids(connection, profiles, 10) is None
