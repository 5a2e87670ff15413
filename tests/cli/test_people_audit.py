"""``audiencehub people audit``: the people service's trail from the command line."""

from __future__ import annotations

import json

from tests.helpers import cli_ok


def test_the_command_line_lists_the_trail(cli, tmp_path):
    """Changes made by commands, newest first, as a table or JSON; the ID view of the
    trail keeps to lookups and erasures."""
    ws = str(tmp_path / "ws")
    cli_ok(cli, "init", ws)
    cli_ok(cli, "people", "datasources", "add", "--id", "7001", "--name", "CRM",
           "--inbound-id-type", "customer", "-w", ws)  # fmt: skip
    cli_ok(cli, "people", "datasources", "update", "7001", "--name", "CRM EU", "-w", ws)
    entries = json.loads(cli_ok(cli, "people", "audit", "--kind", "changes", "--json",
                                "-w", ws).out)  # fmt: skip
    assert [e["action"] for e in entries] == ["data source changed", "data source created"]
    shown = cli_ok(cli, "people", "audit", "-w", ws).out
    assert "data source id 7001: name 'CRM' → 'CRM EU'" in shown
    assert cli_ok(cli, "people", "ids", "audit", "--json", "-w", ws).out.strip() == "[]"
    assert (
        cli_ok(cli, "people", "audit", "--kind", "sign-ins", "--json", "-w", ws).out.strip() == "[]"
    )
    wrong = cli("people", "audit", "--kind", "everything", "-w", ws)
    assert wrong.code == 2 and "'ids', 'changes' or 'sign-ins'" in " ".join(wrong.err.split())
