"""Both systems driven through the CLI alone: people publish, campaign imports."""

from __future__ import annotations

import json

from audiencehub.identity import HashScheme, IdKind, hash_id


def test_publish_then_import_through_the_cli(cli, tmp_path):
    """A segment of hashed emails published by the people service lands as a campaign audience."""
    ws = str(tmp_path / "ws")
    drop = tmp_path / "drop"
    assert cli("init", ws).code == 0
    profiles = tmp_path / "p.csv"
    profiles.write_text("email,crm_id\njo@example.com,C1\nal@example.com,C2\n", encoding="utf-8")
    assert cli("profiles", "import", str(profiles), "-w", ws).code == 0

    for args in (
        [
            "people",
            "datasources",
            "add",
            "--id",
            "7001",
            "--name",
            "CRM",
            "--inbound-id-type",
            "customer",
        ],
        ["people", "traits", "add", "--id", "101", "--name", "Shoes", "--datasource", "7001"],
        ["people", "segments", "add", "--id", "900", "--name", "Shoe lovers", "--rule", "T101"],
        [
            "people",
            "destinations",
            "add",
            "--id",
            "46390",
            "--name",
            "Campaign",
            "--drop",
            str(drop),
            "--id-type",
            "declared",
            "--datasource",
            "7001",
            "--segments",
            "900",
        ],
    ):
        result = cli(*args, "-w", ws)
        assert result.code == 0, result.err
    inbound = tmp_path / "in"
    inbound.mkdir()
    jo = hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL)
    (inbound / "ftp_dpm_7001_1764300000.sync").write_text(f"{jo}\td_sid=101\nnobody\td_sid=101\n")
    assert cli("people", "ingest", "--from", str(inbound), "-w", ws).code == 0
    assert cli("people", "publish", "-w", ws).code == 0

    assert cli("users", "add", "ada", "--role", "admin", "-w", ws).code == 0
    assert cli("users", "add", "mara", "--role", "marketer", "-w", ws).code == 0
    source = cli(
        "datasources",
        "add",
        "--label",
        "CRM",
        "--reconciliation",
        "declared",
        "--key",
        "email",
        "--hashing",
        "aam",
        "--destination-id",
        "46390",
        "-w",
        ws,
    )
    assert source.out == "AMCDS1\n"
    refused = cli(
        "audiences",
        "import-shared",
        "--segment",
        "900",
        "--datasource",
        "AMCDS1",
        "--name",
        "Shoe lovers",
        "-w",
        ws,
    )
    assert refused.code == 2 and "accept-terms AMCDS1" in refused.err
    not_admin = cli("datasources", "accept-terms", "AMCDS1", "--user", "mara", "-w", ws)
    assert not_admin.code == 2 and "takes the admin role" in not_admin.err
    assert cli("datasources", "accept-terms", "AMCDS1", "--user", "ada", "-w", ws).code == 0
    assert (
        cli(
            "audiences",
            "import-shared",
            "--segment",
            "900",
            "--datasource",
            "AMCDS1",
            "--name",
            "Shoe lovers",
            "-w",
            ws,
        ).code
        == 0
    )
    assert cli("accounts", "set", "importSharedAudience", "--folder", str(drop), "-w", ws).code == 0
    assert "reachable" in cli("accounts", "test", "importSharedAudience", "-w", ws).out
    run = json.loads(cli("jobs", "run", "importSharedAudience", "--json", "-w", ws).out)
    assert run["waiting"] == [] and run["refused"] == []
    shown = json.loads(cli("audiences", "show", "Shoe lovers", "--json", "-w", ws).out)
    assert shown["size"] == 1
    assert {
        k: shown["last_report"][k] for k in ("rows_read", "matched", "unmatched", "invalid_ids")
    } == {"rows_read": 2, "matched": 1, "unmatched": 0, "invalid_ids": 1}
    assert cli("audiences", "members", "Shoe lovers", "-w", ws).out == "profile_id,address\n1,\n"
    audit = json.loads(cli("audit", "--json", "-w", ws).out)
    assert audit[0]["action"] == "import" and audit[0]["data_source_id"] == "AMCDS1"
    assert "raw" not in cli("datasources", "list", "--json", "-w", ws).out


def test_account_credentials_are_stored_sealed_and_never_shown(cli, tmp_path, monkeypatch):
    """The secret goes in through a variable, and out nowhere: show says only where from."""
    ws = str(tmp_path / "ws")
    assert cli("init", ws).code == 0
    monkeypatch.setenv(
        "AUDIENCEHUB_S3_SECRET_ACCESS_KEY", "s3cr3t-value-of-forty-characters-000000"
    )
    result = cli(
        "accounts",
        "set",
        "exportSharedAudience",
        "--s3",
        "s3://drops/export",
        "--access-key-id",
        "AKIAEXAMPLE",
        "-w",
        ws,
    )
    assert result.code == 0, result.err
    shown = cli("accounts", "show", "--json", "-w", ws)
    [account] = [a for a in json.loads(shown.out) if a["name"] == "exportSharedAudience"]
    assert (account["access_key_id"], account["credentials"]) == ("AKIAEXAMPLE", "stored (sealed)")
    assert "s3cr3t" not in shown.out + shown.err
    missing = cli("accounts", "test", "importSharedAudience", "-w", ws)
    assert missing.code != 0
    assert "does not exist" in missing.err and "mkdir -p" in missing.err
