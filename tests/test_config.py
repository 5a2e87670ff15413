"""Workspace settings: file, environment, and refusal of nonsense."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audiencehub.config import CONFIG_FILE, Settings, load_settings
from audiencehub.engines.bulk_settings import scratch_of
from audiencehub.errors import ConfigurationError, StorageError, WorkspaceNotFound
from audiencehub.workspace import Workspace, init_workspace, open_workspace


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
        ('bulk_engine = "hadoop"', "bulk_engine: Input should be 'duckdb' or 'spark'"),
        ('spark_conf = { "driver.memory" = "8g" }', "starting with 'spark.': driver.memory"),
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


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUDIENCEHUB_API_TOKEN", "changeme"),
        ("AUDIENCEHUB_SMTP_PASSWORD", "<password>"),
        ("AUDIENCEHUB_SMS_GATEWAY_TOKEN", "${SMS_TOKEN}"),
        ("AUDIENCEHUB_API_TOKEN", "your-api-token-here"),
        ("AUDIENCEHUB_CAMPAIGN_DB_URL", "postgresql://app:password@db:5432/campaign"),
    ],
)
def test_placeholder_secrets_are_refused_outside_demo_mode(tmp_path, monkeypatch, variable, value):
    """A secret left at its placeholder is refused by name, and the value is not echoed."""
    init_workspace(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match="placeholder") as caught:
        load_settings(tmp_path)
    assert value not in str(caught.value) and "password@" not in str(caught.value)


def test_a_demo_workspace_may_keep_example_secrets(tmp_path, monkeypatch):
    """`audiencehub demo` marks its workspace; there example secrets are accepted."""
    init_workspace(tmp_path, demo=True)
    monkeypatch.setenv("AUDIENCEHUB_API_TOKEN", "changeme")
    assert load_settings(tmp_path).api_token == "changeme"


def test_real_secrets_pass(tmp_path, monkeypatch):
    """Random tokens and ordinary passwords are not mistaken for placeholders."""
    init_workspace(tmp_path)
    monkeypatch.setenv("AUDIENCEHUB_API_TOKEN", "q3J8s-W2x9aVb7Lr0Tz4")
    monkeypatch.setenv("AUDIENCEHUB_SMTP_PASSWORD", "Changeling-42!")
    assert load_settings(tmp_path).smtp_password == "Changeling-42!"


def test_a_relative_scratch_path_lies_in_the_workspace(tmp_path):
    """``scratch_path`` names where bulk jobs make their scratch folders; a relative one
    is read from the workspace folder, and each database's bulk jobs are bound to it."""
    init_workspace(tmp_path)
    assert scratch_of(open_workspace(tmp_path).people) is None
    (tmp_path / CONFIG_FILE).write_text(
        '[audiencehub]\nscratch_path = "big-disk/tmp"\n', encoding="utf-8"
    )
    ws = open_workspace(tmp_path)
    assert ws.settings.scratch_path == tmp_path / "big-disk" / "tmp"
    assert scratch_of(ws.people) == scratch_of(ws.campaign) == tmp_path / "big-disk" / "tmp"


def test_every_setting_is_documented():
    """docs/configuration.md has a row for every field of Settings, and none that is gone."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    section = docs.split("## Every setting", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE))
    assert documented == set(Settings.model_fields)


def test_a_failed_init_leaves_nothing_behind(tmp_path):
    """An unreachable database: the error says so and no half-made workspace stays, so the
    same command with the right URL then works."""
    folder = tmp_path / "ws"
    with pytest.raises(StorageError, match="cannot"):
        init_workspace(folder, campaign_db_url="postgresql://nobody@127.0.0.1:1/none")
    assert not folder.exists()
    kept = tmp_path / "existing"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(StorageError):
        init_workspace(kept, people_db_url="postgresql://nobody@127.0.0.1:1/none")
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]
    assert init_workspace(folder).path == folder


def test_spark_reaches_the_workspace_s3_endpoint(tmp_path, monkeypatch):
    """Spark's S3A connector gets the workspace's S3-compatible endpoint; spark_conf wins."""
    (tmp_path / CONFIG_FILE).write_text(
        '[audiencehub]\nbulk_engine = "spark"\ns3_endpoint_url = "http://minio:9000"\n'
        'spark_conf = { "spark.hadoop.fs.s3a.path.style.access" = "false" }\n',
        encoding="utf-8",
    )
    conf = Workspace(load_settings(tmp_path)).spark.conf
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "false"


def test_no_secret_shows_in_the_settings_repr(tmp_path):
    """A settings object that ends up in a log or a traceback does not carry its secrets."""
    settings = Settings(
        workspace=tmp_path,
        campaign_db_url="postgresql+psycopg://app:Zq8-db-password@db/campaign",
        people_db_url="postgresql+psycopg://app:Zq8-db-password@db/people",
        smtp_password="Zq8-smtp-password",
        sms_gateway_token="Zq8-sms-token",
        api_token="Zq8-api-token-value",
        limits_redis_url="redis://:Zq8-redis-password@cache:6379/0",
    )
    assert "Zq8" not in repr(settings) and "Zq8" not in str(settings)
    assert settings.smtp_password == "Zq8-smtp-password"  # the values themselves are kept
