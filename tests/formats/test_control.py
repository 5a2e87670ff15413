"""Control files: written from the streams themselves, read back, and checked."""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest

from audiencehub.errors import InvalidInput
from audiencehub.formats import ControlFile, FileEntry, LineWriter


def _write(lines, *, compress=True, name="b-0.sync.gz", sequence=0):
    sink = io.BytesIO()
    writer = LineWriter(sink, name, sequence, compress=compress)
    for line in lines:
        writer.write_line(line)
    entry = writer.close()
    return sink.getvalue(), entry


def test_entries_describe_the_bytes_written():
    """Size and md5 are those of the stored (compressed) bytes; lines are data lines."""
    data, entry = _write(["a 1 ", "b 2 "])
    assert entry == FileEntry("b-0.sync.gz", len(data), 2, 0, hashlib.md5(data).hexdigest())  # noqa: S324
    assert gzip.decompress(data) == b"a 1 \nb 2 \n"


def test_json_round_trip_with_reference_field_names():
    """The .info text uses Files/Totals and parses back to the same control file."""
    _, first = _write(["x"], name="b-0.sync.gz", sequence=0)
    _, second = _write(["y", "z"], name="b-1.sync.gz", sequence=1)
    control = ControlFile("b.info", (first, second))
    text = control.to_json()
    assert '"TotalNumberLines": 3' in text and '"FileSequenceNumber": 1' in text
    assert ControlFile.from_json(text) == control


def test_mismatches_name_each_difference():
    """Missing files and wrong sizes, counts or digests are each reported."""
    _, entry = _write(["x"])
    control = ControlFile("b.info", (entry, FileEntry("b-1.sync.gz", 1, 1, 1, "00")))
    changed = FileEntry(entry.name, entry.byte_size + 1, 2, 0, "ff")
    assert control.mismatches([changed]) == [
        f"b-0.sync.gz: byte size is {entry.byte_size + 1}, the control file says {entry.byte_size}",
        "b-0.sync.gz: line count is 2, the control file says 1",
        f"b-0.sync.gz: md5 is ff, the control file says {entry.md5}",
        "b-1.sync.gz is missing",
    ]
    assert control.mismatches([entry, FileEntry("b-1.sync.gz", 1, 1, 1, "00")]) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "malformed"),
        ('{"Files": []}', "malformed"),
        (
            '{"Files": [], "Totals": {"FileName": "b.info", "TotalByteSize": 0, '
            '"TotalNumberFiles": 1, "TotalNumberLines": 0}}',
            "disagree with its file list",
        ),
    ],
)
def test_bad_control_files_are_refused(text, reason):
    """A control file that cannot be trusted is refused with the reason."""
    with pytest.raises(InvalidInput, match=reason):
        ControlFile.from_json(text)
