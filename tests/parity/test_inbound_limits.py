"""Parity with Adobe's inbound file limits and its PGP naming.

Sources: "Amazon S3 name and file size requirements for inbound data files" (Accepted file
sizes: compressed 3 GB, uncompressed 5 GB at most), "Inbound Data File Compression" (1 GB for
.gz: the docs disagree, the larger figure is the limit) and "File PGP Encryption for Inbound
Data Types" (never also gzip-compressed; decryption is in test_pgp.py)
(AdobeDocs/audience-manager.en).
The oversized files are sparse: their listed size is real, their blocks are not written.
"""

from __future__ import annotations

import pytest

from audiencehub.drops import DropObject, FolderDrop
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.inbound_limits import (
    MAX_COMPRESSED_BYTES,
    MAX_UNCOMPRESSED_BYTES,
    size_problem,
)
from audiencehub.people.ingest import ingest
from audiencehub.people.traits import add_trait
from tests.helpers import write_inbound


@pytest.fixture
def source(workspace):
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=33, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_trait(connection, trait_id=3301, name="CRM's", data_source_id=33)
    return workspace


@pytest.mark.parametrize(
    ("name", "limit", "reason"),
    [
        ("ftp_dpm_33_1764300000.sync", MAX_UNCOMPRESSED_BYTES, "5 GB limit for uncompressed"),
        ("ftp_dpm_33_1764300000.sync.gz", MAX_COMPRESSED_BYTES, "3 GB limit for compressed"),
    ],
)
def test_a_file_over_the_documented_size_refuses_its_batch(source, tmp_path, name, limit, reason):
    """An oversized split refuses the whole batch with the fix; once split, the batch applies."""
    drop = tmp_path / "in"
    write_inbound(drop, "ftp_dpm_33_1764300000.sync.1", ["c1\td_sid=3301"])
    with (drop / name.replace("1764300000.sync", "1764300000.sync.2")).open("wb") as big:
        big.truncate(limit + 1)
    [receipt] = ingest(source.people, FolderDrop(drop)).receipts
    assert receipt.status == "refused"
    assert reason in receipt.problems[0] and "split it" in receipt.problems[0]
    assert receipt.stored_records == 0
    for path in drop.glob("*.sync.2*"):
        path.unlink()
    [again] = ingest(source.people, FolderDrop(drop)).receipts
    assert (again.status, again.stored_records) == ("applied", 1)


def test_exactly_the_documented_maximum_is_allowed():
    """The limits are maxima: a file of exactly that size passes the check."""
    assert size_problem(DropObject("a/ftp_dpm_33_1764300000.sync", MAX_UNCOMPRESSED_BYTES)) is None
    assert size_problem(DropObject("ftp_dpm_33_1764300000.sync.gz", MAX_COMPRESSED_BYTES)) is None


def test_a_gzipped_pgp_file_is_reported_with_the_reason(source, tmp_path):
    """ "PGP encrypted inbound files that are also compressed are invalid": the file is
    reported as such, not as a badly named one."""
    drop = tmp_path / "in"
    write_inbound(drop, "ftp_dpm_33_1764300000.sync.gz.pgp", ["not really encrypted"])
    run = ingest(source.people, FolderDrop(drop))
    assert run.receipts == []
    assert len(run.unrecognised) == 1 and "must not also be gzip-compressed" in run.unrecognised[0]
