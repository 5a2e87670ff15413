"""Files that hold secrets or personal data are owner-only from the moment they exist."""

from __future__ import annotations

import stat

from sqlalchemy import select

from audiencehub.campaign import import_profiles
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.delivery import OutboxMailer, send_sms
from audiencehub.campaign.messaging.sending import send_email_delivery
from audiencehub.campaign.messaging.templates import EmailTemplate
from audiencehub.campaign.messaging.tracking import LinkSigner
from audiencehub.campaign.schema import profiles
from audiencehub.workspace import init_workspace


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_workspace_files_are_owner_only(tmp_path):
    """The folder, settings, databases (and their WAL), master key, rejects and outbox."""
    folder = tmp_path / "ws"
    workspace = init_workspace(folder)
    source = tmp_path / "people.csv"
    source.write_text("email,first_name\njo@example.com,Jo\nnot-an-email,Bad\n")
    report = import_profiles(workspace.campaign, source, rejects_path=folder / "rejects" / "r.csv")
    vault = KeyVault(folder)
    send_email_delivery(
        workspace.campaign,
        workspace.settings,
        LinkSigner(vault.derive("tracking")),
        OutboxMailer(folder / "outbox"),
        name="hello",
        template=EmailTemplate("hi", "hello", "<p>hello</p>"),
        profile_ids=select(profiles.c.id),
    )
    send_sms(workspace.settings, "+33612345678", "hello")
    workspace.dispose()
    assert report.rejected == 1
    private_files = [
        folder / "audiencehub.toml",
        folder / "campaign.db",
        folder / "people.db",
        folder / "master.key",
        folder / "rejects" / "r.csv",
        *(folder / "outbox").iterdir(),
        *folder.glob("*.db-wal"),
        *folder.glob("*.db-shm"),
    ]
    assert len(list((folder / "outbox").iterdir())) == 2
    assert {str(p.relative_to(folder)): _mode(p) for p in private_files} == {
        str(p.relative_to(folder)): 0o600 for p in private_files
    }
    for path in (folder, folder / "outbox", folder / "rejects"):
        assert _mode(path) == 0o700, path


def test_scratch_folders_of_killed_runs_are_swept(tmp_path):
    """A run removes the scratch folders that killed runs left (their process is gone), and
    leaves those of runs still alive; its own folder goes when it ends."""
    import os

    from audiencehub.files import scratch_folder

    gone = tmp_path / "import-4194303-abcd"  # above Linux's pid range: never alive
    gone.mkdir()
    (gone / "staged.txt").write_text("people's data")
    alive = tmp_path / f"import-{os.getppid()}-efgh"
    alive.mkdir()
    with scratch_folder(tmp_path, "import") as folder:
        assert folder.is_dir() and _mode(folder) == 0o700
        assert not gone.exists() and alive.exists()
    assert not folder.exists()
