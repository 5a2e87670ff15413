"""Parity with the UID2 normalisation rules and the reference operator.

Sources: UID2 documentation, "Normalization and Encoding", sections "Phone Number
Normalization" (the US, Singapore and Sydney examples) and "Email Address Hash Encoding";
the operator's phone check (``+`` then 10 to 15 digits, no national number plan).
"""

from __future__ import annotations

import base64

import pytest

from audiencehub.errors import InvalidPhone
from audiencehub.identity import HashScheme, IdKind, decode_digest, hash_id, normalize


@pytest.mark.parametrize(
    ("written", "region", "normalized"),
    [
        # "US: 1 (123) 456-7890 is normalized to +11234567890" (area code 123 is no valid
        # North American one: the operator checks no number plan, and neither does uid2 here)
        ("1 (123) 456-7890", None, "+11234567890"),
        ("+1 (234) 567-8901", None, "+12345678901"),
        # "Singapore: 65 1243 5678 is normalized to +6512345678": the page's result swaps
        # two digits of its input; the digits as written are kept, nothing is reordered
        ("65 1243 5678", None, "+6512435678"),
        # "Sydney, Australia: (02) 1234 5678 ... drop the leading zero for the city plus
        # include the country code: +61212345678" (a national form needs its region)
        ("(02) 1234 5678", "AU", "+61212345678"),
    ],
)
def test_documented_phone_examples(written, region, normalized):
    assert normalize(written, HashScheme.UID2, IdKind.PHONE, region) == normalized


@pytest.mark.parametrize(
    ("phone", "accepted"),
    [
        ("+123456789", False),  # 9 digits
        ("+1234567890", True),  # 10
        ("+123456789012345", True),  # 15
        ("+1234567890123456", False),  # 16
    ],
)
def test_the_operators_length_rule(phone, accepted):
    """``+`` and 10 to 15 digits, whatever the country's own plan says."""
    if accepted:
        assert normalize(phone, HashScheme.UID2, IdKind.PHONE) == phone
    else:
        with pytest.raises(InvalidPhone, match="uid2 needs 10 to 15"):
            normalize(phone, HashScheme.UID2, IdKind.PHONE)


def test_other_schemes_keep_the_national_plan():
    """A French number one digit too long: uid2 takes it (12 digits), google refuses it."""
    assert normalize("+33 12 34 56 78 90", HashScheme.UID2, IdKind.PHONE) == "+331234567890"
    with pytest.raises(InvalidPhone, match="too long"):
        normalize("+33 12 34 56 78 90", HashScheme.GOOGLE, IdKind.PHONE)


def test_hashed_emails_are_read_in_base64_or_hex():
    """The documented hash of user@example.com, in base64 as UID2 writes it and in hex."""
    written = hash_id("user@example.com", HashScheme.UID2, IdKind.EMAIL)
    assert written == "tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ="
    raw = base64.b64decode(written)
    assert decode_digest(written, HashScheme.UID2) == raw
    assert decode_digest(raw.hex(), HashScheme.UID2) == raw
    assert decode_digest(raw.hex().upper(), HashScheme.UID2) == raw
