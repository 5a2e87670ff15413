"""Listing, changing and deleting from the CLI: the same core as the API, refusals included."""

from __future__ import annotations

import json

from tests.helpers import cli_ok

WORKFLOW = """name: French
activities:
  - {id: q, type: query, filter: "country = 'FR'"}
  - {id: s, type: save_audience, input: q, mode: create_or_update, audience: French}
"""


def test_campaign_objects(cli, tmp_path):
    ws = str(tmp_path / "ws")
    cli_ok(cli, "init", ws)
    profiles = tmp_path / "p.csv"
    profiles.write_text("email,first_name,country\njo@example.com,Jo,FR\nbo@example.com,Bo,DE\n")
    cli_ok(cli, "profiles", "import", str(profiles), "-w", ws)
    workflow = tmp_path / "w.yaml"
    workflow.write_text(WORKFLOW)
    cli_ok(cli, "workflows", "run", str(workflow), "-w", ws)

    listed = json.loads(cli_ok(cli, "audiences", "list", "--json", "-w", ws).out)
    assert [(a["name"], a["size"]) for a in listed] == [("French", 1)]
    export = cli_ok(cli, "audiences", "export", "French", "--fields", "email,first_name", "-w", ws)
    assert export.out.splitlines() == [
        "profile_id,address,email,first_name",
        "1,,jo@example.com,Jo",
    ]
    bad = cli("audiences", "export", "French", "--fields", "password", "-w", ws)
    assert bad.code == 2 and "not a member field" in bad.err and bad.out == ""

    french = json.loads(
        cli_ok(cli, "profiles", "list", "--where", "country = 'FR'", "--json", "-w", ws).out
    )
    assert [p["email"] for p in french] == ["jo@example.com"]
    cli_ok(cli, "profiles", "update", "1", "country=DE", "attributes.tier=gold", "-w", ws)
    shown = json.loads(cli_ok(cli, "profiles", "show", "1", "--json", "-w", ws).out)
    assert (shown["country"], shown["attributes"]) == ("DE", {"tier": "gold"})
    refused = cli("profiles", "update", "1", "country=Narnia", "-w", ws)
    assert refused.code == 2 and "country" in refused.err

    runs = json.loads(cli_ok(cli, "workflows", "runs", "--json", "-w", ws).out)
    assert runs[0]["activities"]["q"]["outputs"] == {"q": 1}
    cli_ok(cli, "audiences", "rename", "French", "Francophones", "-w", ws)
    cli_ok(cli, "audiences", "delete", "Francophones", "-w", ws)
    assert json.loads(cli_ok(cli, "audiences", "list", "--json", "-w", ws).out) == []

    text = tmp_path / "t.txt"
    text.write_text("Hello {{ profile.first_name }}")
    cli_ok(cli, "templates", "add", "hello", "--channel", "email", "--subject", "Hi",
           "--text", str(text), "-w", ws)  # fmt: skip
    assert "hello" in cli_ok(cli, "templates", "list", "-w", ws).out
    cli_ok(cli, "templates", "delete", "hello", "-w", ws)
    gone = cli("templates", "show", "hello", "-w", ws)
    assert gone.code == 2 and "no template" in gone.err

    cli_ok(cli, "profiles", "delete", "2", "-w", ws)
    assert cli_ok(cli, "profiles", "count", "-w", ws).out == "1\n"
    missing = cli("connection", "show", "-w", ws)
    assert missing.code == 2 and "connection set" in missing.err


def test_people_objects_refuse_orphaning_deletes(cli, tmp_path):
    ws = str(tmp_path / "ws")
    cli_ok(cli, "init", ws)
    cli_ok(cli, "people", "datasources", "add", "--id", "7001", "--name", "CRM",
           "--inbound-id-type", "customer", "-w", ws)  # fmt: skip
    cli_ok(cli, "people", "traits", "add", "--id", "101", "--name", "Shoes",
           "--datasource", "7001", "-w", ws)  # fmt: skip
    cli_ok(cli, "people", "segments", "add", "--id", "900", "--name", "Shoe lovers",
           "--rule", "T101", "-w", ws)  # fmt: skip
    refused = cli("people", "traits", "delete", "101", "-w", ws)
    assert refused.code == 2 and "segment(s) 900" in refused.err
    source = cli("people", "datasources", "delete", "7001", "-w", ws)
    assert source.code == 2 and "1 trait(s)" in source.err
    cli_ok(cli, "people", "segments", "update", "900", "--name", "Shoe fans", "-w", ws)
    cli_ok(cli, "people", "segments", "delete", "900", "-w", ws)
    cli_ok(cli, "people", "traits", "delete", "101", "-w", ws)
    cli_ok(cli, "people", "datasources", "delete", "7001", "-w", ws)

    added = cli_ok(cli, "people", "clients", "add", "--name", "bi", "--role", "viewer", "-w", ws)
    client_id = added.out.split()[2]
    listed = json.loads(cli_ok(cli, "people", "clients", "list", "--json", "-w", ws).out)
    assert [(c["client_id"], c["role"]) for c in listed] == [(client_id, "viewer")]
    cli_ok(cli, "people", "clients", "revoke", client_id, "-w", ws)
    assert json.loads(cli_ok(cli, "people", "clients", "list", "--json", "-w", ws).out) == []
