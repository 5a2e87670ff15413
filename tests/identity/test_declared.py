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
    st.text(min_size=1).filter(lambda s: "\x01" not in s),
    st.sampled_from(list(AuthState)),
)
def test_format_then_parse_round_trips(namespace, declared_id, state):
    """Formatting a sync and parsing the fragment back gives the same sync."""
    sync = DeclaredIdSync(namespace, declared_id, state, not namespace.isdigit())
    assert parse_declared_sync_param(format_declared_sync(sync)) == sync
