"""The plain-number fast path only ever gives the answer ``phonenumbers`` gives."""

from __future__ import annotations

import random
from collections.abc import Iterator

import duckdb
import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiencehub.errors import InvalidPhone
from audiencehub.identity.normalize import to_e164
from audiencehub.identity.numbering import plain_e164, read_plain_numbers

_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
_CODES = sorted(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _library(text: str, region: str | None) -> str | None:
    """What the full path answers (the fast path switched off), ``None`` for a refusal."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) not in (
        phonenumbers.ValidationResult.IS_POSSIBLE,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        return None
    national = phonenumbers.national_significant_number(number)
    return f"+{number.country_code}{national}"


def _agrees(text: str, region: str | None) -> None:
    fast = plain_e164(text, region)
    if fast is not None:
        assert fast == _library(text, region), (text, region, fast)


_MARKS = [" ", "-", ".", "(", ")", ") ", " ("]
_digits = st.text(alphabet="0123456789", min_size=1, max_size=19)


@settings(max_examples=4000)
@given(st.sampled_from(_CODES), _digits)
def test_international_numbers_agree_with_the_library(code, rest):
    """``+`` and digits: whenever the fast path answers, the library answers the same."""
    _agrees(f"+{code}{rest}", None)


@settings(max_examples=4000)
@given(st.sampled_from(_REGIONS), _digits)
def test_national_numbers_agree_with_the_library_in_every_region(region, digits):
    """National digits read in a region: the same answer as the library, or none."""
    _agrees(digits, region)


@settings(max_examples=3000)
@given(
    st.sampled_from(_REGIONS),
    st.sampled_from(["", "+"]),
    st.lists(
        st.tuples(_digits, st.sampled_from([" ", "-", ".", "(", ")", ") ", " ("])), max_size=4
    ),
    _digits,
)
def test_punctuated_numbers_agree_with_the_library(region, plus, groups, last):
    """Digits split by spaces, dots, dashes and brackets, as people write them."""
    _agrees(plus + "".join(digits + mark for digits, mark in groups) + last, region)
    _agrees("(" + "".join(digits + mark for digits, mark in groups) + last, region)


@settings(max_examples=2000)
@given(st.sampled_from(_REGIONS), st.sampled_from(["0", "00", "011", "1", "8", "9"]), _digits)
def test_numbers_with_prefixes_agree_with_the_library(region, prefix, digits):
    """Trunk and international prefixes, and numbers starting with their country code."""
    _agrees(prefix + digits, region)
    code = str(phonenumbers.country_code_for_region(region))
    _agrees(code + digits, region)


def _examples() -> Iterator[tuple[str, int, str]]:
    """Each region's mobile and fixed-line example numbers: (region, country code, the
    national significant number)."""
    for region in _REGIONS:
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                national = phonenumbers.national_significant_number(example)
                yield region, example.country_code, national


def test_every_region_example_number_takes_the_fast_path_or_agrees():
    """The library's own example numbers, national and international, in every region."""
    answered = 0
    for region, code, national in _examples():
        for text, reading in (
            (f"+{code}{national}", None),
            (national, region),
            ("0" + national, region),
        ):
            _agrees(text, reading)
            answered += plain_e164(text, reading) is not None
    assert answered > len(_REGIONS)  # most of them are plain enough for the fast path


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+14155556499", None, "+14155556499"),
        ("+447700102163", "FR", "+447700102163"),
        ("0607784483", "FR", "+33607784483"),
        ("07700900123", "GB", "+447700900123"),
        ("4155556499", "US", "+14155556499"),
        ("(415) 555-6499", "US", "+14155556499"),
        ("06 07 78 44 83", "FR", "+33607784483"),
        ("+44 (0) 7700 900123", None, "+447700900123"),
    ],
)
def test_everyday_numbers_take_the_fast_path(text, region, expected):
    """Mobile numbers as CRM files hold them are read without calling the parser."""
    assert plain_e164(text, region) == expected
    assert to_e164(text, region) == expected


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("+1415555", None),  # too short for its plan
        ("+9991234567", None),  # no such country code
        ("0033607784483", "FR"),  # dialled from abroad
        ("33607784483", "FR"),  # starts with its own country code
        ("+390612345678", None),  # Italian leading zero
        ("415 555 6499 x12", "US"),  # an extension
        ("+44 0 7700 900123 #", None),  # other marks
    ],
)
def test_other_forms_are_left_to_the_library(text, region):
    """The fast path declines whatever takes a branch it does not follow."""
    assert plain_e164(text, region) is None


def test_refusals_keep_the_library_reason():
    """A number the plan does not allow is refused with the library's reason."""
    with pytest.raises(InvalidPhone, match="too short"):
        to_e164("+1415555")


def _generated_numbers(count: int) -> list[tuple[str, str | None]]:
    """Numbers as people write them, in every region and with every country code:
    the library's examples, trunk and international prefixes, punctuation, noise."""
    pick = random.Random(20261203)
    cases: list[tuple[str, str | None]] = []
    for region, code, national in _examples():
        cases += [
            (f"+{code}{national}", None),
            (f"+{code} {national[:3]} {national[3:]}", region),
            (national, region),
            ("0" + national, region),
            (f"{code}{national}", region),
        ]
    while len(cases) < count:
        digits = "".join(pick.choice("0123456789") for _ in range(pick.randint(1, 19)))
        prefix = pick.choice(
            ["", "", "0", "00", "011", "1", "8", "9", "+", "+" + pick.choice(_CODES)]
        )
        marks = "".join(pick.choice([c, c, c, *_MARKS]) for c in prefix + digits)
        region = pick.choice([*_REGIONS, None, "ZZ", "AQ"])
        cases.append((marks.strip() or "0", region))
    return cases


def test_the_sql_reading_answers_as_the_fast_path_over_every_region():
    """DuckDB's reading of a column of numbers gives plain_e164's answer (so the library's),
    or NULL (ask the library); it answers nearly every number the fast path answers."""
    cases = list(dict.fromkeys(_generated_numbers(30_000)))
    db = duckdb.connect()
    db.register(
        "cases",
        pa.table({"text": [t for t, _ in cases], "region": [r for _, r in cases]}),
    )
    read_plain_numbers(db, "SELECT text, region FROM cases", "numbers")
    sql = {
        (text, region): e164
        for text, region, e164 in db.execute("SELECT text, region, e164 FROM numbers").fetchall()
    }
    answered = fast_answers = 0
    for text, region in cases:
        readable = (region is None or region in phonenumbers.SUPPORTED_REGIONS) and (
            text.startswith("+") or region is not None
        )
        fast = plain_e164(text, region) if readable else None
        got = sql[(text, region)]
        if got is not None:
            assert got == fast, (text, region, got, fast)
            assert got == to_e164(text, region)
            answered += 1
        fast_answers += fast is not None
    assert fast_answers > 3_000
    assert answered >= 0.95 * fast_answers
