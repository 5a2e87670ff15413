"""Parity end to end through the CLI: documented inbound and outbound forms, as a user runs them.

Sources: "Amazon S3 name and file size requirements for inbound data files" (the target data
source example, DPID 33 for IDs and 21 for traits), "Inbound Data File Contents: Syntax, Invalid
Characters, Variables, and Examples" (Example 2, trait removals ``24:0``) and "Outbound Data File
Name: Syntax and Examples" (Scenario 1, split files ``...000.sync.gz``, ``...000001.sync.gz``)
(AdobeDocs/audience-manager.en).
"""

from __future__ import annotations

import json

from audiencehub.formats import ControlFile, LineWriter, OutboundName, format_outbound_row
from audiencehub.identity import HashScheme, IdKind, hash_id
from tests.helpers import cli_ok


def _size(cli, ws, segment):
    shown = cli_ok(cli, "people", "segments", "show", str(segment), "--json", "-w", ws)
    return json.loads(shown.out)["size"]


def test_target_data_source_overwrite_and_removal_by_trait_id(cli, tmp_path):
    """ftp_dpm_33_21 realises source 21's traits for source 33's IDs; its overwrite leaves
    source 33's own traits; ``101:0`` removes trait 101."""
    ws, inbound = str(tmp_path / "ws"), tmp_path / "in"
    inbound.mkdir()
    cli_ok(cli, "init", ws)
    for dpid, name in ((33, "CRM"), (21, "Owner")):
        cli_ok(cli, "people", "datasources", "add", "--id", str(dpid), "--name", name,
            "--inbound-id-type", "customer", "-w", ws)  # fmt: skip
    for trait, source in ((101, 21), (102, 21), (3301, 33)):
        cli_ok(cli, "people", "traits", "add", "--id", str(trait), "--name", f"T{trait}",
            "--datasource", str(source), "-w", ws)  # fmt: skip
    for segment, rule in ((900, "T101"), (901, "T3301"), (902, "T102")):
        cli_ok(cli, "people", "segments", "add", "--id", str(segment), "--name", f"S{segment}",
            "--rule", rule, "-w", ws)  # fmt: skip

    (inbound / "ftp_dpm_33_1764300000.sync").write_text("c1\td_sid=3301\n")
    (inbound / "ftp_dpm_33_21_1764300100.sync").write_text("c1\td_sid=101\nc2\td_sid=101\n")
    cli_ok(cli, "people", "ingest", "--from", str(inbound), "-w", ws)
    assert (_size(cli, ws, 900), _size(cli, ws, 901)) == (2, 1)  # 33's IDs hold 21's trait

    (inbound / "ftp_dpm_33_21_1764300200.overwrite").write_text("c1\td_sid=102\n")
    cli_ok(cli, "people", "ingest", "--from", str(inbound), "-w", ws)
    # c1's trait 101 (source 21) is replaced by 102; its trait 3301 (source 33) stays
    assert (_size(cli, ws, 900), _size(cli, ws, 901), _size(cli, ws, 902)) == (1, 1, 1)

    (inbound / "ftp_dpm_33_21_1764300300.sync").write_text("c2\t101:0\n")
    cli_ok(cli, "people", "ingest", "--from", str(inbound), "-w", ws)
    assert _size(cli, ws, 900) == 0


def test_a_batch_in_the_current_split_form_is_imported(cli, tmp_path):
    """A batch split as Adobe names it (no number on the first file, then 001) with its .info
    is imported by importSharedAudience whole."""
    ws, drop = str(tmp_path / "ws"), tmp_path / "drop"
    cli_ok(cli, "init", ws)
    profiles = tmp_path / "p.csv"
    profiles.write_text("email\njo@example.com\nal@example.com\nbo@example.com\n", "utf-8")
    cli_ok(cli, "profiles", "import", str(profiles), "-w", ws)
    cli_ok(cli, "datasources", "add", "--label", "CRM", "--reconciliation", "declared", "--key",
        "email", "--hashing", "aam", "--destination-id", "1234", "-w", ws)  # fmt: skip
    cli_ok(cli, "users", "add", "ada", "--role", "admin", "-w", ws)
    cli_ok(cli, "datasources", "accept-terms", "AMCDS1", "--user", "ada", "-w", ws)
    cli_ok(cli, "audiences", "import-shared", "--segment", "900", "--datasource", "AMCDS1",
        "--name", "Split", "-w", ws)  # fmt: skip
    cli_ok(cli, "accounts", "set", "importSharedAudience", "--folder", str(drop), "-w", ws)

    drop.mkdir()
    people = [hash_id(f"{p}@example.com", HashScheme.AAM, IdKind.EMAIL) for p in ("jo", "al", "bo")]
    entries = []
    for split, chunk in ((None, people[:2]), (1, people[2:])):
        name = OutboundName(1486140844000, split, 1234, 7001, "XYZCustomer", True)
        with (drop / str(name)).open("wb") as sink:
            writer = LineWriter(sink, str(name), (split or 0) + 1, compress=True)
            writer.write_lines(format_outbound_row(i, [900], []) for i in chunk)
            entries.append(writer.close())
    assert sorted(p.name for p in drop.iterdir()) == [
        "S3_1234_7001_XYZCustomer_full_1486140844000.sync.gz",
        "S3_1234_7001_XYZCustomer_full_1486140844000001.sync.gz",
    ]
    info = name.info_name
    (drop / info).write_text(ControlFile(info, tuple(entries)).to_json())

    run = json.loads(cli_ok(cli, "jobs", "run", "importSharedAudience", "--json", "-w", ws).out)
    assert run["waiting"] == [] and run["refused"] == []
    shown = json.loads(cli_ok(cli, "audiences", "show", "Split", "--json", "-w", ws).out)
    assert (shown["size"], shown["last_report"]["rows_read"]) == (3, 3)
