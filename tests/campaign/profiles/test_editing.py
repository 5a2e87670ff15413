"""Changing and erasing one profile keep its reconciliation keys exactly those of what
is stored: the old keys go (found by their digests), the new ones come, and no other
profile's keys move. Every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, func, insert, select

from audiencehub.campaign import add_key_schemes, get_profile, import_profiles
from audiencehub.campaign.profiles.editing import delete_profile, update_profile
from audiencehub.campaign.profiles.rows import key_digests
from audiencehub.campaign.profiles.store import profile_key_rows, schemes_in_use
from audiencehub.campaign.schema import (
    audience_addresses,
    audience_members,
    audiences,
    messages,
    profile_keys,
    share_exports,
    shared_data_sources,
    shares,
    tracking_log,
    visitor_links,
    workflow_runs,
    workflow_sets,
)
from audiencehub.identity import HashScheme, IdKind
from tests.campaign.profiles.test_file_import import write


def _keys(connection) -> set[tuple]:
    return set(connection.execute(select(profile_keys)).tuples())


def _expected(connection, profile: dict) -> set[tuple]:
    """The key rows of a profile as stored now: its email and phone under every scheme."""
    keys = key_digests(
        profile["email"], profile["mobile_phone"], schemes_in_use(connection), tuple(IdKind)
    )
    return set(profile_key_rows(profile["id"], keys, keys))


def test_an_edit_and_an_erasure_keep_exactly_the_keys_of_what_is_stored(workspace, tmp_path):
    with workspace.campaign.begin() as connection:
        add_key_schemes(connection, [HashScheme.GOOGLE, HashScheme.META])
    rows = [
        ["email", "mobile_phone"],
        ["jo@example.com", "+14155550101"],
        ["al@example.com", "+14155550102"],
        ["cy@example.com", ""],
    ]
    import_profiles(workspace.campaign, write(tmp_path / "p.csv", rows))
    with workspace.campaign.connect() as connection:
        jo, al, cy = (get_profile(connection, f"{n}@example.com") for n in ("jo", "al", "cy"))
        others = _expected(connection, al) | _expected(connection, cy)
        assert _keys(connection) == _expected(connection, jo) | others
    with workspace.campaign.begin() as connection:
        update_profile(connection, jo["id"], {"email": "Joanna@Example.com"})
    with workspace.campaign.begin() as connection:
        update_profile(connection, jo["id"], {"mobile_phone": "+14155550109"})
    with workspace.campaign.connect() as connection:
        changed = get_profile(connection, "joanna@example.com")
        assert (changed["email"], changed["mobile_phone"]) == ("Joanna@Example.com", "+14155550109")
        assert _keys(connection) == _expected(connection, changed) | others
    with workspace.campaign.begin() as connection:
        delete_profile(connection, changed["id"])
    with workspace.campaign.connect() as connection:
        assert _keys(connection) == others


def _rows_of(connection, profile_id: int) -> dict[str, int]:
    """How many rows of each table name the profile."""
    tables = (
        audience_members,
        audience_addresses,
        share_exports,
        visitor_links,
        workflow_sets,
        messages,
        tracking_log,
    )
    return {
        t.name: connection.execute(
            select(func.count()).select_from(t).where(t.c.profile_id == profile_id)
        ).scalar_one()
        for t in tables
    }


def test_an_erasure_removes_the_profile_from_every_table_and_no_one_else(workspace, tmp_path):
    import_profiles(
        workspace.campaign,
        write(tmp_path / "p.csv", [["email"], ["jo@example.com"], ["al@example.com"]]),
    )
    now = datetime.now(UTC)
    with workspace.campaign.begin() as connection:
        jo, al = (get_profile(connection, f"{n}@example.com")["id"] for n in ("jo", "al"))
        connection.execute(
            insert(shared_data_sources),
            {
                "id": "AMCDS1",
                "label": "s",
                "priority": 1,
                "reconciliation": "visitor",
                "created_at": now,
            },
        )
        for number in (1, 2):
            connection.execute(
                insert(audiences),
                {
                    "id": number,
                    "name": f"a{number}",
                    "type": "file",
                    "force_profile": False,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            connection.execute(
                insert(shares),
                {
                    "id": number,
                    "source_audience_id": number,
                    "segment_id": number,
                    "trait_code": f"t{number}",
                    "data_source_id": "AMCDS1",
                    "created_at": now,
                },
            )
        connection.execute(
            insert(workflow_runs),
            {"id": 1, "name": "w", "started_at": now, "status": "done", "activities": {}},
        )
        for profile in (jo, al):
            for number in (1, 2):
                connection.execute(
                    insert(audience_members), {"audience_id": number, "profile_id": profile}
                )
                connection.execute(
                    insert(audience_addresses),
                    {"audience_id": number, "address": f"{profile}@x.test", "profile_id": profile},
                )
                connection.execute(
                    insert(share_exports),
                    {"share_id": number, "profile_id": profile, "exported_at": now},
                )
                connection.execute(
                    insert(workflow_sets),
                    {"run_id": 1, "output": f"o{number}", "profile_id": profile},
                )
            connection.execute(
                insert(visitor_links),
                {"visitor_id": f"{profile:038d}", "profile_id": profile, "linked_at": now},
            )
            connection.execute(
                insert(messages),
                {
                    "delivery": "d",
                    "channel": "email",
                    "profile_id": profile,
                    "address": "a@x.test",
                    "status": "sent",
                    "at": now,
                },
            )
            connection.execute(
                insert(tracking_log), {"kind": "open", "profile_id": profile, "at": now}
            )
    with workspace.campaign.connect() as connection:
        before = _rows_of(connection, al)
        assert set(before.values()) == {1, 2} and _rows_of(connection, jo) == before
    with workspace.campaign.begin() as connection:
        delete_profile(connection, jo)
    with workspace.campaign.connect() as connection:
        assert set(_rows_of(connection, jo).values()) == {0}
        assert _rows_of(connection, al) == before
        # the message and the tracking event stay, with no one attached
        assert (
            connection.execute(
                select(func.count()).select_from(messages).where(messages.c.profile_id.is_(None))
            ).scalar_one()
            == 1
        )
        assert (
            connection.execute(
                select(func.count())
                .select_from(tracking_log)
                .where(tracking_log.c.profile_id.is_(None))
            ).scalar_one()
            == 1
        )


def test_an_erasure_looks_the_profile_up_by_key(sqlite_workspace, tmp_path):
    """SQLite's plans for the erasure's deletes: the profile, its memberships, exports and
    visitor links are searched through an index, not read whole (PostgreSQL's times are
    measured by bench/profile_edit.py)."""
    import_profiles(
        sqlite_workspace.campaign, write(tmp_path / "p.csv", [["email"], ["jo@example.com"]])
    )
    statements: list[tuple[str, tuple]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("DELETE FROM") and not executemany:
            statements.append((statement, parameters))

    engine = sqlite_workspace.campaign
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.begin() as connection:
            jo = get_profile(connection, "jo@example.com")["id"]
            delete_profile(connection, jo)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with engine.connect() as connection:
        plans = {
            statement.split()[2]: " | ".join(
                row[-1]
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            for statement, parameters in statements
        }
    for table in ("audience_members", "share_exports", "visitor_links", "profiles"):
        assert f"SEARCH {table} USING" in plans[table], plans[table]
