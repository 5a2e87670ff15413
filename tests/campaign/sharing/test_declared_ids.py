"""What a profile value gives a data source: the share and its complement agree."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audiencehub.campaign.sharing.shared_ids import declared_id_of, has_declared_id
from audiencehub.identity import AesCbcCipher

_CIPHER = AesCbcCipher.from_hex("00" * 16, "11" * 16)
_SOURCES = [
    {"reconciliation_key": key, "hashing": hashing, "encryption": encryption}
    for key in ("email", "mobile_phone", "crm_id")
    for hashing, encryption in ((None, None), ("aam", None), ("meta", None), (None, "aes-cbc"))
]
_VALUES = st.one_of(
    st.sampled_from(
        ["jo@example.com", " Jo@Example.COM ", "not an email", "+33612345678", "0612345678",
         "C1", "C:1", "c%3A1", "", "  ", "@", "a@b", "+1 650 253 0000"]
    ),
    st.text(st.sampled_from("ab@.+0123 :%3A"), max_size=16),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(_SOURCES), value=_VALUES)
def test_has_declared_id_is_whether_declared_id_of_gives_one(source, value):
    """The complement (no ID) is exactly what the export job would leave out."""
    cipher = _CIPHER if source["encryption"] else None
    assert has_declared_id(source, value) is (declared_id_of(source, value, cipher) is not None)
