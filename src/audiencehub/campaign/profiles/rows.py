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
from itertools import repeat
from typing import Any, NamedTuple

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
from audiencehub.identity.normalize import (
    OWN_EMAIL_RULES,
    normalize_e164,
    normalize_email,
    normalize_phone,
    to_e164,
)
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = [
    "COUNTRIES",
    "FALSE_WORDS",
    "MAX_TEXT",
    "TRUE_WORDS",
    "KeyDigests",
    "PackedBlock",
    "ProfileChange",
    "RejectedRow",
    "RowValidator",
    "csv_rows",
    "key_digests",
    "parse_field",
]

#: the words a yes/no field may hold, in any case
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n"})
MAX_TEXT = 255  #: characters a text field may hold

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


class PackedBlock(NamedTuple):
    """A validated block packed for the trip from a worker process to the parent.

    Pickling a row as a :class:`ProfileChange` (a tuple of tuples and a dict of
    digests) cost about 16 microseconds a row between the two processes, more
    than validating it; as columns of plain values and one ``bytes`` of digests
    a row, about 3. :meth:`RowValidator.unpack` gives the changes back.
    """

    rejected: list[RejectedRow]
    lines: list[int]
    keys: list[str]
    columns: list[list[object]]  # the values, then the attributes, a list each
    digests: list[bytes]  # each row's key digests, in the validator's layout


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
    email_key: str | None = None,
) -> KeyDigests:
    """Digests of a profile's email and E.164 phone under each scheme in use.

    Only ``kinds`` are computed, so an import that does not touch phones leaves
    the phone keys of existing profiles alone. ``phone_is_e164``: ``phone`` is what
    :func:`~audiencehub.identity.normalize.to_e164` returned (an import has just
    read it), so it is not read again for each scheme. ``email_key``: the plain
    normal form of ``email``, when the caller has it (an import's upsert key).
    """
    sources = {IdKind.EMAIL: email, IdKind.PHONE: phone}
    result: KeyDigests = {}
    for kind in kinds:
        value = sources[kind]
        if value is None:
            result[kind.value] = ()
            continue
        digests = []
        for scheme in schemes:
            if kind not in scheme.kinds:
                continue
            if kind is IdKind.PHONE:
                normal = (
                    normalize_e164(value, scheme)
                    if phone_is_e164
                    else normalize_phone(value, scheme)
                )
            elif email_key is not None and scheme not in OWN_EMAIL_RULES:
                normal = email_key
            else:
                normal = normalize_email(value, scheme)
            digests.append((scheme.value, digest_normalized(normal)))
        result[kind.value] = tuple(digests)
    return result


def _parse_bool(text: str) -> bool | None:
    folded = text.lower()
    if not folded:
        return None  # an empty flag states nothing: an opt-out is never cleared by omission
    if folded in TRUE_WORDS:
        return True
    if folded in FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not a yes/no value (use true/false, yes/no or 1/0)")


def _parse_text(text: str) -> str | None:
    if len(text) > MAX_TEXT:
        raise ValueError(f"is {len(text)} characters long; at most {MAX_TEXT} fit")
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
        # (kind, the value it is computed from, schemes covering it): the order of a
        # packed row's digests
        self._layout = [
            (
                kind.value,
                self._email_at if kind is IdKind.EMAIL else self._phone_at,
                tuple(scheme.value for scheme in self.schemes if kind in scheme.kinds),
            )
            for kind in self._kinds
        ]

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

    def validate_packed(self, first_line: int, block: str, delimiter: str) -> PackedBlock:
        """:meth:`validate_block`, packed for another process (see :class:`PackedBlock`)."""
        packed = PackedBlock([], [], [], [], [])
        changes: list[ProfileChange] = []
        for result in self.validate_block(first_line, block, delimiter):
            if isinstance(result, RejectedRow):
                packed.rejected.append(result)
            else:
                changes.append(result)
        if not changes:
            return packed
        packed.lines.extend(change.line for change in changes)
        packed.keys.extend(change.key for change in changes)
        packed.columns.extend(
            list(column) for column in zip(*(c.values for c in changes), strict=True)
        )
        if self._attribute_indexes:
            packed.columns.extend(
                list(column) for column in zip(*(c.attributes for c in changes), strict=True)
            )
        packed.digests.extend(
            b"".join(digest for digests in c.keys.values() for _, digest in digests)
            for c in changes
        )
        return packed

    def unpack(self, packed: PackedBlock) -> list[ProfileChange | RejectedRow]:
        """The results a :class:`PackedBlock` stands for: the rejected rows, then the changes."""
        results: list[ProfileChange | RejectedRow] = list(packed.rejected)
        if not packed.lines:
            return results
        width = len(packed.columns) - len(self._attribute_indexes)
        values = zip(*packed.columns[:width], strict=True)
        attributes: Iterable[tuple[Any, ...]] = (
            zip(*packed.columns[width:], strict=True)
            if self._attribute_indexes
            else repeat((), len(packed.lines))
        )
        layout = self._layout
        for line, key, row, named, blob in zip(
            packed.lines, packed.keys, values, attributes, packed.digests, strict=True
        ):
            keys: KeyDigests = {}
            at = 0
            for kind, value_at, schemes in layout:
                if row[value_at] is None:
                    keys[kind] = ()
                    continue
                keys[kind] = tuple(
                    (scheme, blob[at + 32 * i : at + 32 * (i + 1)])
                    for i, scheme in enumerate(schemes)
                )
                at += 32 * len(schemes)
            results.append(ProfileChange(line, key, row, named, keys))
        return results

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
        email_key = normalize_email(email) if isinstance(email, str) else None
        if self._email_at >= 0:
            values.append(email_key)
        upsert_key = values[-1] if self.mapping.key is UpsertKey.EMAIL else key
        phone = values[self._phone_at] if self._phone_at >= 0 else None
        keys = key_digests(
            email if isinstance(email, str) else None,
            phone if isinstance(phone, str) else None,
            self.schemes,
            self._kinds,
            phone_is_e164=True,
            email_key=email_key,
        )
        attributes = tuple(fields[i].strip() or None for i in self._attribute_indexes)
        return ProfileChange(line, str(upsert_key), tuple(values), attributes, keys)
