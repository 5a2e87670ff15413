"""Workspace settings: file, environment, and refusal of nonsense."""

from __future__ import annotations

import pytest

from audiencehub.config import CONFIG_FILE, load_settings
from audiencehub.errors import ConfigurationError, StorageError, WorkspaceNotFound
from audiencehub.workspace import init_workspace, open_workspace


def test_defaults_are_sqlite_in_the_workspace(tmp_path):
    """A new workspace keeps both databases as SQLite files in its folder."""
    ws = init_workspace(tmp_path)
    assert ws.settings.campaign_db_url == f"sqlite:///{tmp_path / 'campaign.db'}"
    assert (tmp_path / "campaign.db").exists() and (tmp_path / "people.db").exists()


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    """AUDIENCEHUB_* variables win over audiencehub.toml; postgresql URLs get psycopg."""
    init_workspace(tmp_path, default_region="fr")
    monkeypatch.setenv("AUDIENCEHUB_CAMPAIGN_DB_URL", "postgresql://u@db:5432/c")
    settings = load_settings(tmp_path)
    assert settings.campaign_db_url == "postgresql+psycopg://u@db:5432/c"
    assert settings.default_region == "FR"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('campaign_db_url = "mysql://x/y"', "backend 'mysql' is not supported"),
        ('campaign_db_url = "not a url"', "is not a database URL"),
        ('default_region = "France"', "two-letter country code"),
        ("surprise = 1", "Extra inputs are not permitted"),
        ("default_region = ", "not valid TOML"),
    ],
)
def test_bad_settings_are_refused(tmp_path, line, message):
    """Settings that make no sense are refused with the reason."""
    (tmp_path / CONFIG_FILE).write_text(f"[audiencehub]\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_settings(tmp_path)


def test_missing_workspace(tmp_path):
    """A folder without settings is not a workspace."""
    with pytest.raises(WorkspaceNotFound):
        open_workspace(tmp_path / "nowhere")


def test_a_database_behind_the_code_is_refused(tmp_path):
    """Using a workspace whose database was never migrated says to run db upgrade."""
    (tmp_path / CONFIG_FILE).write_text("[audiencehub]\n", encoding="utf-8")
    with pytest.raises(StorageError, match="at migration none") as caught:
        _ = open_workspace(tmp_path).campaign
    assert "audiencehub db upgrade" in caught.value.hint
