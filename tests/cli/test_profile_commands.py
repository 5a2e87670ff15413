"""Workspace and profile commands, end to end through the CLI."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from audiencehub.cli import app
from audiencehub.db import System
from audiencehub.db.migrate import head_revision
from audiencehub.workspace import open_workspace


def test_commands_need_a_workspace(cli, tmp_path):
    """Without a workspace a command says how to create one, exit 2."""
    result = cli("profiles", "count", "--workspace", str(tmp_path))
    assert result.code == 2
    assert "is not an audiencehub workspace" in result.err
    assert "audiencehub init DIR" in result.err


def test_init_import_count_show(cli, tmp_path):
    """A workspace is created, a file imported, and profiles counted and shown."""
    ws = tmp_path / "ws"
    assert cli("init", str(ws)).code == 0
    data = tmp_path / "people.csv"
    data.write_text("email,crm_id,first_name\nJo@X.org,C1,Jo\nbad,C2,Bo\n", encoding="utf-8")
    result = cli("profiles", "import", str(data), "--workspace", str(ws), "--json")
    assert result.code == 0
    report = json.loads(result.out)
    assert {k: report[k] for k in ("read", "inserted", "updated", "unchanged", "rejected")} == {
        "read": 2,
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert report["rejects_file"].startswith(str(ws / "rejects"))
    assert cli("profiles", "count", "-w", str(ws)).out == "1\n"
    shown = json.loads(cli("profiles", "show", "jo@x.org", "-w", str(ws), "--json").out)
    assert (shown["crm_id"], shown["keys"][0]["scheme"]) == ("C1", "aam")


def test_workspace_from_the_environment(cli, tmp_path, monkeypatch):
    """AUDIENCEHUB_WORKSPACE is used when --workspace is not given."""
    ws = tmp_path / "ws"
    cli("init", str(ws))
    monkeypatch.setenv("AUDIENCEHUB_WORKSPACE", str(ws))
    assert cli("profiles", "count").out == "0\n"


def test_import_errors_are_messages_not_tracebacks(cli, tmp_path):
    """A bad mapping is exit 2 with the fix, and no traceback."""
    ws = tmp_path / "ws"
    cli("init", str(ws))
    data = tmp_path / "p.csv"
    data.write_text("name\nJo\n", encoding="utf-8")
    result = cli("profiles", "import", str(data), "-w", str(ws))
    assert result.code == 2
    assert "the file has no column for the upsert key email" in result.err
    assert "Traceback" not in result.err
    bad_map = cli("profiles", "import", str(data), "-w", str(ws), "--map", "nonsense")
    assert "--map 'nonsense' is not COLUMN=FIELD" in bad_map.err


def test_rekey_and_db_upgrade(cli, tmp_path):
    """rekey adds schemes; db upgrade reports both databases at head."""
    ws = tmp_path / "ws"
    cli("init", str(ws))
    assert (
        "schemes in use: aam, uid2"
        in cli("profiles", "rekey", "--scheme", "uid2", "-w", str(ws)).out
    )
    upgraded = cli("db", "upgrade", "-w", str(ws)).out
    assert f"campaign database at migration {head_revision(System.CAMPAIGN)}" in upgraded
    assert f"people database at migration {head_revision(System.PEOPLE)}" in upgraded


def test_demo_is_idempotent(cli, tmp_path):
    """The demo imports its profiles and shares a people segment into campaign;
    running it again changes nothing."""
    ws = tmp_path / "demo"
    first = cli("demo", "--workspace", str(ws), "--count", "500")
    assert first.code == 0
    assert cli("profiles", "count", "-w", str(ws)).out.strip() == str(500 - _rejected(first.out))
    shown = json.loads(cli("audiences", "show", "Shoe buyers", "--json", "-w", str(ws)).out)
    report = shown["last_report"]
    # a third of the stored profiles' hashed emails, and 1,000 strangers
    assert report["unmatched"] == 1000 and report["invalid_ids"] == 0
    assert report["matched"] == report["added"] == shown["size"] > 100
    assert "Shared audience 'Shoe buyers'" in first.out
    # and back: the French profiles with an email, shared by a workflow, in segment 901
    segment = json.loads(cli("people", "segments", "show", "901", "--json", "-w", str(ws)).out)
    with open_workspace(ws).campaign.connect() as connection:
        french = connection.execute(
            text(
                "SELECT count(DISTINCT email_key) FROM profiles WHERE country = 'FR' "
                "AND email_key IS NOT NULL AND NOT (email_opt_out OR sms_opt_out OR blocklisted)"
            )
        ).scalar_one()
    assert segment["size"] == french > 0
    # someone unsubscribes through a link; running the demo again must not re-subscribe them
    with open_workspace(ws).campaign.begin() as connection:
        left = connection.execute(
            text("SELECT id FROM profiles WHERE NOT email_opt_out ORDER BY id LIMIT 1")
        ).scalar_one()
        connection.execute(
            text(
                "UPDATE profiles SET email_opt_out = true, email_unsubscribed_at = "
                "CURRENT_TIMESTAMP WHERE id = :id"
            ),
            {"id": left},
        )
    again = cli("demo", "--workspace", str(ws), "--count", "500").out
    assert re.search(r"│ inserted +│ 0 ", again) and re.search(r"│ updated +│ 0 ", again)
    assert re.search(r"│ opt-outs kept +│ 1 ", again)
    assert "Shared audience" not in again
    with open_workspace(ws).campaign.connect() as connection:
        still = connection.execute(
            text("SELECT email_opt_out FROM profiles WHERE id = :id"), {"id": left}
        ).scalar_one()
    assert still
    assert json.loads(cli("audiences", "show", "Shoe buyers", "--json", "-w", str(ws)).out) == shown


def _rejected(output: str) -> int:
    line = next(line for line in output.splitlines() if "rejected" in line)
    return int(line.split("│")[2].strip().replace(",", ""))


def _commands(group, prefix=()):
    import typer.main

    command = typer.main.get_command(group)
    stack = [(prefix, command)]
    while stack:
        path, cmd = stack.pop()
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            stack.extend(((*path, name), sub) for name, sub in subcommands.items())
        else:
            yield " ".join(path), cmd


def test_every_command_has_help_and_is_documented():
    """Each command has a help text and a section in docs/cli.md."""
    from pathlib import Path

    reference = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, command in _commands(app):
        assert command.help, f"`audiencehub {name}` has no help text"
        assert f"`audiencehub {name}`" in reference, (
            f"docs/cli.md does not document `audiencehub {name}`"
        )


def test_count_with_a_filter(cli, tmp_path):
    """--where counts matching profiles; a bad filter is exit 2 with the position."""
    ws = tmp_path / "ws"
    cli("init", str(ws))
    data = tmp_path / "p.csv"
    data.write_text("email,country\na@x.org,FR\nb@x.org,US\nc@x.org,FR\n", encoding="utf-8")
    cli("profiles", "import", str(data), "-w", str(ws))
    assert cli("profiles", "count", "--where", "country = 'FR'", "-w", str(ws)).out == "2\n"
    bad = cli("profiles", "count", "--where", "country = FR", "-w", str(ws))
    assert bad.code == 2 and "position 11: a value expected" in bad.err
