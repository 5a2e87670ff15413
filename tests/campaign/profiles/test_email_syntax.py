"""The email fast path only ever accepts what email-validator accepts."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from audiencehub.campaign.profiles.email_syntax import check_email, is_plain_email
from audiencehub.errors import InvalidEmail

_atoms = st.text(alphabet="abcXYZ019._+-%!#'`~", min_size=0, max_size=12)
_labels = st.text(alphabet="abz09-", min_size=0, max_size=8)
_tlds = st.sampled_from(
    ["com", "org", "io", "test", "local", "onion", "c", "x1", "COM", "xn--p1ai"]
)
_domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(_labels, max_size=3), _tlds
)


def _library_accepts(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@settings(max_examples=2000)
@given(_atoms, _domains)
def test_fast_path_accepts_only_what_the_library_accepts(local, domain):
    """Whenever the fast path says yes, email-validator says yes too."""
    address = f"{local}@{domain}"
    if is_plain_email(address):
        assert _library_accepts(address), address


@pytest.mark.parametrize(
    "address",
    ["jo@example.com", "Jo.Doe+news@Mail.Example.ORG", "a_b-c@x-y.co"],
)
def test_plain_addresses_take_the_fast_path(address):
    """Everyday addresses are accepted without calling the library."""
    assert is_plain_email(address)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("jo.example.com", "must have an @-sign"),
        ("jo@localhost", "should have a period"),
        ("jo@printer.local", "special-use or reserved name"),
        ("jo..doe@example.com", "two periods in a row"),
    ],
)
def test_rejections_carry_the_library_reason(address, reason):
    """A bad address is refused with email-validator's own explanation."""
    with pytest.raises(InvalidEmail, match=reason):
        check_email(address)


def test_international_addresses_fall_back_to_the_library():
    """Non-ASCII addresses are not plain, and the library accepts them."""
    assert not is_plain_email("josé@exämple.com")
    check_email("josé@exämple.com")
