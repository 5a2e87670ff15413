"""Validation of imported rows into profile changes; runs in worker processes.

Everything here is pure and picklable, so an import can spread rows over cores
while the parent process owns the database. Results are small named tuples:
they cross the process boundary several times faster than dataclasses.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

import pycountry

from audiencehub.campaign.profiles.email_syntax import check_email
from audiencehub.campaign.profiles.fields import (
    BOOLEAN_FIELDS,
    ColumnMapping,
    ProfileField,
    UpsertKey,
)
from audiencehub.errors import InvalidInput
from audiencehub.identity.hashing import digest_normalized
from audiencehub.identity.normalize import normalize, normalize_e164, normalize_email, to_e164
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = [
    "COUNTRIES",
    "KeyDigests",
    "ProfileChange",
    "RejectedRow",
    "RowValidator",
    "csv_rows",
    "key_digests",
    "parse_field",
]

_TRUE = frozenset({"1", "true", "t", "yes", "y"})
_FALSE = frozenset({"0", "false", "f", "no", "n"})
_MAX_TEXT = 255

# kind -> ((scheme, 32-byte digest), ...); an empty tuple clears the keys of that kind.
KeyDigests = dict[str, tuple[tuple[str, bytes], ...]]


class ProfileChange(NamedTuple):
    """A valid row: the key it upserts on, the values it sets, and its keys.

    ``values`` follows :attr:`ColumnMapping.value_columns`; ``None`` for a flag
    means the row does not state it. ``attributes`` follows
    :attr:`ColumnMapping.attribute_names`; ``None`` removes the attribute.
    """

    line: int
    key: str
    values: tuple[object, ...]
    attributes: tuple[str | None, ...]
    keys: KeyDigests


class RejectedRow(NamedTuple):
    """A row that cannot be applied, with every reason found and its raw fields."""

    line: int
    reason: str
    fields: tuple[str, ...] = ()


def csv_rows(block: str, delimiter: str, first_line: int) -> Iterator[tuple[int, list[str]]]:
    """The records of a CSV block with the file line each starts on; blank lines skipped."""
    reader = csv.reader(io.StringIO(block, newline=""), delimiter=delimiter)
    consumed = 0
    for fields in reader:
        line, consumed = first_line + consumed, reader.line_num
        if fields and fields != [""]:
            yield line, fields


def key_digests(
    email: str | None,
    phone: str | None,
    schemes: Sequence[HashScheme],
    kinds: Sequence[IdKind],
    *,
    phone_is_e164: bool = False,
) -> KeyDigests:
    """Digests of a profile's email and E.164 phone under each scheme in use.

    Only ``kinds`` are computed, so an import that does not touch phones leaves
    the phone keys of existing profiles alone. ``phone_is_e164``: ``phone`` is what
    :func:`~audiencehub.identity.normalize.to_e164` returned (an import has just
    read it), so it is not read again for each scheme.
    """
    sources = {IdKind.EMAIL: email, IdKind.PHONE: phone}
    result: KeyDigests = {}
    for kind in kinds:
        value = sources[kind]
        if value is None:
            result[kind.value] = ()
            continue
        read_again = kind is IdKind.EMAIL or not phone_is_e164
        result[kind.value] = tuple(
            (
                scheme.value,
                digest_normalized(
                    normalize(value, scheme, kind) if read_again else normalize_e164(value, scheme)
                ),
            )
            for scheme in schemes
            if kind in scheme.kinds
        )
    return result


def _parse_bool(text: str) -> bool | None:
    folded = text.lower()
    if not folded:
        return None  # an empty flag states nothing: an opt-out is never cleared by omission
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a yes/no value (use true/false, yes/no or 1/0)")


def _parse_text(text: str) -> str | None:
    if len(text) > _MAX_TEXT:
        raise ValueError(f"is {len(text)} characters long; at most {_MAX_TEXT} fit")
    return text or None


def _parse_email(text: str) -> str | None:
    if not text:
        return None
    check_email(text)
    return text


# ISO 3166-1 alpha-2, from the iso-codes data pycountry ships
COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)


def _parse_country(text: str) -> str | None:
    if not text:
        return None
    code = text.upper()
    if code not in COUNTRIES:
        raise ValueError(f"{text!r} is not an ISO 3166 country code (two letters, such as FR)")
    return code


def _parse_date(text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date in YYYY-MM-DD form") from None


_PARSERS: dict[ProfileField, Callable[[str], object]] = {
    ProfileField.EMAIL: _parse_email,
    ProfileField.COUNTRY: _parse_country,
    ProfileField.BIRTH_DATE: _parse_date,
    **dict.fromkeys(BOOLEAN_FIELDS, _parse_bool),
}


def parse_field(field: ProfileField, text: str, region: str | None = None) -> object:
    """One field's value from its text, checked as an import checks it (None when empty);
    ``ValueError`` or :class:`InvalidInput` says what is wrong."""
    if field is ProfileField.MOBILE_PHONE:
        return to_e164(text, region) if text else None
    return _PARSERS.get(field, _parse_text)(text.strip())


class RowValidator:
    """Turns raw rows into :class:`ProfileChange` or :class:`RejectedRow`."""

    def __init__(
        self,
        mapping: ColumnMapping,
        schemes: Sequence[HashScheme],
        default_region: str | None = None,
    ) -> None:
        self.mapping = mapping
        self.schemes = tuple(schemes)
        self.default_region = default_region
        fields = [field for _, field in mapping.fields]
        self._plan = [
            (index, field.value, _PARSERS.get(field, _parse_text))
            for index, field in mapping.fields
            if field is not ProfileField.MOBILE_PHONE
        ]
        column_of = {field: index for index, field in mapping.fields}
        self._phone = column_of.get(ProfileField.MOBILE_PHONE)
        self._phone_at = fields.index(ProfileField.MOBILE_PHONE) if self._phone is not None else -1
        self._position = {field.value: at for at, field in enumerate(fields)}
        self._email_at = self._position.get(ProfileField.EMAIL.value, -1)
        self._country_index = column_of.get(ProfileField.COUNTRY)
        self._key_at = self._position[mapping.key.value]
        self._kinds = [
            kind
            for kind, field in (
                (IdKind.EMAIL, ProfileField.EMAIL),
                (IdKind.PHONE, ProfileField.MOBILE_PHONE),
            )
            if field in mapping.mapped_fields
        ]
        self._attribute_indexes = [index for index, _ in mapping.attributes]

    def validate_many(
        self, rows: Iterable[tuple[int, list[str]]]
    ) -> list[ProfileChange | RejectedRow]:
        """Validate ``(line number, fields)`` rows, in order."""
        return [self.validate(line, fields) for line, fields in rows]

    def validate_block(
        self, first_line: int, block: str, delimiter: str
    ) -> list[ProfileChange | RejectedRow]:
        """Parse and validate a block of whole CSV records starting at line ``first_line``."""
        return self.validate_many(csv_rows(block, delimiter, first_line))

    def validate(self, line: int, fields: list[str]) -> ProfileChange | RejectedRow:
        """Validate one row; every problem in it is reported at once."""
        if len(fields) != self.mapping.width:
            return RejectedRow(
                line,
                f"the row has {len(fields)} fields but the header has {self.mapping.width}",
                tuple(fields),
            )
        problems: list[str] = []
        values: list[object] = [None] * len(self.mapping.fields)
        for index, name, parser in self._plan:
            try:
                values[self._position[name]] = parser(fields[index].strip())
            except (InvalidInput, ValueError) as exc:
                problems.append(f"{name}: {exc}")
        if self._phone is not None:
            text = fields[self._phone].strip()
            if text:
                region = self.default_region
                if self._country_index is not None:
                    country = fields[self._country_index].strip()
                    region = country.upper() if country.upper() in COUNTRIES else region
                try:
                    values[self._phone_at] = to_e164(text, region)
                except InvalidInput as exc:
                    problems.append(f"mobile_phone: {exc}")
        key = values[self._key_at]
        if key is None and not problems:
            problems.append(f"{self.mapping.key}: the upsert key is empty")
        if problems:
            return RejectedRow(line, "; ".join(problems), tuple(fields))
        email = values[self._email_at] if self._email_at >= 0 else None
        if self._email_at >= 0:
            values.append(normalize_email(email) if isinstance(email, str) else None)
        upsert_key = values[-1] if self.mapping.key is UpsertKey.EMAIL else key
        phone = values[self._phone_at] if self._phone_at >= 0 else None
        keys = key_digests(
            email if isinstance(email, str) else None,
            phone if isinstance(phone, str) else None,
            self.schemes,
            self._kinds,
            phone_is_e164=True,
        )
        attributes = tuple(fields[i].strip() or None for i in self._attribute_indexes)
        return ProfileChange(line, str(upsert_key), tuple(values), attributes, keys)
