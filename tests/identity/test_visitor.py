"""Visitor IDs and the AMCV_ cookie."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiencehub.errors import InvalidInput, InvalidVisitorId
from audiencehub.identity import VisitorId, amcv_cookie_name, format_amcv, visitor_id_from_amcv
from audiencehub.identity.visitor import MAX_HALF, amcv_session_cookie_name, parse_amcv

VALID = "0" * 19 + "9223372036854775807"


def test_a_valid_id_parses_to_itself():
    """38 digits with both halves within 2^63-1 are a visitor ID."""
    assert VisitorId.parse(VALID).value == VALID
    assert VisitorId.parse(VALID).halves == (0, MAX_HALF)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("123", "has 3 characters, not 38 digits"),
        ("1" * 39, "has 39 characters"),
        ("0" * 18 + "x" + "0" * 19, "character 19 is 'x'"),
        ("9223372036854775808" + "0" * 19, r"first half 9223372036854775808 is over 2\^63-1"),
        ("0" * 19 + "9999999999999999999", "second half 9999999999999999999 is over"),
        ("", "has 0 characters"),
    ],
)
def test_invalid_ids_say_why(text, reason):
    """Each kind of invalid ID is refused with its reason."""
    with pytest.raises(InvalidVisitorId, match=reason):
        VisitorId.parse(text)


def test_new_ids_are_always_valid():
    """Every generated ID passes validation."""
    for _ in range(1_000):
        fresh = VisitorId.new()
        assert VisitorId.parse(fresh.value) == fresh


def test_cookie_names_encode_the_org_id():
    """The cookie names carry the org id URL-encoded."""
    assert amcv_cookie_name("ABC123@AdobeOrg") == "AMCV_ABC123%40AdobeOrg"
    assert amcv_session_cookie_name("ABC123@AdobeOrg") == "AMCVS_ABC123%40AdobeOrg"
    with pytest.raises(InvalidInput, match="not an organisation id"):
        amcv_cookie_name("no org")


def test_reading_a_real_shaped_cookie():
    """A URL-encoded cookie with a leading checksum token yields its MCMID."""
    value = f"-1124106680%7CMCIDTS%7C19000%7CMCMID%7C{VALID}%7CvVersion%7C5.2.0"
    assert visitor_id_from_amcv(value).value == VALID


def test_writing_keeps_other_pairs():
    """Rewriting a cookie replaces MCMID and keeps the checksum and other pairs."""
    fresh = VisitorId.new()
    value = format_amcv(fresh, f"-1124|MCIDTS|19000|MCMID|{VALID}|vVersion|5.2.0")
    prefix, pairs = parse_amcv(value)
    assert prefix == "-1124"
    assert pairs == {"MCIDTS": "19000", "MCMID": fresh.value, "vVersion": "5.2.0"}


@given(
    st.dictionaries(
        st.sampled_from(["MCIDTS", "vVersion", "MCAAMB"]), st.text("abc019", min_size=1)
    )
)
def test_cookie_round_trip(pairs):
    """What format_amcv writes, visitor_id_from_amcv reads back."""
    existing = "|".join(f"{k}|{v}" for k, v in pairs.items())
    fresh = VisitorId.new()
    assert visitor_id_from_amcv(format_amcv(fresh, existing or None)) == fresh


def test_a_cookie_without_mcmid_is_an_error():
    """No MCMID key means no visitor ID, said plainly."""
    with pytest.raises(InvalidVisitorId, match="no MCMID"):
        visitor_id_from_amcv("MCIDTS|19000")
