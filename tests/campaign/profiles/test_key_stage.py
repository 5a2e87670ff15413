"""Keys an import stages and writes once, in key order: the rows that stand are the ones
writing each chunk's keys as it went would have left, and no key outlives its profile
(``profile_keys`` has no foreign key since migration c0019).
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import make_url, select

from audiencehub.campaign import UpsertKey, count_profiles, get_profile, import_profiles
from audiencehub.campaign.profiles import file_import
from audiencehub.campaign.profiles.editing import delete_profile
from audiencehub.campaign.profiles.key_stage import KeyStage
from audiencehub.campaign.schema import profile_keys, profiles
from audiencehub.errors import StorageError
from audiencehub.identity import HashScheme, IdKind
from audiencehub.identity.hashing import digest
from audiencehub.workspace import init_workspace
from tests.campaign.profiles.test_file_import import write
from tests.helpers import drop_pg_database, new_pg_database, pg_admin, pg_database_url


def _aam(email: str) -> bytes:
    return digest(email, HashScheme.AAM, IdKind.EMAIL)


def _keys(workspace) -> set[tuple[object, ...]]:
    with workspace.campaign.connect() as connection:
        return set(connection.execute(select(profile_keys)).all())


def _orphans(workspace) -> int:
    with workspace.campaign.connect() as connection:
        known = {row.id for row in connection.execute(select(profiles.c.id))}
        return sum(
            1 for key in connection.execute(select(profile_keys)) if key.profile_id not in known
        )


def test_a_key_changed_back_and_forth_ends_as_the_last_row_says(workspace, tmp_path, monkeypatch):
    """Each row its own chunk: an email staged, deleted by a later chunk, staged again, and
    one rewritten in the same chunk (a change of case: same digest) all end right."""
    monkeypatch.setattr(file_import, "_BLOCK_ROWS", 1)
    monkeypatch.setattr(file_import, "_PG_CHUNK_ROWS", 1)
    monkeypatch.setattr(file_import, "first_load_applies", lambda connection: False)  # row by row
    rows = [
        ["crm_id", "email"],
        ["C1", "a@x.org"],
        ["C2", "keep@x.org"],
        ["C1", "b@x.org"],
        ["C1", "a@x.org"],
        ["C3", "Case@x.org"],
        ["C3", "case@x.org"],
        ["C4", "gone@x.org"],
        ["C4", "last@x.org"],
    ]
    report = import_profiles(
        workspace.campaign, write(tmp_path / "p.csv", rows), key=UpsertKey.CRM_ID, workers=1
    )
    assert (report.inserted, report.updated) == (4, 4)
    with workspace.campaign.connect() as connection:
        ids = {crm: get_profile(connection, crm)["id"] for crm in ("C1", "C2", "C3", "C4")}
    assert _keys(workspace) == {
        ("aam", "email", _aam("a@x.org"), ids["C1"]),
        ("aam", "email", _aam("keep@x.org"), ids["C2"]),
        ("aam", "email", _aam("case@x.org"), ids["C3"]),
        ("aam", "email", _aam("last@x.org"), ids["C4"]),
    }


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_staged_keys_of_a_profile_that_is_gone_are_not_written(workspace, tmp_path):
    """The stage writes keys only for profiles that exist when it is written (SQLite
    writes as it goes: its one writer at a time holds the profiles meanwhile)."""
    import_profiles(
        workspace.campaign, write(tmp_path / "p.csv", [["email"], ["jo@x.org"]]), workers=1
    )
    before = _keys(workspace)
    [(_, _, _, jo)] = before
    with workspace.campaign.begin() as connection:
        stage = KeyStage(connection)
        stage.add(
            [("meta", "email", _aam("x@x.org"), jo), ("meta", "email", _aam("y@x.org"), jo + 1000)]
        )
        stage.write()
    assert _keys(workspace) == before | {("meta", "email", _aam("x@x.org"), jo)}


def _import_in_thread(workspace, path, **options) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(import_profiles(workspace.campaign, path, workers=1, **options))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_profile_deleted_while_an_import_changes_it_keeps_no_keys(workspace, tmp_path):
    """Deletion first: the import reads the profile, waits on the deleter's lock, then
    finds it gone; its staged key for it is not written, and the import succeeds."""
    import_profiles(
        workspace.campaign,
        write(tmp_path / "a.csv", [["crm_id", "email"], ["C1", "jo@x.org"], ["C2", "al@x.org"]]),
        key=UpsertKey.CRM_ID,
        workers=1,
    )
    with workspace.campaign.connect() as connection:
        jo, al = (get_profile(connection, crm)["id"] for crm in ("C1", "C2"))
    changed = write(tmp_path / "b.csv", [["crm_id", "email"], ["C1", "joanna@x.org"]])
    with workspace.campaign.begin() as deleting:
        delete_profile(deleting, jo)
        thread, outcome = _import_in_thread(workspace, changed, key=UpsertKey.CRM_ID)
        time.sleep(1.0)  # the import reaches the profile's row lock and waits there
        assert thread.is_alive()
    thread.join(timeout=60)
    assert not isinstance(outcome[0], Exception), outcome
    assert _orphans(workspace) == 0
    assert {key.profile_id for key in _keys(workspace)} == {al}


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_profile_deleted_after_an_import_changed_it_loses_the_new_keys_too(workspace, tmp_path):
    """Import first: the deleter waits for the import's commit, then deletes the keys the
    import wrote."""
    import_profiles(
        workspace.campaign,
        write(tmp_path / "a.csv", [["crm_id", "email"], ["C1", "jo@x.org"]]),
        key=UpsertKey.CRM_ID,
        workers=1,
    )
    with workspace.campaign.connect() as connection:
        jo = get_profile(connection, "C1")["id"]
    deleted = threading.Event()

    def delete_meanwhile(done: int, total: int) -> None:
        # the import has updated the profile and staged its key: the deleter must wait
        def target() -> None:
            with workspace.campaign.begin() as deleting:
                delete_profile(deleting, jo)
            deleted.set()

        threading.Thread(target=target).start()
        assert not deleted.wait(1.0)

    import_profiles(
        workspace.campaign,
        write(tmp_path / "b.csv", [["crm_id", "email"], ["C1", "joanna@x.org"]]),
        key=UpsertKey.CRM_ID,
        workers=1,
        progress=delete_meanwhile,
    )
    assert deleted.wait(60)
    assert _keys(workspace) == set()


@pytest.mark.postgres
def test_an_account_that_may_not_create_temporary_tables_is_told_what_to_grant(tmp_path):
    """The import stages keys in a temporary table: without the privilege it stops with a
    StorageError naming the grant, and nothing is imported."""
    name = new_pg_database()
    role = f"{name}_owner"
    try:
        pg_admin(f'CREATE ROLE "{role}" LOGIN')
        pg_admin(f'ALTER DATABASE "{name}" OWNER TO "{role}"')
        pg_admin(f'REVOKE TEMPORARY ON DATABASE "{name}" FROM PUBLIC, "{role}"')
        url = make_url(pg_database_url(name)).set(username=role, password=None)
        url_text = url.render_as_string(hide_password=False)
        workspace = init_workspace(
            tmp_path / "ws", campaign_db_url=url_text, people_db_url=url_text
        )
        try:
            with pytest.raises(StorageError) as raised:
                import_profiles(
                    workspace.campaign, write(tmp_path / "p.csv", [["email"], ["jo@x.org"]])
                )
            assert "GRANT TEMPORARY" in raised.value.hint
            with workspace.campaign.connect() as connection:
                assert count_profiles(connection) == 0
        finally:
            workspace.dispose()
    finally:
        drop_pg_database(name)
        pg_admin(f'DROP ROLE IF EXISTS "{role}"')
