"""End to end: ID syncs through /id, an inbound file, ingest, a segment, publish; folder and S3.

S3 runs against a real S3-compatible server on loopback (moto in server mode).
"""

from __future__ import annotations

import gzip
import json

import pytest
from fastapi.testclient import TestClient

from audiencehub.drops import open_drop
from audiencehub.formats import (
    ControlFile,
    format_inbound_row,
    parse_outbound_name,
    parse_outbound_row,
)
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.destinations import add_destination
from audiencehub.people.ingest import ingest
from audiencehub.people.publication import publish
from audiencehub.people.segments import MergeRule, add_segment
from audiencehub.people.traits import add_trait
from audiencehub.people.web.app import create_people_app
from tests.helpers import drop_urls


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_syncs_ingest_segment_publish(workspace, tmp_path, kind, request):
    """Synced visitors with onboarded CRM traits come out of the published batch exactly."""
    export_url, import_url, endpoint = drop_urls(kind, tmp_path, request)
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7015, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_trait(connection, trait_id=101, name="Shoes", data_source_id=7015)
        add_trait(connection, trait_id=103, name="Returns", data_source_id=7015)
        add_segment(
            connection,
            segment_id=900,
            name="Shoe lovers",
            rule="T101 AND NOT T103",
            merge_rule=MergeRule.LAST_AUTHENTICATED,
        )
        add_destination(
            connection,
            destination_id=46390,
            name="Campaign",
            drop_url=import_url,
            id_type="visitor",
            segment_ids=[900],
            split_rows=1,
        )
    client = TestClient(create_people_app(workspace.people))
    visitors = {
        crm: client.get(f"/id?d_cid=7015%01{crm}%011").json()["d_mid"]
        for crm in ("crm1", "crm2", "crm3", "crm4")
    }
    export = open_drop(export_url, endpoint_url=endpoint)
    lines = [
        format_inbound_row("crm1", sids=[101]),
        format_inbound_row("crm2", sids=[101, 103]),
        format_inbound_row("crm3", sids=[101]),
        format_inbound_row("crm9", sids=[101]),  # onboarded, never synced to a visitor
    ]
    with export.open_write("date=2026-11-28/ftp_dpm_7015_1764300000.sync.gz") as sink:
        sink.write(gzip.compress(("\n".join(lines) + "\n").encode()))
    [receipt] = ingest(workspace.people, export).receipts
    assert (receipt.stored_records, receipt.realized_traits) == (4, 5)

    result = publish(workspace.people, 46390, now_ms=1764300000000, endpoint_url=endpoint)
    assert (result.full, result.rows) == (True, 2)
    target = open_drop(import_url, endpoint_url=endpoint)
    control, members = _newest_batch(target)
    assert {parse_outbound_name(entry.name).master_dpid for entry in control.files} == {0}
    assert sorted(m.user_id for m in members) == sorted([visitors["crm1"], visitors["crm3"]])
    assert all(m.segments == (900,) and m.removed == () for m in members)
    assert len(control.files) == 2  # split at one row per file
    assert _totals(control) == (2, 2)

    # crm3 returns something, crm4 buys shoes: the next batch is an iter of exactly that
    lines = [format_inbound_row("crm3", sids=[103]), format_inbound_row("crm4", sids=[101])]
    with export.open_write("date=2026-11-28/ftp_dpm_7015_1764300600.sync.gz") as sink:
        sink.write(gzip.compress(("\n".join(lines) + "\n").encode()))
    ingest(workspace.people, export)
    second = publish(workspace.people, 46390, now_ms=1764300600000, endpoint_url=endpoint)
    assert (second.full, second.added, second.removed) == (False, 1, 1)
    control, rows = _newest_batch(target)
    assert parse_outbound_name(control.files[0].name).full is False
    assert sorted((r.user_id, r.segments, r.removed) for r in rows) == sorted(
        [(visitors["crm3"], (), (900,)), (visitors["crm4"], (900,), ())]
    )
    assert _totals(control) == (2, 2)


def _totals(control):
    """(files, lines) the control file announces, checked against its own list."""
    data = json.loads(control.to_json())["Totals"]
    assert data["TotalNumberLines"] == sum(f.line_count for f in control.files)
    assert data["TotalByteSize"] == sum(f.byte_size for f in control.files)
    return data["TotalNumberFiles"], data["TotalNumberLines"]


def _newest_batch(target):
    """The newest batch of a drop: its control file and every row, sizes verified."""
    objects = {obj.name: obj for obj in target.list()}
    info = max(
        (n for n in objects if n.endswith(".info")),
        key=lambda n: parse_outbound_name(n.replace(".info", ".sync.gz")).timestamp_ms,
    )
    with target.open_read(objects[info].key) as handle:
        control = ControlFile.from_json(handle.read().decode())
    rows = []
    for entry in control.files:
        assert objects[entry.name].size == entry.byte_size
        with target.open_read(objects[entry.name].key) as handle:
            lines = gzip.decompress(handle.read()).decode().splitlines()
        assert len(lines) == entry.line_count
        rows += [parse_outbound_row(line) for line in lines]
    return control, rows
