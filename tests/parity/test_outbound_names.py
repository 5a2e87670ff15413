"""Parity with Adobe's published examples: outbound file names.

Source: "Outbound Data File Name: Syntax and Examples"
(help/using/integration/receiving-audience-data/batch-outbound-transfers/
outbound-file-name-contents.md, AdobeDocs/audience-manager.en).
"""

from __future__ import annotations

import pytest

from audiencehub.formats.names import OutboundName, parse_outbound_name

XYZ = "XYZCustomer"

# (name, destination, master DPID, alias, full, split), from Scenarios 1 to 3
DOCUMENTED = [
    ("S3_1234_20914_XYZCustomer_iter_1486140844000.sync.gz", 1234, 20914, XYZ, False, None),
    ("S3_1234_20914_XYZCustomer_iter_1486140844000001.sync.gz", 1234, 20914, XYZ, False, 1),
    ("S3_1234_20914_XYZCustomer_iter_1486140844000002.sync.gz", 1234, 20914, XYZ, False, 2),
    ("S3_1234_20914_XYZCustomer_full_1486140844000.sync.gz", 1234, 20914, XYZ, True, None),
    ("S3_1234_20914_XYZCustomer_full_1486140844000001.sync.gz", 1234, 20914, XYZ, True, 1),
    ("ftp_1234_20915_iter_1486140843000.sync.gz", 1234, 20915, None, False, None),
    ("ftp_1234_20915_iter_1486140843000001.sync.gz", 1234, 20915, None, False, 1),
    ("ftp_1234_20915_full_1486140843000001.sync.gz", 1234, 20915, None, True, 1),
    ("ftp_1234_45454_XYZCustomer_iter_1486140843000001.sync.gz", 1234, 45454, XYZ, False, 1),
]


@pytest.mark.parametrize(("text", "did", "master", "alias", "full", "split"), DOCUMENTED)
def test_documented_outbound_names(text, did, master, alias, full, split):
    """Every documented name parses field by field and prints back unchanged."""
    name = parse_outbound_name(text)
    assert (name.destination_id, name.master_dpid, name.alias, name.full, name.split) == (
        did,
        master,
        alias,
        full,
        split,
    )
    assert name.sync_type == text.split("_", 1)[0]
    assert str(name) == text


def test_split_files_share_the_batch_and_sort_in_order():
    """The original file and its 001, 002 splits are one batch, applied in that order."""
    names = [parse_outbound_name(t) for t, *_ in DOCUMENTED[:3]]
    assert {n.batch for n in names} == {"S3_1234_20914_XYZCustomer_iter_1486140844000"}
    assert [n.split for n in sorted([names[2], names[0], names[1]])] == [None, 1, 2]


def test_a_name_without_sync_mode_is_an_iter_batch():
    """SYNC_MODE is optional in the syntax; without it the batch adds and removes."""
    name = parse_outbound_name("S3_1234_20914_1486140844000.sync")
    assert name == OutboundName(1486140844000, None, 1234, 20914, None, None, "S3", False)
    assert not name.is_full and str(name) == "S3_1234_20914_1486140844000.sync"
