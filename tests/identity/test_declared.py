"""d_cid and d_cid_ic syncs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiencehub.errors import InvalidDeclaredId
from audiencehub.identity import (
    AuthState,
    DeclaredIdSync,
    format_declared_sync,
    parse_declared_sync,
    parse_declared_sync_param,
)


def test_parse_d_cid_with_state():
    """A d_cid with DPID, ID and state parses to its parts."""
    sync = parse_declared_sync_param("d_cid=20915%01abc123%011")
    assert sync == DeclaredIdSync("20915", "abc123", AuthState.AUTHENTICATED, False)
    assert sync.dpid == 20915


def test_parse_d_cid_ic_without_state():
    """d_cid_ic names the data source by integration code; the state defaults to unknown."""
    sync = parse_declared_sync_param("d_cid_ic=crm_ic%01user%40x.org")
    assert (sync.namespace, sync.declared_id, sync.auth_state) == (
        "crm_ic",
        "user@x.org",
        AuthState.UNKNOWN,
    )
    assert sync.dpid is None


@pytest.mark.parametrize(
    ("value", "ic", "reason"),
    [
        ("20915", False, "1 part"),
        ("20915\x01a\x011\x01x", False, "4 part"),
        ("\x01abc", False, "empty data source"),
        ("crm\x01abc", False, "not a numeric DPID"),
        ("20915\x01", False, "empty declared ID"),
        ("20915\x01abc\x017", False, "not 0, 1 or 2"),
        ("ic\x01abc\x01x", True, "not 0, 1 or 2"),
    ],
)
def test_malformed_syncs_say_why(value, ic, reason):
    """Malformed syncs are refused with the reason."""
    with pytest.raises(InvalidDeclaredId, match=reason):
        parse_declared_sync(value, by_integration_code=ic)


def test_unknown_parameter_is_refused():
    """Only d_cid and d_cid_ic are declared-ID syncs."""
    with pytest.raises(InvalidDeclaredId, match="not a d_cid"):
        parse_declared_sync_param("d_xyz=1%01a")


@given(
    st.one_of(st.integers(1, 10**9).map(str), st.text("abcdef_-", min_size=1)),
    st.text(st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=512),
    st.sampled_from(list(AuthState)),
)
def test_format_then_parse_round_trips(namespace, declared_id, state):
    """Formatting a sync and parsing the fragment back gives the same sync."""
    sync = DeclaredIdSync(namespace, declared_id, state, not namespace.isdigit())
    assert parse_declared_sync_param(format_declared_sync(sync)) == sync


@given(
    st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=20),
    st.sampled_from([chr(c) for c in [*range(1, 32), 127] if c != 1] + ["\x00"]),
    st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=20),
)
def test_control_characters_in_a_declared_id_are_refused(before, control, after):
    """A declared ID with a control character (NUL, tab, line feed, ...) is refused."""
    with pytest.raises(InvalidDeclaredId, match="control characters"):
        parse_declared_sync(f"20915\x01{before}{control}{after}")


def test_over_long_declared_ids_are_refused_without_being_quoted():
    """Over 512 characters is refused; the message gives the length, not the ID."""
    with pytest.raises(InvalidDeclaredId, match="40,000 characters") as caught:
        parse_declared_sync("20915\x01" + "s" * 40_000)
    assert "sss" not in caught.value.message
    assert parse_declared_sync("20915\x01" + "s" * 512).declared_id == "s" * 512
