"""Inbound and outbound rows: every trait form, round trips, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiencehub.errors import InvalidInput
from audiencehub.formats import (
    IdSyncRow,
    InboundRow,
    OutboundRow,
    TraitRef,
    format_id_sync_row,
    format_inbound_row,
    format_outbound_row,
    parse_id_sync_row,
    parse_inbound_row,
    parse_outbound_row,
)
from audiencehub.formats.inbound import MAX_LINE_BYTES, TraitRefKind, parse_general_row

SID, CODE = TraitRefKind.SID, TraitRefKind.CODE


def test_every_trait_form():
    """d_sid, d_unsid, ic, plain codes, :0 and :-1 removals and key-values are all read."""
    row = parse_inbound_row(
        'abc123\td_sid=24,d_unsid=28,ic=52,30608,29:0,31:-1,"gender"="female",age=42'
    )
    assert row == InboundRow(
        "abc123",
        realize=(TraitRef(SID, "24"), TraitRef(CODE, "52"), TraitRef(CODE, "30608")),
        remove=(TraitRef(SID, "28"), TraitRef(SID, "29"), TraitRef(SID, "31")),
        signals={"gender": ("female",), "age": ("42",)},
    )


def test_quoted_values_may_hold_commas():
    """A comma inside quotes belongs to the value."""
    assert parse_inbound_row('u1\t"city"="Paris, FR"').signals == {"city": ("Paris, FR",)}


def test_a_key_may_repeat_and_leading_dashes_are_ignored():
    """Adobe's "product = tablet, product = phone" keeps both values; "-product = camera"
    is "product = camera" (Inbound Data File Contents, Key-Value Pairs)."""
    row = parse_inbound_row('u1\tproduct = tablet, product = phone, -product = camera, "--age"=3')
    assert row.signals == {"product": ("tablet", "phone", "camera"), "age": ("3",)}
    assert parse_inbound_row('u1\t"product" = "tablet", "product" = "phone"').signals == {
        "product": ("tablet", "phone")
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("u1 d_sid=1", "no TAB"),
        ("\td_sid=1", "user ID is empty"),
        ("crm:42\td_sid=1", "contains ':'"),
        ("crm%3A42\td_sid=1", "contains ':'"),
        ("u1\td_sid=x", "d_sid takes a number"),
        ("u1\tshoes", "is not a trait"),
        ('u1\t"open=1', "not closed"),
        ("u1\t" + "1," * MAX_LINE_BYTES, "over 102,400 bytes"),
    ],
)
def test_malformed_lines_say_why(line, reason):
    """Each malformed line is refused with its reason."""
    with pytest.raises(InvalidInput, match=reason):
        parse_inbound_row(line)


_ids = st.text("abcdef0123456789", min_size=1, max_size=38)
_nums = st.lists(st.integers(1, 10**7), max_size=5)
_keys = st.text("abcxyz_", min_size=1, max_size=8)
_values = st.text("abc ,=019", max_size=8).filter(lambda v: '"' not in v)


@given(
    _ids,
    _nums,
    _nums,
    st.lists(st.integers(1, 10**7).map(str), max_size=3),
    st.dictionaries(_keys, st.lists(_values, min_size=1, max_size=3, unique=True), max_size=3),
)
def test_inbound_round_trip(user_id, sids, unsids, codes, signals):
    """A formatted row parses back to what was written."""
    row = parse_inbound_row(
        format_inbound_row(user_id, sids=sids, unsids=unsids, codes=codes, signals=signals)
    )
    assert row.user_id == user_id
    assert row.realize == tuple(TraitRef(SID, str(s)) for s in sids) + tuple(
        TraitRef(CODE, c) for c in codes
    )
    assert row.remove == tuple(TraitRef(SID, str(s)) for s in unsids)
    assert dict(row.signals) == {key: tuple(values) for key, values in signals.items()}


def _outcome(parse, line):
    try:
        return parse(line)
    except InvalidInput as exc:
        return exc.message


_near_simple = st.lists(
    st.sampled_from(
        [
            "u1",
            "C",
            "\t",
            "d_sid=",
            "d_unsid=",
            "ic=",
            "7",
            "0",
            "42",
            ",",
            " ",
            ":",
            "%3A",
            "%",
            '"',
            "=",
            "\u0663",
            "\u00e9",
            "\r",
            ":-1",
            "\xa0",
            "\x00",
            "\x1f",
            "x" * 300,
        ]
    ),
    max_size=12,
).map("".join)


@given(st.one_of(_near_simple, st.text(max_size=30)))
def test_the_fast_path_parses_exactly_as_the_general_one(line):
    """Lines of ids and d_sid traits take a shortcut; every line gets the same answer."""
    assert _outcome(parse_inbound_row, line) == _outcome(parse_general_row, line)


@pytest.mark.parametrize(
    "line",
    [
        "c1\td_sid=101",
        "c1\td_sid=101,d_sid=007",
        "x" * 512 + "\td_sid=1",
        "x" * 513 + "\td_sid=1",
        "x" * 25_600 + "\td_sid=1",
        "c\x001\td_sid=1",
    ],
)
def test_fast_path_examples_match_the_general_one(line):
    """The common shape, leading zeros kept, the longest ID taken and the first refused."""
    assert _outcome(parse_inbound_row, line) == _outcome(parse_general_row, line)


@given(_ids, _nums, _nums)
def test_outbound_round_trip(user_id, segments, removed):
    """An outbound row parses back to the same ID and segment lists."""
    line = format_outbound_row(user_id, segments, removed)
    assert parse_outbound_row(line) == OutboundRow(user_id, tuple(segments), tuple(removed))


def test_outbound_accepts_tabs_and_two_fields():
    """Readers accept TAB separators and a missing removals field."""
    assert parse_outbound_row("id1\t1,2") == OutboundRow("id1", (1, 2), ())
    with pytest.raises(InvalidInput, match="not comma-separated numbers"):
        parse_outbound_row("id1 1,x")


@given(
    st.text("0123456789", min_size=1, max_size=38),
    st.lists(st.none() | st.text("abc019@.", min_size=1, max_size=12), max_size=3),
    st.text("abc019@.", min_size=1, max_size=12),
)
def test_id_sync_round_trip(device_id, leading, last):
    """An ID sync row parses back to the same device ID and declared IDs (the last column
    holds an ID: a row that ends with a tab is not processed)."""
    declared = [*leading, last]
    line = format_id_sync_row(device_id, declared)
    assert parse_id_sync_row(line, len(declared)) == IdSyncRow(device_id, tuple(declared))


def test_id_sync_rows_must_match_the_announced_columns():
    """A row with more or fewer columns than the name announces is refused."""
    with pytest.raises(InvalidInput, match="3 columns; the file name announces 2"):
        parse_id_sync_row("v\ta\tb", 1)
