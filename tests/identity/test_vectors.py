"""The published hashing vectors of DOMAIN.md, tested exactly."""

from __future__ import annotations

import pytest

from audiencehub.identity import HashScheme, IdKind, hash_id, normalize

VECTORS = [
    (
        HashScheme.AAM,
        IdKind.EMAIL,
        "johndoe@example.com",
        "55e79200c1635b37ad31a378c39feb12f120f116625093a19bc32fff15041149",
    ),
    (
        HashScheme.AAM,
        IdKind.EMAIL,
        " ecid@adobe.com ",
        "a6ea4cde5da5ae7cc68baae894d1d6544fca26254433b0fff7c2cb4843b4a097",
    ),
    (
        HashScheme.UID2,
        IdKind.EMAIL,
        "user@example.com",
        "tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ=",
    ),
    (
        HashScheme.UID2,
        IdKind.EMAIL,
        "JANE.SAOIRSE@gmail.com",
        "ku4mBX7Z3qJTXWyLFB1INzkyR2WZGW4ANSJUiW21iI8=",
    ),
    (
        HashScheme.UID2,
        IdKind.EMAIL,
        "JaneSaoirse+Work@gmail.com",
        "ku4mBX7Z3qJTXWyLFB1INzkyR2WZGW4ANSJUiW21iI8=",
    ),
    (HashScheme.UID2, IdKind.PHONE, "+12345678901", "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4="),
]


@pytest.mark.parametrize(("scheme", "kind", "value", "expected"), VECTORS)
def test_published_vectors(scheme, kind, value, expected):
    """Each published example hashes to exactly the published value."""
    assert hash_id(value, scheme, kind) == expected


def test_uid2_gmail_variants_normalise_to_one_address():
    """Both UID2 gmail examples normalise to the published address."""
    for value in ("JANE.SAOIRSE@gmail.com", "JaneSaoirse+Work@gmail.com"):
        assert normalize(value, HashScheme.UID2, IdKind.EMAIL) == "janesaoirse@gmail.com"
