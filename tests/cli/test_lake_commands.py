"""The people lake from the command line: a segment as it was, the lake's history."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from tests.helpers import cli_ok, write_inbound


def test_segments_show_at_on_the_command_line(cli, tmp_path):
    """`people segments show --at` answers from the history; a date before it is refused."""
    ws = str(tmp_path / "ws")
    cli_ok(cli, "init", ws)
    cli_ok(cli, "people", "datasources", "add", "--id", "7001", "--name", "CRM",
           "--inbound-id-type", "customer", "-w", ws)  # fmt: skip
    cli_ok(cli, "people", "traits", "add", "--id", "101", "--name", "Shoes",
           "--datasource", "7001", "-w", ws)  # fmt: skip
    cli_ok(cli, "people", "segments", "add", "--id", "900", "--name", "S", "--rule", "T101",
           "-w", ws)  # fmt: skip
    drop = tmp_path / "in"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", ["c1\td_sid=101"])
    cli_ok(cli, "people", "ingest", "--from", str(drop), "-w", ws)
    time.sleep(1.1)  # the moment is given to the second
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
    time.sleep(1.1)
    write_inbound(drop, "ftp_dpm_7001_1764300100.sync", ["c2\td_sid=101"])
    cli_ok(cli, "people", "ingest", "--from", str(drop), "-w", ws)
    again = cli_ok(cli, "people", "ingest", "--from", str(drop), "-w", ws).out
    assert again.strip() == f"No new batch in {drop}."  # not an empty table
    now = json.loads(cli_ok(cli, "people", "segments", "show", "900", "--json", "-w", ws).out)
    then = json.loads(
        cli_ok(
            cli,
            "people",
            "segments",
            "show",
            "900",
            "--at",
            moment,
            "--members",
            "--json",
            "-w",
            ws,
        ).out
    )
    assert (now["size"], then["size"], then["members"]) == (2, 1, ["c1"])
    refused = cli("people", "segments", "show", "900", "--at", "2001-01-01", "-w", ws)
    assert refused.code != 0 and "no snapshot" in refused.err
    shown = cli_ok(cli, "people", "lake", "history", "--json", "-w", ws).out
    assert any("ingest ftp_dpm_7001_1764300100.sync" in s["message"] for s in json.loads(shown))
    # the population trend: today's row is the day's last materialisation
    trend = json.loads(cli_ok(cli, "people", "segments", "sizes", "900", "--json", "-w", ws).out)
    assert [(e["day"], e["size"]) for e in trend] == [(datetime.now(UTC).date().isoformat(), 2)]
    table = cli_ok(cli, "people", "segments", "sizes", "900", "--days", "7", "-w", ws).out
    assert "Segment 900 (S) by day" in table
    assert cli("people", "segments", "sizes", "900", "--days", "0", "-w", ws).code != 0
    # what the service holds about one of the IDs
    record = json.loads(
        cli_ok(cli, "people", "ids", "show", "c1", "--source", "7001", "--json", "-w", ws).out
    )
    assert [t["trait_id"] for t in record["traits"]] == [101] and record["segments"]
    shown = cli_ok(cli, "people", "ids", "show", "c1", "--source", "7001", "-w", ws).out
    assert "trait 101" in shown and "segment 900" in shown
    unknown = cli("people", "ids", "show", "c1", "-w", ws)  # not a visitor ID
    assert unknown.code != 0 and "holds nothing" in unknown.err
    erased = json.loads(
        cli_ok(cli, "people", "ids", "delete", "c2", "--source", "7001", "--json", "-w", ws).out
    )
    assert erased["traits"] == 1 and erased["destinations"] == []
    gone = cli("people", "ids", "show", "c2", "--source", "7001", "-w", ws)
    assert gone.code != 0 and "holds nothing" in gone.err
    trail = json.loads(
        cli_ok(
            cli, "people", "ids", "audit", "--id", "c2", "--source", "7001", "--json", "-w", ws
        ).out
    )
    # newest first: the lookup after the erasure, which found nothing, then the erasure
    assert [(e["action"], e["details"].get("found")) for e in trail] == [
        ("id read", False),
        ("id erased", None),
    ]
    assert "c2" not in json.dumps(trail)
    assert "id read" in cli_ok(cli, "people", "ids", "audit", "-w", ws).out
