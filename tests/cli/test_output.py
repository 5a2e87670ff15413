"""The CLI's output is consistent: tables by default, JSON when asked, nothing cut."""

from __future__ import annotations

import json

from typer.main import get_command

from audiencehub.cli import app

_READERS = ("list", "show", "members", "history")


def _commands(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_every_list_and_show_command_takes_json():
    """A script can read every listing; a person gets a table from the same command."""
    readers = [
        " ".join(path) for path, command in _commands(get_command(app)) if path[-1] in _READERS
    ]
    assert len(readers) >= 12
    missing = [
        " ".join(path)
        for path, command in _commands(get_command(app))
        if path[-1] in _READERS
        and "--json" not in [o for p in command.params for o in getattr(p, "opts", [])]
    ]
    assert missing == []


def test_tables_by_default_json_when_asked_and_not_cut_when_piped(cli, tmp_path):
    """Without --json no JSON is printed; piped, a wide table keeps every column whole."""
    ws = str(tmp_path / "ws")
    assert cli("init", ws).code == 0
    long_name = "A data source with a long name " * 3
    added = cli("people", "datasources", "add", "--id", "7001", "--name", long_name,
                "--inbound-id-type", "customer", "-w", ws)  # fmt: skip
    assert added.code == 0, added.err
    table = cli("people", "datasources", "show", "7001", "-w", ws).out
    assert not table.lstrip().startswith(("{", "["))
    assert long_name.strip() in table  # one cell, not wrapped over lines
    shown = json.loads(cli("people", "datasources", "show", "7001", "--json", "-w", ws).out)
    assert shown["name"] == long_name
    for args in (
        ("accounts", "show"),
        ("audit",),
        ("workflows", "list"),
        ("people", "jobs", "list"),
    ):
        plain = cli(*args, "-w", ws)
        assert plain.code == 0, plain.err
        assert not plain.out.lstrip().startswith(("{", "[")), args
        assert json.loads(cli(*args, "--json", "-w", ws).out) is not None
