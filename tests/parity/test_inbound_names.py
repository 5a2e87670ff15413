"""Parity with Adobe's published examples: inbound file names and the target data source.

Source: "Amazon S3 name and file size requirements for inbound data files" and
"FTP Name and File Size Requirements for Inbound Data Files"
(help/using/integration/sending-audience-data/batch-data-transfer-explained/
inbound-s3-filenames.md and inbound-ftp-filenames.md, AdobeDocs/audience-manager.en).
"""

from __future__ import annotations

from audiencehub.drops import FolderDrop
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.ingest import ingest
from audiencehub.people.traits import add_trait
from tests.helpers import held_traits, write_inbound


def _held(workspace, namespace, external_id):
    return held_traits(workspace.people, external_id, namespace)


def _sources(workspace):
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=33, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_data_source(connection, dpid=21, name="Owner", inbound_id_type=InboundIdType.CUSTOMER)
        add_trait(connection, trait_id=2101, name="Owner's", data_source_id=21)
        add_trait(connection, trait_id=2102, name="Owner's 2", data_source_id=21)
        add_trait(connection, trait_id=3301, name="CRM's", data_source_id=33)


def test_ftp_dpm_33_21_qualifies_ids_of_33_for_traits_of_21(workspace, tmp_path):
    """ "...ftp_dpm_33_21_1234567890.sync tells Audience Manager that you're qualifying
    customer IDs belonging to data source 33 for traits or signals belonging to data source
    21." A trait of 33 named in that file fails validation, and the receipt counts it."""
    _sources(workspace)
    write_inbound(tmp_path / "in", "ftp_dpm_33_21_1234567890.sync", ["c1\td_sid=2101,d_sid=3301"])
    [receipt] = ingest(workspace.people, FolderDrop(tmp_path / "in")).receipts
    assert receipt.status == "applied"
    assert _held(workspace, 33, "c1") == {2101}  # the user is data source 33's
    assert _held(workspace, 21, "c1") == set()
    assert (receipt.traits_failed_validation, receipt.users_failed_validation) == (1, 1)


def test_an_overwrite_replaces_only_the_target_sources_traits(workspace, tmp_path):
    """ ".overwrite ... Traits that are not assigned to the target data source will not be
    erased." (FTP name requirements, .sync|.overwrite)."""
    _sources(workspace)
    write_inbound(tmp_path / "in", "ftp_dpm_33_1234567890.sync", ["c1\td_sid=3301"])
    write_inbound(tmp_path / "in", "ftp_dpm_33_21_1234567891.sync", ["c1\td_sid=2101"])
    write_inbound(tmp_path / "in", "ftp_dpm_33_21_1234567892.overwrite", ["c1\td_sid=2102"])
    receipts = ingest(workspace.people, FolderDrop(tmp_path / "in")).receipts
    assert [r.status for r in receipts] == ["applied"] * 3
    assert _held(workspace, 33, "c1") == {3301, 2102}  # 2101 replaced, 3301 (of 33) kept


def test_the_id_answer_has_the_reference_types(workspace):
    """ "Direct integration" (AdobeDocs/id-service.en, help/implementation-guides/
    direct-integration.md), sample response: {"d_mid":"12345", "dcs_region":"6",
    "id_sync_ttl":"604800", "d_blob":...}: every value is a string (d_blob left out)."""
    from fastapi.testclient import TestClient

    from audiencehub.people.web.app import create_people_app

    body = TestClient(create_people_app(workspace.people)).get("/id").json()
    assert set(body) == {"d_mid", "dcs_region", "id_sync_ttl"}
    assert all(isinstance(value, str) for value in body.values())
    assert (body["dcs_region"], body["id_sync_ttl"]) == ("6", "604800")
