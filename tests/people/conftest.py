"""Fixtures of people-service scenarios."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from audiencehub.drops import FolderDrop
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.ingest import ingest
from audiencehub.people.segments import add_segment
from audiencehub.people.traits import add_trait
from tests.helpers import write_inbound


@pytest.fixture
def people(workspace):
    """A people service with a customer-ID source 7001 (traits T101-T103, rule T104)
    and a visitor-ID source 7002 (trait T201)."""
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_data_source(connection, dpid=7002, name="Web", inbound_id_type=InboundIdType.VISITOR)
        add_trait(connection, trait_id=101, name="Shoes", data_source_id=7001)
        add_trait(
            connection, trait_id=102, name="Bags", data_source_id=7001, integration_code="bags"
        )
        add_trait(connection, trait_id=103, name="Returns", data_source_id=7001)
        add_trait(
            connection, trait_id=104, name="Women", data_source_id=7001, rule={"gender": "female"}
        )
        add_trait(connection, trait_id=201, name="Visited", data_source_id=7002)
    return workspace


@pytest.fixture
def segment_history(people, tmp_path):
    """Segment 900 (T101 AND NOT T103) held c1 and c2 at the moment returned; a batch
    after it changed the members to c1 and c3. Returns that moment and the drop folder."""
    drop = tmp_path / "export"
    with people.people.begin() as connection:
        add_segment(connection, segment_id=900, name="Shoes", rule="T101 AND NOT T103")
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", ["c1\td_sid=101", "c2\td_sid=101"])
    ingest(people.people, FolderDrop(drop))
    time.sleep(0.05)
    moment = datetime.now(UTC)
    time.sleep(0.05)
    write_inbound(drop, "ftp_dpm_7001_1764300100.sync", ["c2\td_sid=103", "c3\td_sid=101"])
    ingest(people.people, FolderDrop(drop))
    return moment, drop
