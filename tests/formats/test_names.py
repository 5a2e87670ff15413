"""File-name grammars: parse the documented examples, round-trip, refuse the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiencehub.errors import InvalidInput
from audiencehub.formats import (
    IdSyncName,
    InboundName,
    OutboundName,
    SyncMode,
    parse_id_sync_name,
    parse_inbound_name,
    parse_outbound_name,
)


def test_the_documented_outbound_example():
    """S3_1234_20914_XYZCustomer_iter_1486140844000.sync.gz parses field by field."""
    name = parse_outbound_name("S3_1234_20914_XYZCustomer_iter_1486140844000.sync.gz")
    assert name == OutboundName(1486140844000, None, 1234, 20914, "XYZCustomer", False, "S3", True)
    assert name.info_name == "S3_1234_20914_XYZCustomer_iter_1486140844000.info"


def test_inbound_names_with_target_and_split():
    """Target DPID, overwrite mode and split number are all read."""
    name = parse_inbound_name("ftp_dpm_21_123_1486140844.overwrite.3.gz")
    assert name == InboundName(1486140844, 21, 123, SyncMode.OVERWRITE, 3, True)
    assert name.batch == "ftp_dpm_21_123_1486140844.overwrite"


def test_id_sync_names():
    """adobe_id names carry the master DPID then one DPID per column."""
    name = parse_id_sync_name("adobe_id_0_12345_67890_1486140844.sync.1.gz")
    assert (name.master_dpid, name.dpids, name.split) == (0, (12345, 67890), 1)


@pytest.mark.parametrize(
    "bad",
    [
        "ftp_dpm_21_148614084.sync",  # 9-digit time
        "ftp_dpm_21_1486140844.txt",
        "ftp_dpm_x_1486140844.sync",
        "S3_1234_20914_XYZ_iter_148614084400.sync",  # 12-digit ms
        "S3_1234_20914_XYZ_delta_1486140844000.sync",
        "adobe_id_0_1486140844.sync",
        "profiles.csv",
    ],
)
def test_wrong_names_are_refused(bad):
    """A name outside its grammar is an error naming the expected form."""
    parsers = (parse_inbound_name, parse_outbound_name, parse_id_sync_name)
    for parse in parsers:
        with pytest.raises(InvalidInput, match="file name"):
            parse(bad)


_ts10 = st.integers(1_000_000_000, 9_999_999_999)
_split = st.none() | st.integers(0, 999)


@given(
    _ts10,
    st.integers(1, 10**6),
    st.none() | st.integers(1, 10**6),
    st.sampled_from(list(SyncMode)),
    _split,
    st.booleans(),
)
def test_inbound_round_trip(ts, dpid, target, mode, split, gz):
    """str() of a name parses back to the same name."""
    name = InboundName(ts, dpid, target, mode, split, gz)
    assert parse_inbound_name(str(name)) == name


@given(
    st.integers(10**12, 10**13 - 1),
    _split,
    st.integers(1, 10**6),
    st.integers(0, 10**6),
    st.none() | st.text("abcXYZ019", min_size=1, max_size=12),
    st.none() | st.booleans(),
    st.booleans(),
)
def test_outbound_round_trip(ts, split, did, master, alias, full, gz):
    """str() of an outbound name parses back to the same name."""
    name = OutboundName(ts, split, did, master, alias, full, "S3", gz)
    assert parse_outbound_name(str(name)) == name


@given(
    _ts10,
    st.integers(0, 10**6),
    st.lists(st.integers(1, 10**6), min_size=1, max_size=3),
    _split,
    st.booleans(),
)
def test_id_sync_round_trip(ts, master, dpids, split, gz):
    """str() of an ID sync name parses back to the same name."""
    name = IdSyncName(ts, master, tuple(dpids), split, gz)
    assert parse_id_sync_name(str(name)) == name


def test_outbound_names_sort_by_time_then_split():
    """Sorting names gives the order batches must be applied in: the unnumbered first file
    of a split batch comes before 001, and the older "-N" split form is still read."""
    names = [
        parse_outbound_name(n)
        for n in (
            "S3_1_2_A_iter_1486140845000002.sync.gz",
            "S3_1_2_A_iter_1486140845000001.sync.gz",
            "S3_1_2_A_iter_1486140845000.sync.gz",
            "S3_1_2_A_full_1486140844000.sync.gz",
        )
    ]
    assert [str(n) for n in sorted(names)] == [
        "S3_1_2_A_full_1486140844000.sync.gz",
        "S3_1_2_A_iter_1486140845000.sync.gz",
        "S3_1_2_A_iter_1486140845000001.sync.gz",
        "S3_1_2_A_iter_1486140845000002.sync.gz",
    ]
    assert parse_outbound_name("S3_1_2_A_iter_1486140845000-3.sync.gz").split == 3
