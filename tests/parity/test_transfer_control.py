"""Parity with Adobe's published examples: transfer-control (.info) files.

Source: "Transfer-Control Files for Log File Transfers" (help/using/integration/
receiving-audience-data/batch-outbound-transfers/transfer-control-files.md,
AdobeDocs/audience-manager.en).
"""

from __future__ import annotations

import json

from audiencehub.formats import ControlFile
from audiencehub.people.destinations import add_destination
from audiencehub.people.publication import publish
from audiencehub.people.segments import add_segment
from tests.people.conftest import people

__all__ = ["people"]  # the fixture, shared with the people-service tests

# The page's File Format example, verbatim apart from its JSON-with-bare-keys quoting.
EXAMPLE = {
    "Files": [
        {
            "FileByteSize": 293029329,
            "FileLineCount": 36893908,
            "FileName": "ftp_12345_67890_full_1500727351632-1.sync.gz",
            "FileSequenceNumber": 1,
            "md5": "983g634be2ad5263c6a6c4958bf61d9f",
        },
        {
            "FileByteSize": 293039238,
            "FileLineCount": 36895184,
            "FileName": "ftp_12345_67890_full_1500727351632-2.sync.gz",
            "FileSequenceNumber": 2,
            "md5": "6sn9907c8e78cfd78409622e7b55a984",
        },
        {
            "FileByteSize": 293050833,
            "FileLineCount": 36896787,
            "FileName": "ftp_12345_67890_full_1500727351632-3.sync.gz",
            "FileSequenceNumber": 3,
            "md5": "7cdfb8e74cd6cec1jy6vel21ccb4a962",
        },
        {
            "FileByteSize": 218425764,
            "FileLineCount": 27498226,
            "FileName": "ftp_12345_67890_full_1500727351632-4.sync.gz",
            "FileSequenceNumber": 4,
            "md5": "7hs53149f8a2444457g968f04cbbdee5",
        },
    ],
    "Totals": {
        "FileName": "ftp_12345_67890_full_1500727351632.sync",
        "TotalByteSize": 1097545164,
        "TotalNumberFiles": 4,
        "TotalNumberLines": 138184105,
    },
}


def test_the_documented_example_is_read():
    """The example parses, its totals agree with its files, sequences 1 to 4."""
    control = ControlFile.from_json(json.dumps(EXAMPLE))
    assert control.name == "ftp_12345_67890_full_1500727351632.sync"
    assert [entry.sequence for entry in control.files] == [1, 2, 3, 4]


def test_a_publication_writes_the_documented_form(people, tmp_path):
    """The .info a publication writes numbers its files from 1 and names the batch in its
    totals as the example does (the batch root and .sync)."""
    with people.people.begin() as connection:
        add_segment(connection, segment_id=900, name="Shoes", rule="T101")
        add_destination(
            connection,
            destination_id=1,
            name="Campaign",
            drop_url=str(tmp_path / "out"),
            id_type="declared",
            data_source_id=7001,
            segment_ids=[900],
        )
    publication = publish(people.people, 1, now_ms=1764300000000, scratch=tmp_path)
    [info] = (tmp_path / "out").rglob("*.info")
    written = json.loads(info.read_text())
    assert [f["FileSequenceNumber"] for f in written["Files"]] == [1]
    assert written["Totals"]["FileName"] == f"{publication.batch.rsplit('/', 1)[-1]}.sync"
