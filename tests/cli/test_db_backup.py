"""``audiencehub db backup``: a consistent copy of an embedded workspace, taken while it
runs, that opens as a workspace with the same state; what it cannot copy whole is
refused before anything is written."""

from __future__ import annotations

import json
import threading
import time

import pytest

from audiencehub.campaign.profiles.lookup import count_profiles
from audiencehub.engines.lake import writer_lock
from audiencehub.errors import ConfigurationError, InvalidInput, StorageError
from audiencehub.people.lake import TABLES, reading
from audiencehub.people.segments import list_segments
from audiencehub.runtime import backup as backup_module
from audiencehub.runtime.backup import MANIFEST, back_up
from audiencehub.runtime.demo import run_demo
from audiencehub.workspace import open_workspace
from tests.helpers import cli_ok


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo workspace: profiles, shared audiences, the people lake with its history."""
    return run_demo(tmp_path_factory.mktemp("demo") / "ws", count=300).workspace


def _state(workspace):
    with workspace.campaign.connect() as connection:
        profiles = count_profiles(connection)
    with workspace.people.connect() as connection:
        sizes = {s["id"]: s["size"] for s in list_segments(connection)}
    with reading(workspace.people) as session:
        rows = {
            t: session.execute(f"SELECT count(*) FROM lake.{t}").fetchall()[0][0] for t in TABLES
        }
    return profiles, sizes, rows


def test_the_copy_is_a_workspace_with_the_same_state(demo, tmp_path):
    backup = back_up(demo, tmp_path / "copy")
    copy = open_workspace(tmp_path / "copy")
    try:
        assert _state(copy) == _state(demo)
        profiles, _, rows = _state(copy)
        assert profiles > 0 and rows["realisations"] > 0 and rows["memberships"] > 0
    finally:
        copy.dispose()
    assert backup.checked == _state(demo)[2]  # what the backup read back through its catalog
    assert {"campaign.db", "people.db", "people_lake.sqlite"} <= set(backup.databases)
    assert backup.lake_files > 0 and backup.linked == backup.lake_files  # one file system
    assert set(backup.files) == {"audiencehub.toml", "master.key"}
    manifest = json.loads((tmp_path / "copy" / MANIFEST).read_text())
    assert manifest["databases"] == backup.databases
    for name in ("campaign.db", "people.db", "master.key", MANIFEST):
        assert (tmp_path / "copy" / name).stat().st_mode & 0o077 == 0, name
    assert (tmp_path / "copy").stat().st_mode & 0o077 == 0


def test_a_backup_waits_for_the_lakes_writer(demo, tmp_path):
    """The lake's files are taken while no writer can add or delete one."""
    held, release = threading.Event(), threading.Event()

    def writer():
        with writer_lock(demo.people_lake, demo.people):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait(10)
    threading.Timer(0.5, release.set).start()
    started = time.perf_counter()
    back_up(demo, tmp_path / "copy")
    assert time.perf_counter() - started >= 0.45
    thread.join()


def test_what_cannot_be_copied_whole_is_refused_and_nothing_is_written(workspace, demo, tmp_path):
    if workspace.settings.campaign_db_url.startswith("postgresql"):
        with pytest.raises(ConfigurationError) as refused:
            back_up(workspace, tmp_path / "copy")
        assert "pg_dump" in refused.value.hint and "@" not in refused.value.message
        assert not (tmp_path / "copy").exists()
        return
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    for destination in (taken, demo.path / "backups" / "today"):
        with pytest.raises(InvalidInput):
            back_up(demo, destination)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    assert not (demo.path / "backups").exists()


def test_the_command_line(cli, demo, tmp_path):
    shown = json.loads(
        cli_ok(cli, "db", "backup", str(tmp_path / "copy"), "--json", "-w", str(demo.path)).out
    )
    assert shown["folder"] == str((tmp_path / "copy").resolve()) and shown["lake_files"] > 0
    again = cli("db", "backup", str(tmp_path / "copy"), "-w", str(demo.path))
    assert again.code != 0 and "not an empty folder" in again.err


def test_a_backup_cut_short_leaves_nothing(demo, tmp_path, monkeypatch):
    def damaged(target, *, databases):
        raise StorageError("the copy of people.db is damaged: page 7")

    monkeypatch.setattr(backup_module, "_check", damaged)
    empty = tmp_path / "empty"
    empty.mkdir()
    for destination in (tmp_path / "new", empty):
        with pytest.raises(StorageError):
            back_up(demo, destination)
    assert not (tmp_path / "new").exists() and list(empty.iterdir()) == []
