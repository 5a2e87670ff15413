"""A validated block packed in a worker and unpacked in the parent is the block itself."""

from __future__ import annotations

import csv
import io
import pickle

import pytest

from audiencehub.campaign.profiles.fields import UpsertKey, build_mapping
from audiencehub.campaign.profiles.rows import RejectedRow, RowValidator
from audiencehub.identity.schemes import HashScheme

ROWS = [
    ["ann@example.com", "+14155550101", "C1", "Ann", "US", "0", "gold"],
    ["bad-email", "", "C2", "Bob", "US", "0", ""],
    ["Bo@Example.com", "(415) 555-0102", "C3", "", "US", "", ""],
    ["", "07700 900123", "C4", "Cy", "GB", "1", "silver"],
    ["dee@example.com", "", "C5"],
    ["eve@example.com", "", "", "Eve", "FR", "yes", ""],
]


def _block(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(
    ("header", "key", "schemes"),
    [
        (
            ["email", "mobile_phone", "crm_id", "first_name", "country", "email_opt_out", "tier"],
            UpsertKey.EMAIL,
            [HashScheme.AAM, HashScheme.GOOGLE, HashScheme.UID2],
        ),
        (
            ["email", "mobile_phone", "crm_id", "first_name", "country", "email_opt_out", "tier"],
            UpsertKey.CRM_ID,
            [HashScheme.AAM],
        ),
        (["email", "mobile_phone", "crm_id"], UpsertKey.EMAIL, []),
    ],
)
def test_a_packed_block_unpacks_to_the_same_results(header, key, schemes):
    """Changes (values, attributes, every key digest) and rejects survive the trip as they were."""
    rows = [row[: len(header)] for row in ROWS]  # the short row is refused on a wide header
    validator = RowValidator(build_mapping(header, key), schemes)
    block = _block(rows)
    direct = validator.validate_block(2, block, ",")
    trip = pickle.dumps(validator.validate_packed(2, block, ","))
    packed = pickle.loads(trip)  # noqa: S301  # our own bytes, as the worker pool sends them
    unpacked = validator.unpack(packed)
    rejected = [r for r in direct if isinstance(r, RejectedRow)]
    changes = [r for r in direct if not isinstance(r, RejectedRow)]
    assert rejected and changes  # both kinds of result make the trip
    assert unpacked == rejected + changes


def test_a_block_of_rejects_only_packs_to_no_changes():
    """A block with no valid row packs to its rejects and empty columns."""
    header = ["email", "crm_id"]
    validator = RowValidator(build_mapping(header, UpsertKey.EMAIL), [HashScheme.AAM])
    packed = validator.validate_packed(2, _block([["nope", "C1"], ["", "C2"]]), ",")
    assert (len(packed.rejected), packed.lines, packed.columns) == (2, [], [])
    assert validator.unpack(packed) == packed.rejected
