"""A first load into an empty store on PostgreSQL (checked by columns in DuckDB, COPY'd,
indexed after) ends exactly as the row-by-row import of the same file: the same
profiles, keys under every scheme, counts, and rejected lines with their reasons.

Each test imports a file twice into the same empty database, once each way, and
compares everything but the times (ids by their order: the sequence goes on).
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url

from audiencehub.campaign import UpsertKey, add_key_schemes, import_profiles
from audiencehub.campaign.profiles import columnar_check, first_load
from audiencehub.identity import HashScheme
from audiencehub.workspace import init_workspace
from tests.campaign.profiles.parity import (
    HEADER,
    counted_loads,
    counted_merges,
    empty,
    row,
    row_by_row,
    snapshot,
    text_of,
)
from tests.helpers import drop_pg_database, new_pg_database, pg_admin, pg_database_url

pytestmark = pytest.mark.postgres
_ON_POSTGRESQL = pytest.mark.parametrize("backend", ["postgresql"])

TRICKY = [
    row(
        "ann@example.com",
        "+14155550101",
        "C1",
        "Ann",
        last_name="Lee",
        country="US",
        birth_date="1980-01-02",
        email_opt_out="0",
        blocklisted="no",
        tier="gold",
        note="x",
    ),
    row(
        " Bob@Example.COM ",
        " 06 12 34 56 78 ",
        " C2 ",
        " Bob ",
        country=" fr ",
        email_opt_out="yes",
        sms_opt_out="N",
    ),
    row("cy@example.com", "", "C3", "\u00a0Cy\u00a0"),  # white space str.strip() removes
    row("dee@example.com", "", "C4", "De\te"),
    row("eve@example.com", "", "C5", "Eve, Jr."),  # a quoted field
    row("not-an-email", "", "C6"),
    row("josé@exämple.com", "", "C7", "José"),  # the library's path
    row("x@y.test", "", "C8"),  # a special-use name
    row("fay@example.com", "12", "C9"),
    row("gus@example.com", "0612345678", "C10"),  # the default region reads it
    row("hal@example.com", "", "C11", birth_date="19900101"),
    row("ida@example.com", "", "C12", birth_date="1990-02-30"),
    row("jay@example.com", "", "C13", birth_date="31/12/1999"),
    row("kai@example.com", "", "C14", email_opt_out="maybe"),
    row("lea@example.com", "", "C15", email_opt_out="T", sms_opt_out="Y", blocklisted="False"),
    row("max@example.com", "", "C16", country="XX"),
    row("ned@example.com", "", "C17", country="FRA"),
    row("oda@example.com", "07700 900123", "C18", country="gb"),
    row("Ann@Example.com", "", "C1", "Annie", tier="silver"),  # the same key again
    row("pia@example.com", "", "C2"),  # Bob's CRM id
    row("quin@example.com", "", "C20", "\u00a0Quin"),  # claims C20 first, checked slowly
    row("rex@example.com", "", "C20", "Rex"),  # then loses it
    row("sam@example.com", "", "C21", "S" * 300),
    row("tia@example.com", "", "C22", "é" * 200),  # 200 characters, 400 bytes
    row("", "", "C23", "Nobody"),
    row("uma@example.com", "", "C24", tier='say "hi"', note="naïve"),
    row("Jo.Doe+news@Gmail.com", "+447700900456", "C25"),
    row("vic@example.com", "   ", "C26", "   "),
    row("wes@example.com", "+33 6 12 34 56 79", "C27", country="DE"),
    row("xia@sub.example.co.uk", "+1 (415) 555-0199", "C28", last_name="Xia"),
    row("yul@example.com", "+3361234", "C29"),
    row("zed@example.com", "", "", "Zed"),
    row("ann@example.com", "", "C30", "Ann again"),  # a third row, another CRM id
    row("una@example.com", "", "C1", "Una"),  # the CRM id Ann gave up stays hers
    row("amy@example.com", "", "C31", email_opt_out="1", sms_opt_out="0"),
]


def _both_ways(
    workspace, tmp_path: Path, monkeypatch, path: Path, chunks: str = "as cut", **options
):
    """The report, rejects and store of a first load and of the row import (its rows
    applied in ``chunks``), in that order."""
    calls = counted_loads(monkeypatch)
    results = []
    for way in ("first load", "row import"):
        if way == "row import":
            row_by_row(monkeypatch, chunks)
        rejects = tmp_path / f"{way}.rejects.csv"
        report = import_profiles(workspace.campaign, path, rejects_path=rejects, **options)
        kept = (
            list(csv.reader(rejects.open(encoding="utf-8")))
            if report.rejects_path is not None
            else []
        )
        counts = (report.read, report.inserted, report.updated, report.unchanged, report.rejected)
        results.append((counts, kept, snapshot(workspace)))
        empty(workspace)
    return calls, results


@_ON_POSTGRESQL
@pytest.mark.parametrize("chunks", ["as cut", "a row each"])
@pytest.mark.parametrize("key", [UpsertKey.EMAIL, UpsertKey.CRM_ID])
def test_a_tricky_file_loads_as_the_row_import_loads_it(
    workspace, tmp_path, monkeypatch, key, chunks
):
    """Plain rows, rows only the validator can judge, repeated keys, CRM ids claimed twice
    or given up, and keys under every scheme: the same outcome both ways, however the row
    import cuts its chunks, CRLF and blank lines too."""
    with workspace.campaign.begin() as connection:
        add_key_schemes(connection, [HashScheme.GOOGLE, HashScheme.UID2, HashScheme.META])
    content = text_of(TRICKY, extra='\r\n""\r\n\r\n')
    path = tmp_path / "tricky.csv"
    path.write_text(content.replace("\r\nfay@", "\r\n\r\nfay@"), encoding="utf-8")
    calls, (loaded, imported) = _both_ways(
        workspace, tmp_path, monkeypatch, path, chunks, key=key, default_region="FR"
    )
    assert calls and calls[0] >= 10  # the first load ran, and COPY'd the plain rows
    assert loaded == imported
    counts, kept, store = loaded
    assert counts[0] == counts[1] + counts[2] + counts[3] + counts[4]
    assert counts[4] == len(kept) - 1 > 5  # the header, then one line per rejected row
    assert store["keys"] and store["profiles"]


@_ON_POSTGRESQL
def test_a_gzip_semicolon_file_without_a_final_newline(workspace, tmp_path, monkeypatch):
    """Another delimiter, gzip, and a last line with no line end."""
    rows = [HEADER, *TRICKY[:12]]
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)
    path = tmp_path / "p.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(out.getvalue().rstrip("\n"))
    calls, (loaded, imported) = _both_ways(workspace, tmp_path, monkeypatch, path)
    assert calls and loaded == imported
    assert loaded[0][0] == 12


@_ON_POSTGRESQL
def test_a_field_over_several_lines_is_left_to_the_row_import(workspace, tmp_path, monkeypatch):
    """A quoted field with a line break inside: the row import reads the file, lines true."""
    content = text_of(
        [TRICKY[0], row("bea@example.com", "", "C40", "two\nlines"), row("bad", "", "C41")],
        line_end="\n",
    )
    path = tmp_path / "multi.csv"
    path.write_text(content, encoding="utf-8")
    calls, (loaded, imported) = _both_ways(workspace, tmp_path, monkeypatch, path)
    assert calls == []  # checked, then handed over before anything was written
    assert loaded == imported
    assert loaded[1][1][0] == "5"  # the bad row starts on line 5, after the two-line field


# visitor_links' foreign key stands on profiles' primary key: dropped and added with it
REFERENCE = "FOREIGN KEY (profile_id) REFERENCES profiles(id)"


@_ON_POSTGRESQL
def test_indexes_stand_again_and_a_failed_load_leaves_nothing(workspace, tmp_path, monkeypatch):
    """The indexes dropped for the load are rebuilt as they were, the columns' defaults
    and the foreign keys referring to them too; a load that fails midway rolls back
    whole, indexes included."""
    path = tmp_path / "p.csv"
    path.write_text(text_of(TRICKY[:5]), encoding="utf-8")
    before = snapshot(workspace)["indexes"]
    assert any("email_key" in name for name, _ in before)
    assert ("visitor_links.visitor_links_profile_id_fkey", REFERENCE) in before

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(first_load, "copy_to_postgresql", broken)
    with pytest.raises(RuntimeError, match="disk is full"):
        import_profiles(workspace.campaign, path)
    after = snapshot(workspace)
    assert after == {"profiles": {}, "keys": [], "indexes": before}
    monkeypatch.undo()
    report = import_profiles(workspace.campaign, path)
    assert report.inserted == 5
    assert snapshot(workspace)["indexes"] == before


@_ON_POSTGRESQL
def test_a_store_with_profiles_is_merged_into(workspace, tmp_path, monkeypatch):
    """Only an empty store gets a first load: the second file is merged with the stored
    profiles (:mod:`audiencehub.campaign.profiles.bulk_merge`)."""
    path = tmp_path / "p.csv"
    path.write_text(text_of(TRICKY[:3]), encoding="utf-8")
    loads = counted_loads(monkeypatch)
    merges = counted_merges(monkeypatch)
    import_profiles(workspace.campaign, path)
    report = import_profiles(workspace.campaign, path)
    assert loads == [2]  # the third row has white space only the validator strips
    assert merges == [2]
    assert (report.inserted, report.unchanged) == (0, 3)


@_ON_POSTGRESQL
def test_a_file_with_every_field_quoted(workspace, tmp_path, monkeypatch):
    """Exports that quote every field load by columns too; a quoted delimiter or quote
    inside a field, and a line holding only "", go to the validator."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows([HEADER, *TRICKY])
    path = tmp_path / "quoted.csv"
    path.write_text(out.getvalue() + '""\n', encoding="utf-8")
    calls, (loaded, imported) = _both_ways(workspace, tmp_path, monkeypatch, path)
    assert calls and calls[0] >= 9  # all but a field with a comma, of the plain rows above
    assert loaded == imported


@_ON_POSTGRESQL
def test_a_one_column_file_and_its_empty_quoted_lines(workspace, tmp_path, monkeypatch):
    """A "" line holds no record, for the row import's reader as for the first load."""
    path = tmp_path / "emails.csv"
    path.write_text('email\n"a@x.org"\n""\nb@x.org\n\n"C@X.org "\n', encoding="utf-8")
    calls, (loaded, imported) = _both_ways(workspace, tmp_path, monkeypatch, path)
    assert calls == [3]
    assert loaded == imported
    assert loaded[0] == (3, 3, 0, 0, 0)


@_ON_POSTGRESQL
def test_a_file_mostly_for_the_validator_goes_to_the_row_import(workspace, tmp_path, monkeypatch):
    """Beyond a bound on rows the validator must check one by one, the row import reads
    the file, so memory stays flat."""
    monkeypatch.setattr(columnar_check, "_SLOW_MOST", 2)
    path = tmp_path / "p.csv"
    path.write_text(text_of(TRICKY), encoding="utf-8")
    calls, (loaded, imported) = _both_ways(workspace, tmp_path, monkeypatch, path)
    assert calls == []
    assert loaded == imported


def test_an_account_that_does_not_own_the_tables_merges(tmp_path, monkeypatch):
    """Dropping and building indexes takes the tables' owner: an account granted reads and
    writes only merges into an empty store instead (no DDL), and the profiles arrive."""
    name = new_pg_database()
    writer = f"{name}_writer"
    try:
        workspace = init_workspace(
            tmp_path / "ws",
            campaign_db_url=pg_database_url(name),
            people_db_url=pg_database_url(name),
        )
        workspace.dispose()
        pg_admin(f'CREATE ROLE "{writer}" LOGIN')
        with create_engine(pg_database_url(name)).begin() as connection:
            connection.exec_driver_sql(
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{writer}"'
            )
            connection.exec_driver_sql(
                f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{writer}"'
            )
        url = make_url(pg_database_url(name)).set(username=writer, password=None)
        engine = create_engine(url)
        loads = counted_loads(monkeypatch)
        try:
            path = tmp_path / "p.csv"
            path.write_text(text_of(TRICKY[:3]), encoding="utf-8")
            merges = counted_merges(monkeypatch)
            report = import_profiles(engine, path)
            assert (loads, merges, report.inserted) == ([], [2], 3)
        finally:
            engine.dispose()
    finally:
        drop_pg_database(name)
        pg_admin(f'DROP ROLE IF EXISTS "{writer}"')


@_ON_POSTGRESQL
def test_a_session_writing_visitor_links_and_a_first_load_wait_in_turn(workspace, tmp_path):
    """A session writing visitor_links locks that table, then the profile it refers to; the
    first load locks visitor_links before profiles, so the two wait in turn instead of
    deadlocking (PostgreSQL would cancel one of them)."""
    path = tmp_path / "p.csv"
    path.write_text(text_of(TRICKY[:3]), encoding="utf-8")
    writer = workspace.campaign.connect()
    try:
        writer.begin()
        writer.exec_driver_sql("SET lock_timeout = '20s'")
        writer.exec_driver_sql("LOCK TABLE visitor_links IN ROW EXCLUSIVE MODE")  # as INSERT
        with ThreadPoolExecutor(1) as pool:
            loading = pool.submit(import_profiles, workspace.campaign, path)
            waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
            for _ in range(200):  # until the load waits for the writer's lock
                with workspace.campaign.connect() as probe:
                    if probe.exec_driver_sql(waiting).scalar_one():
                        break
                time.sleep(0.05)
            else:
                pytest.fail("the load never waited for visitor_links")
            # the foreign key check's lock on profiles: granted, the load does not hold it
            writer.exec_driver_sql("LOCK TABLE profiles IN ROW SHARE MODE")
            writer.rollback()
            assert loading.result(timeout=60).inserted == 3
    finally:
        writer.close()


@_ON_POSTGRESQL
def test_a_foreign_key_from_another_schema_is_dropped_and_added_back(
    workspace, tmp_path, monkeypatch
):
    """A table of another schema referring to the profiles (a DBA's own) keeps its foreign
    key: dropped with the primary key it stands on, added back after the load."""
    path = tmp_path / "p.csv"
    path.write_text(text_of(TRICKY[:3]), encoding="utf-8")
    constraints = (
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'elsewhere.\"Notes\"'::regclass"
    )
    with workspace.campaign.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA elsewhere")
        connection.exec_driver_sql(
            'CREATE TABLE elsewhere."Notes" (profile_id bigint REFERENCES profiles (id))'
        )
        before = connection.exec_driver_sql(constraints).all()
    loads = counted_loads(monkeypatch)
    assert import_profiles(workspace.campaign, path).inserted == 3
    assert len(loads) == 1  # a first load, not a merge
    with workspace.campaign.begin() as connection:
        assert connection.exec_driver_sql(constraints).all() == before
        connection.exec_driver_sql("DROP SCHEMA elsewhere CASCADE")
