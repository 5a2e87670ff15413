"""Parity with Adobe's published examples: inbound data and ID synchronization files.

Source: Adobe Experience League, Audience Manager, "Inbound Data File Contents:
Syntax, Invalid Characters, Variables, and Examples" (help/using/integration/
sending-audience-data/batch-data-transfer-explained/inbound-file-contents.md in
AdobeDocs/audience-manager.en). Each test quotes the example it checks.
"""

from __future__ import annotations

import pytest

from audiencehub.drops import FolderDrop
from audiencehub.errors import InvalidInput
from audiencehub.formats.idsync import parse_id_sync_row
from audiencehub.formats.inbound import TraitRef, TraitRefKind, parse_inbound_row
from audiencehub.formats.names import parse_id_sync_name
from audiencehub.people.ingest import ingest
from audiencehub.people.traits import add_trait
from tests.helpers import write_inbound
from tests.people.conftest import people
from tests.people.test_ingest_publish import _held

__all__ = ["people"]  # the fixture, shared with the people-service tests

UUID = "59767559181262060060278870901087098252"
SID = TraitRefKind.SID


@pytest.mark.parametrize(
    "line",
    [
        # Example 2: "d_unsid=24, d_unsid=26, d_unsid=27", "or 24:0, 26:0, 27:0",
        # "or 24:-1, 26:-1, 27:-1"
        f"{UUID}\td_unsid=24, d_unsid=26, d_unsid=27",
        f"{UUID}\t24:0, 26:0, 27:0",
        f"{UUID}\t24:-1, 26:-1, 27:-1",
    ],
)
def test_example_2_removals_name_trait_ids(line):
    """Example 2: the three forms all disqualify trait IDs 24, 26 and 27."""
    assert parse_inbound_row(line).remove == (
        TraitRef(SID, "24"),
        TraitRef(SID, "26"),
        TraitRef(SID, "27"),
    )


def test_removal_by_trait_id_through_the_ingest(people, tmp_path):
    """ "101:0" removes trait ID 101 from a user who holds it (not a trait whose integration
    code is 101)."""
    drop = tmp_path / "in"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", ["c1\td_sid=101,d_sid=103"])
    write_inbound(drop, "ftp_dpm_7001_1764300100.sync", ["c1\t101:0"])
    receipts = ingest(people.people, FolderDrop(drop)).receipts
    assert [r.status for r in receipts] == ["applied", "applied"]
    assert receipts[1].removed_traits == 1
    assert _held(people, "c1") == {103}


def test_a_repeated_key_realises_a_rule_trait_for_each_value(people, tmp_path):
    """Key-value example: "product = tablet, product = phone" keeps both values, so a rule
    trait on either holds; "-product = camera" is "product = camera" (Key-Value Pairs:
    "We ignore dash signs at the start of keys"); matching ignores case, as the FAQ
    ("Are the data file contents case-sensitive?") says key-value data generally does not
    care about it."""
    with people.people.begin() as connection:
        for trait_id, value in ((111, "tablet"), (112, "phone"), (113, "camera")):
            add_trait(
                connection,
                trait_id=trait_id,
                name=f"Has {value}",
                data_source_id=7001,
                rule={"product": value},
            )
    drop = tmp_path / "in"
    write_inbound(
        drop,
        "ftp_dpm_7001_1764300000.sync",
        [
            "c1\tproduct = tablet, product = phone",
            'c2\t"product" = "tablet", "product" = "phone"',
            "c3\t-product = camera",
            'c4\t"PRODUCT"="Phone", "Gender"="FEMALE"',
        ],
    )
    [receipt] = ingest(people.people, FolderDrop(drop)).receipts
    assert receipt.status == "applied"
    assert _held(people, "c1") == _held(people, "c2") == {111, 112}
    assert _held(people, "c3") == {113}
    assert _held(people, "c4") == {112, 104}
    # a later line's values of a key replace the earlier ones
    write_inbound(drop, "ftp_dpm_7001_1764300100.sync", ["c1\tproduct = camera"])
    ingest(people.people, FolderDrop(drop))
    assert _held(people, "c1") == {113}


def test_d_unsid_is_ignored_in_an_overwrite_file(people, tmp_path):
    """Formatting Trait IDs, d_unsid: "The d_unsid prefix is ignored in an overwrite file."
    The overwrite states the user's traits: 101 stays although the line also removes it."""
    drop = tmp_path / "in"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", ["c1\td_sid=103"])
    write_inbound(drop, "ftp_dpm_7001_1764300100.overwrite", ["c1\td_sid=101,d_unsid=101,102:0"])
    receipts = ingest(people.people, FolderDrop(drop)).receipts
    assert receipts[1].removed_traits == 0
    assert _held(people, "c1") == {101}


# Source: "Name and Content Requirements for ID Synchronization Files"
# (help/using/integration/sending-audience-data/batch-data-transfer-explained/id-sync-file-based.md)


@pytest.mark.parametrize(
    "name",
    [
        "adobe_id_111_222_333_444_1454442149.sync",
        "adobe_id_123_898_456_1454442149.sync.1.gz",
        "adobe_id_123_898_456_1454442149.sync.2.gz",
        "c2c_id_123_898_1454442149.sync.gz",
    ],
)
def test_id_sync_file_name_examples_are_read(name):
    """File Name Examples: every documented name parses, and names its batch back."""
    parsed = parse_id_sync_name(name)
    assert name.startswith(parsed.batch)


@pytest.mark.parametrize("line", ["abc123\tdef456\t", "abc123\tdef456 "])
def test_rows_ending_in_a_tab_or_space_are_not_processed(line):
    """File Content Considerations: "Any rows that end with tabs or spaces will not be
    processed or realized"."""
    with pytest.raises(InvalidInput, match="ends with a tab or a space"):
        parse_id_sync_row(line, 1)


def test_a_c2c_file_is_ingested_and_a_row_ending_in_a_tab_is_counted(people, tmp_path):
    """A c2c_id_ file links IDs like an adobe_id_ one; its tab-ended row is a format error."""
    visitor = "1" * 38
    write_inbound(
        tmp_path / "in",
        "c2c_id_0_7001_1764300000.sync",
        [f"{visitor}\tcrm-1", f"{'2' * 38}\tcrm-2\t"],
    )
    [receipt] = ingest(people.people, FolderDrop(tmp_path / "in")).receipts
    assert (receipt.status, receipt.records_received, receipt.format_errors) == ("applied", 2, 1)
    assert receipt.stored_records == 1
