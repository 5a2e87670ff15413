"""Normalisation per scheme: the rules of the DOMAIN.md table, invalid input, idempotence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiencehub.errors import InvalidEmail, InvalidPhone
from audiencehub.identity import HashScheme, IdKind, normalize, normalize_email, to_e164
from audiencehub.identity.hashing import decode_digest, digest, encode_digest
from audiencehub.identity.normalize import normalize_e164


@pytest.mark.parametrize(
    ("scheme", "value", "expected"),
    [
        (HashScheme.AAM, "  Jo.Doe+news@Gmail.com\t", "jo.doe+news@gmail.com"),
        (HashScheme.META, " Jo.Doe+news@Gmail.com ", "jo.doe+news@gmail.com"),
        (HashScheme.UID2, " Jo.Doe+news@Gmail.com ", "jodoe@gmail.com"),
        (HashScheme.UID2, "Jo.Doe+news@googlemail.com", "jo.doe+news@googlemail.com"),
        (HashScheme.GOOGLE, "Jo.Doe+news@googlemail.com", "jodoe@googlemail.com"),
        (HashScheme.GOOGLE, " Jo . Doe@Example.com ", "jo.doe@example.com"),
    ],
)
def test_email_rules_per_scheme(scheme, value, expected):
    """Each scheme trims, lowercases and strips gmail dots and tags as its table row says."""
    assert normalize_email(value, scheme) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("janedoe.example.com", "no '@'"),
        ("@example.com", "before '@' is empty"),
        ("jane@", "after '@' is empty"),
        ("jane@doe@example.com", "2 '@' signs"),
        ("", "no '@'"),
        ("jane doe@example.com", "white space"),
        ("+tag@gmail.com", "nothing is left"),
    ],
)
def test_uid2_rejects_invalid_emails_with_the_reason(value, reason):
    """Invalid addresses are refused, never hashed, and the error says why."""
    with pytest.raises(InvalidEmail, match=reason):
        normalize(value, HashScheme.UID2, IdKind.EMAIL)


@pytest.mark.parametrize(
    ("scheme", "value", "region", "expected"),
    [
        (HashScheme.UID2, "+1 (234) 567-8901", None, "+12345678901"),
        (HashScheme.GOOGLE, "06 12 34 56 78", "FR", "+33612345678"),
        (HashScheme.META, "+44 7700 900123", None, "447700900123"),
        (HashScheme.META, "447700900123", None, "447700900123"),
        (HashScheme.META, "(415) 555-0123", "us", "14155550123"),
    ],
)
def test_phone_rules_per_scheme(scheme, value, region, expected):
    """Phones become E.164 (uid2, google) or digits with country code (meta)."""
    assert normalize(value, scheme, IdKind.PHONE, region) == expected


@pytest.mark.parametrize(
    ("scheme", "value", "region", "reason"),
    [
        (HashScheme.UID2, "12", "US", "too short"),
        (HashScheme.UID2, "5550123", None, "has 7 digits"),
        (HashScheme.UID2, "+1 415 555 01x3", None, "not a phone number"),
        (HashScheme.UID2, "+0 415 555 0123", None, "no country code starts with 0"),
        (HashScheme.UID2, "+1 415 555 0123 4567 8", None, "has 16 digits"),
        (HashScheme.GOOGLE, "not a number", "US", "not a phone number"),
        (HashScheme.GOOGLE, "0612345678", "XX", "not a region"),
        (HashScheme.AAM, "+12345678901", None, "no phone normalisation"),
    ],
)
def test_impossible_phones_are_refused_with_the_reason(scheme, value, region, reason):
    """A phone that is not a possible number is an error naming the problem."""
    with pytest.raises(InvalidPhone, match=reason):
        normalize(value, scheme, IdKind.PHONE, region)


def test_e164_keeps_italian_leading_zero():
    """National significant numbers keep a leading zero where the plan has one."""
    assert to_e164("+39 06 1234 5678") == "+390612345678"


_local = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789.+_-", min_size=1, max_size=20
)
_domain = st.sampled_from(["gmail.com", "googlemail.com", "example.com", "Mail.Example.ORG"])
_space = st.sampled_from(["", " ", "\t", " \n"])
_emails = st.builds(
    lambda s1, local, domain, s2: f"{s1}{local}@{domain}{s2}", _space, _local, _domain, _space
)


@given(_emails, st.sampled_from(list(HashScheme)))
def test_email_normalisation_is_idempotent(value, scheme):
    """Normalising a normal form changes nothing (when the value normalises at all)."""
    try:
        once = normalize_email(value, scheme)
    except InvalidEmail:
        return
    assert normalize_email(once, scheme) == once


@given(
    st.sampled_from(["+1", "+33", "+44", "+49", "+81"]),
    st.text(alphabet="0123456789", min_size=6, max_size=12),
    st.sampled_from([HashScheme.UID2, HashScheme.GOOGLE, HashScheme.META]),
)
def test_phone_normalisation_is_idempotent(prefix, digits, scheme):
    """A normalised phone number normalises to itself."""
    try:
        once = normalize(prefix + digits, scheme, IdKind.PHONE)
    except InvalidPhone:
        return
    assert normalize(once, scheme, IdKind.PHONE) == once


@given(_emails, st.sampled_from(list(HashScheme)))
def test_digest_encoding_round_trips(value, scheme):
    """Encoding a digest in a scheme's form and decoding it gives the same 32 bytes."""
    try:
        raw = digest(value, scheme, IdKind.EMAIL)
    except InvalidEmail:
        return
    assert decode_digest(encode_digest(raw, scheme), scheme) == raw
    if scheme is not HashScheme.UID2:
        assert decode_digest(encode_digest(raw, scheme).upper(), scheme) == raw


def test_google_accepts_base64_digests():
    """Google partners send hex or base64; both decode to the same digest."""
    raw = digest("jo@example.com", HashScheme.GOOGLE, IdKind.EMAIL)
    assert decode_digest(encode_digest(raw, HashScheme.UID2), HashScheme.GOOGLE) == raw


@given(
    st.sampled_from(["+1", "+33", "+39", "+44", "+49", "+81", "", "0"]),
    st.text(alphabet="0123456789 -", min_size=6, max_size=14),
    st.sampled_from([None, "FR", "IT", "GB", "US"]),
    st.sampled_from([HashScheme.UID2, HashScheme.GOOGLE, HashScheme.META]),
)
def test_a_number_read_once_normalises_as_if_read_again(prefix, digits, region, scheme):
    """An import reads a phone once (to_e164) and normalises that form for each scheme
    without reading it again: the answer is the full normalisation's, refusals included."""
    try:
        e164 = to_e164(prefix + digits, region)
    except InvalidPhone:
        return
    try:
        expected: str | None = normalize(e164, scheme, IdKind.PHONE)
    except InvalidPhone:
        expected = None
    try:
        shortcut: str | None = normalize_e164(e164, scheme)
    except InvalidPhone:
        shortcut = None
    assert shortcut == expected
