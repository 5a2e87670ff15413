"""Migrated databases match the Core metadata the code uses, on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from audiencehub.campaign.schema import metadata as campaign_metadata
from audiencehub.db import System
from audiencehub.people.schema import metadata as people_metadata

pytestmark = pytest.mark.fresh_database  # these tests migrate down and up


def _differences(engine, metadata, system):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": system.version_table, "compare_type": False}
        )
        diff = compare_metadata(context, metadata)
    own = {table.name for table in metadata.tables.values()}

    def table_of(difference):
        subject = difference[1]
        return subject.name if difference[0] == "remove_table" else subject.table.name

    # each system's database may hold the other's tables when both share one
    return [d for d in diff if table_of(d) in own]


def test_campaign_migrations_match_the_schema(workspace):
    """No table, column or index differs between migrations and campaign/schema.py."""
    assert _differences(workspace.campaign, campaign_metadata, System.CAMPAIGN) == []


def test_people_migrations_match_the_schema(workspace):
    """No table, column or index differs between migrations and people/schema.py."""
    assert _differences(workspace.people, people_metadata, System.PEOPLE) == []


def _migrate(engine, target, system=System.CAMPAIGN, *, down=None):
    from alembic import command

    from audiencehub.db.migrate import _config

    config = _config(system)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if target == "c0008" if down is None else down:
            command.downgrade(config, target)
        else:
            command.upgrade(config, target)


def _insert_crm_source(connection):
    """Data source 7001 written as raw SQL, so it fits the schema of any revision."""
    from sqlalchemy import text

    connection.execute(
        text(
            "INSERT INTO people_data_sources (id, name, id_type, inbound_id_type, "
            "authenticated_profile, share_enabled, export_controls, retention_days, "
            "created_at) VALUES (7001, 'CRM', 'cross-device', 'customer', false, true, "
            "'[]', 120, CURRENT_TIMESTAMP)"
        )
    )


def test_member_keys_move_to_numbers_and_back(workspace):
    """c0009 moves `p:` members to profile ids and `a:` members to addresses, and back."""
    from sqlalchemy import text

    engine = workspace.campaign
    _migrate(engine, "c0008")
    with engine.begin() as connection:
        for name, kind in (("List", "shared"), ("File", "file")):
            connection.execute(
                text(
                    "INSERT INTO audiences (name, type, force_profile, created_at, updated_at) "
                    "VALUES (:n, :t, true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"n": name, "t": kind},
            )
        ids = dict(connection.execute(text("SELECT name, id FROM audiences")).tuples().all())
        connection.execute(
            text("INSERT INTO audience_members VALUES (:a, :m, :p, :addr)"),
            [
                {"a": ids["List"], "m": "p:7", "p": 7, "addr": None},
                {"a": ids["File"], "m": "a:jo@x.org", "p": 7, "addr": "jo@x.org"},
                {"a": ids["File"], "m": "a:al@x.org", "p": None, "addr": "al@x.org"},
            ],
        )
    _migrate(engine, "c0009")
    with engine.connect() as connection:
        members = set(connection.execute(text("SELECT * FROM audience_members")).tuples())
        addresses = set(connection.execute(text("SELECT * FROM audience_addresses")).tuples())
    assert members == {(ids["List"], 7), (ids["File"], 7)}
    assert addresses == {(ids["File"], "jo@x.org", 7), (ids["File"], "al@x.org", None)}
    _migrate(engine, "c0008")
    with engine.connect() as connection:
        back = set(connection.execute(text("SELECT * FROM audience_members")).tuples())
    assert back == {
        (ids["List"], "p:7", 7, None),
        (ids["File"], "a:jo@x.org", 7, "jo@x.org"),
        (ids["File"], "a:al@x.org", None, "al@x.org"),
    }


def test_people_tables_move_to_key_order_and_back(workspace):
    """p0005 rebuilds trait realisations and published state WITHOUT ROWID on SQLite,
    keeping every row (and the trait index), and back; PostgreSQL is left as it is."""
    from sqlalchemy import text

    engine = workspace.people
    sqlite = engine.dialect.name == "sqlite"

    def layout():
        if not sqlite:
            return None
        with engine.connect() as connection:
            return {
                name: "WITHOUT ROWID" in sql.upper()
                for name, sql in connection.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                )
                if name in ("people_user_traits", "people_published")
            }

    def rows():
        with engine.connect() as connection:
            return [
                sorted(connection.execute(text(f"SELECT * FROM {table}")).tuples())
                for table in ("people_user_traits", "people_published")
            ]

    _migrate(engine, "p0004", System.PEOPLE, down=True)
    if sqlite:
        assert layout() == {"people_user_traits": False, "people_published": False}
    with engine.begin() as connection:
        _insert_crm_source(connection)
        connection.execute(
            text(
                "INSERT INTO people_traits (id, name, data_source_id, created_at) "
                "VALUES (101, 'T', 7001, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO people_users (id, data_source_id, external_id, created_at, "
                "last_seen) VALUES (1, 7001, 'c1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text("INSERT INTO people_user_traits VALUES (1, 101, '2026-11-28 00:00:00')")
        )
        connection.execute(text("INSERT INTO people_published VALUES (46390, 900, 'c1')"))
    before = rows()
    _migrate(engine, "p0005", System.PEOPLE, down=False)
    if sqlite:
        assert layout() == {"people_user_traits": True, "people_published": True}
    assert rows() == before
    _migrate(engine, "p0011", System.PEOPLE, down=False)  # the last revision before the lake
    assert rows() == before
    _migrate(engine, "p0004", System.PEOPLE, down=True)
    if sqlite:
        assert layout() == {"people_user_traits": False, "people_published": False}
    assert rows() == before
    _migrate(engine, "p0005", System.PEOPLE, down=False)


def test_segments_sharing_a_name_are_renamed_not_lost(workspace):
    """p0006 makes segment names unique; segments that shared one keep their rows, the later
    ones with their id in the name."""
    from sqlalchemy import text

    engine = workspace.people
    _migrate(engine, "p0005", System.PEOPLE, down=True)
    with engine.begin() as connection:
        for segment_id in (900, 901, 902):
            connection.execute(
                text(
                    "INSERT INTO people_segments (id, name, rule, merge_rule, created_at, "
                    "updated_at) VALUES (:id, :name, 'T1', 'device', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"id": segment_id, "name": "Shoes" if segment_id < 902 else "Bags"},
            )
    _migrate(engine, "head", System.PEOPLE, down=False)
    with engine.connect() as connection:
        names = connection.execute(text("SELECT id, name FROM people_segments ORDER BY id")).all()
    assert [tuple(r) for r in names] == [
        (900, "Shoes"),
        (901, "Shoes (segment 901)"),
        (902, "Bags"),
    ]


def test_signal_values_become_lists_and_back(workspace):
    """p0009 turns each stored key-value into a one-element list; down keeps the first."""
    from sqlalchemy import text

    engine = workspace.people
    _migrate(engine, "p0008", System.PEOPLE, down=True)
    with engine.begin() as connection:
        _insert_crm_source(connection)
        connection.execute(
            text(
                "INSERT INTO people_users (id, data_source_id, external_id, created_at, "
                "last_seen) VALUES (1, 7001, 'c1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(text("INSERT INTO people_user_signals VALUES (1, 'product', 'tablet')"))
    _migrate(engine, "p0011", System.PEOPLE, down=False)  # the last revision before the lake
    lists = sa.table("people_user_signals", sa.column("user_id"), sa.column("key"),
                     sa.column("value_list", sa.JSON))  # fmt: skip
    with engine.connect() as connection:
        rows = connection.execute(sa.select(lists)).all()
    assert [(r.user_id, r.key, r.value_list) for r in rows] == [(1, "product", ["tablet"])]
    with engine.begin() as connection:
        connection.execute(lists.update().values(value_list=["tablet", "phone"]))
    _migrate(engine, "p0008", System.PEOPLE, down=True)
    with engine.connect() as connection:
        back = connection.execute(text("SELECT user_id, key, value FROM people_user_signals"))
        assert [tuple(r) for r in back] == [(1, "product", "tablet")]
    _migrate(engine, "head", System.PEOPLE, down=False)


def test_bulk_state_moves_into_the_lake(workspace):
    """p0012 sets aside the realisations, key-values and published state a workspace kept
    in its database; the first job that opens the lake moves every row into it and drops
    them, and the data means what it meant (tested on SQLite and PostgreSQL)."""
    from sqlalchemy import text

    from audiencehub.people.lake import move_legacy_rows, reading, writing
    from audiencehub.people.segments import get_segment
    from tests.helpers import held_traits

    engine = workspace.people
    _migrate(engine, "p0011", System.PEOPLE, down=True)
    with engine.begin() as connection:
        _insert_crm_source(connection)
        for trait in (101, 102):
            connection.execute(
                text(
                    "INSERT INTO people_traits (id, name, data_source_id, created_at) "
                    "VALUES (:id, 'T', 7001, CURRENT_TIMESTAMP)"
                ),
                {"id": trait},
            )
        for user_id, external in ((1, "c1"), (2, "c2")):
            connection.execute(
                text(
                    "INSERT INTO people_users (id, data_source_id, external_id, created_at, "
                    "last_seen) VALUES (:id, 7001, :e, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": user_id, "e": external},
            )
        connection.execute(
            text(
                "INSERT INTO people_user_traits VALUES (1, 101, '2026-11-28 00:00:00'), "
                "(1, 102, '2026-11-28 00:00:00'), (2, 101, '2026-11-28 00:00:00')"
            )
        )
        connection.execute(
            text("INSERT INTO people_user_signals VALUES (2, 'product', '[\"tablet\", \"phone\"]')")
        )
        connection.execute(
            text(
                "INSERT INTO people_segments (id, name, rule, merge_rule, created_at, "
                "updated_at) VALUES (900, 'Shoes', 'T101 AND NOT T102', 'device', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(text("INSERT INTO people_published VALUES (46390, 900, 'c2')"))
    _migrate(engine, "head", System.PEOPLE, down=False)
    with engine.connect() as connection:
        names = set(sa.inspect(connection).get_table_names())
    assert {"people_legacy_user_traits", "people_legacy_published"} <= names
    assert move_legacy_rows(engine) == [  # what `audiencehub db upgrade` does
        "people_legacy_published",
        "people_legacy_user_signals",
        "people_legacy_user_traits",
    ]
    assert _differences(engine, people_metadata, System.PEOPLE) == []
    assert held_traits(engine, "c1") == {101, 102} and held_traits(engine, "c2") == {101}
    with reading(engine) as session:
        assert session.execute("SELECT user_id, key, value_list FROM lake.signals").fetchall() == [
            (2, "product", ["tablet", "phone"])
        ]
        assert session.execute("SELECT * FROM lake.published").fetchall() == [(46390, 900, "c2")]
    from audiencehub.people.materialise import materialise

    assert materialise(engine) == {900: 1}
    with engine.connect() as connection:
        assert get_segment(connection, 900)["size"] == 1
    with writing(engine):
        pass  # a second opening finds nothing left to move
    with reading(engine) as session:
        [(count,)] = session.execute("SELECT count(*) FROM lake.realisations").fetchall()
    assert count == 3


def test_keys_lose_their_foreign_key_and_get_it_back(workspace):
    """c0019 drops profile_keys' foreign key with every key kept; going back restores it,
    first dropping keys whose profile is gone (which the constraint would refuse)."""
    from sqlalchemy import text

    from audiencehub.campaign.profiles.store import create_profile

    engine = workspace.campaign
    with engine.begin() as connection:
        jo = create_profile(connection, email="jo@x.org")
        create_profile(connection, email="al@x.org")
        connection.execute(
            text("INSERT INTO profile_keys VALUES ('aam', 'email', :d, :p)"),
            {"d": b"\x01" * 32, "p": jo + 1000},
        )

    def state():
        with engine.connect() as connection:
            keys = set(connection.execute(text("SELECT * FROM profile_keys")).tuples())
            owners = sa.inspect(connection).get_foreign_keys("profile_keys")
        return keys, [key["referred_table"] for key in owners]

    at_head, owners = state()
    assert len(at_head) == 3 and owners == []
    _migrate(engine, "c0018", down=True)
    kept, owners = state()
    assert kept == {key for key in at_head if key[3] != jo + 1000} and owners == ["profiles"]
    _migrate(engine, "head", down=False)
    assert state() == (kept, [])


def test_profile_keys_compare_as_bytes_and_back(workspace):
    """c0020 makes email_key and crm_id COLLATE "C" on PostgreSQL, rows and lookups kept;
    going back gives them the database's collation again. SQLite is left as it is."""
    from sqlalchemy import text

    from audiencehub.campaign.profiles.lookup import get_profile
    from audiencehub.campaign.profiles.store import create_profile

    engine = workspace.campaign
    with engine.begin() as connection:
        jo = create_profile(connection, email="Jo@X.org", crm_id="CRM-Ä1")

    def state():
        with engine.connect() as connection:
            collations = {}
            if engine.dialect.name == "postgresql":
                collations = dict(
                    connection.execute(
                        text(
                            "SELECT column_name, collation_name FROM information_schema.columns"
                            " WHERE table_name = 'profiles'"
                            " AND column_name IN ('email_key', 'crm_id')"
                        )
                    ).all()
                )
            found = [get_profile(connection, "jo@x.org")["id"]]
            found.append(get_profile(connection, "CRM-Ä1")["id"])
        return collations, found

    expected = {"email_key": "C", "crm_id": "C"} if engine.dialect.name == "postgresql" else {}
    assert state() == (expected, [jo, jo])
    _migrate(engine, "c0019", down=True)
    assert state() == (dict.fromkeys(expected), [jo, jo])
    _migrate(engine, "head", down=False)
    assert state() == (expected, [jo, jo])


def test_segment_sizes_start_from_the_last_materialisation(workspace):
    """p0013 seeds each segment's population trend with the size it had (none for a
    segment never sized), and down drops it."""
    from sqlalchemy import text

    engine = workspace.people
    _migrate(engine, "p0012", System.PEOPLE, down=True)
    with engine.begin() as connection:
        for segment_id, size in ((900, 41), (901, None)):
            connection.execute(
                text(
                    "INSERT INTO people_segments (id, name, rule, merge_rule, created_at, "
                    "updated_at, size, sized_at) VALUES (:id, :name, 'T1', 'device', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :size, :sized_at)"
                ),
                {
                    "id": segment_id,
                    "name": f"s{segment_id}",
                    "size": size,
                    "sized_at": "2026-11-28 10:00:00" if size else None,
                },
            )
    _migrate(engine, "head", System.PEOPLE, down=False)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT segment_id, day, size FROM people_segment_sizes"))
        assert [(r.segment_id, str(r.day), r.size) for r in rows] == [(900, "2026-11-28", 41)]
    _migrate(engine, "p0012", System.PEOPLE, down=True)
    assert "people_segment_sizes" not in sa.inspect(engine).get_table_names()
    _migrate(engine, "head", System.PEOPLE, down=False)
