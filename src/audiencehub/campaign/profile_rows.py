"""Validation of one imported row into a profile change; runs in worker processes.

Everything here is pure and picklable, so an import can spread rows over cores
while the parent process owns the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from audiencehub.campaign.email_syntax import check_email
from audiencehub.campaign.profile_fields import (
    BOOLEAN_FIELDS,
    ColumnMapping,
    ProfileField,
    UpsertKey,
)
from audiencehub.errors import InvalidInput
from audiencehub.identity.hashing import digest_normalized
from audiencehub.identity.normalize import normalize, normalize_email, to_e164
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = ["KeyDigests", "ProfileChange", "RejectedRow", "RowValidator", "key_digests"]

_TRUE = frozenset({"1", "true", "t", "yes", "y"})
_FALSE = frozenset({"0", "false", "f", "no", "n"})
_KIND_FIELD = {IdKind.EMAIL: ProfileField.EMAIL, IdKind.PHONE: ProfileField.MOBILE_PHONE}

# kind -> [(scheme, 32-byte digest)]; an empty list clears the keys of that kind.
KeyDigests = dict[str, list[tuple[str, bytes]]]


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """A valid row: the key it upserts on, the values it sets, and its keys."""

    line: int
    fields: list[str]
    key: str
    values: dict[str, object]
    attributes: dict[str, str | None]
    keys: KeyDigests


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that cannot be applied, with every reason found."""

    line: int
    fields: list[str]
    reason: str


def key_digests(
    email: str | None, phone: str | None, schemes: Sequence[HashScheme], kinds: set[IdKind]
) -> KeyDigests:
    """Digests of a profile's email and E.164 phone under each scheme in use.

    Only ``kinds`` are computed, so an import that does not touch phones leaves
    the phone keys of existing profiles alone.
    """
    sources = {IdKind.EMAIL: email, IdKind.PHONE: phone}
    result: KeyDigests = {}
    for kind in kinds:
        value = sources[kind]
        digests: list[tuple[str, bytes]] = []
        if value is not None:
            for scheme in schemes:
                if kind in scheme.kinds:
                    digests.append((scheme.value, digest_normalized(normalize(value, scheme, kind))))
        result[kind.value] = digests
    return result


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
        self._key_kinds = {kind for kind, field in _KIND_FIELD.items() if field in mapping.mapped_fields}

    def validate_many(self, rows: Sequence[tuple[int, list[str]]]) -> list[ProfileChange | RejectedRow]:
        """Validate a chunk of ``(line number, fields)`` rows, in order."""
        return [self.validate(line, fields) for line, fields in rows]

    def validate(self, line: int, fields: list[str]) -> ProfileChange | RejectedRow:
        """Validate one row; every problem in it is reported at once."""
        if len(fields) != self.mapping.width:
            return RejectedRow(
                line,
                fields,
                f"the row has {len(fields)} fields but the header has {self.mapping.width}",
            )
        problems: list[str] = []
        values: dict[str, object] = {}
        raw = {field: fields[index].strip() for index, field in self.mapping.fields}
        for field, text in raw.items():
            try:
                parsed = self._parse(field, text, raw)
            except (InvalidInput, ValueError) as exc:
                problems.append(f"{field}: {exc}")
                continue
            if field in BOOLEAN_FIELDS and parsed is None:
                continue  # an empty flag states nothing: an opt-out is never cleared by omission
            values[field.value] = parsed
        key_field = self.mapping.key
        key = values.get(key_field.value)
        if key is None and not any(p.startswith(f"{key_field}:") for p in problems):
            problems.append(f"{key_field}: the upsert key is empty")
        if problems:
            return RejectedRow(line, fields, "; ".join(problems))
        upsert_key = normalize_email(str(key)) if key_field is UpsertKey.EMAIL else str(key)
        if key_field is UpsertKey.EMAIL:
            values["email_key"] = upsert_key
        elif "email" in values:
            email = values["email"]
            values["email_key"] = normalize_email(email) if isinstance(email, str) else None
        attributes = {
            name: (fields[index].strip() or None) for index, name in self.mapping.attributes
        }
        email = values.get("email")
        phone = values.get("mobile_phone")
        keys = key_digests(
            email if isinstance(email, str) else None,
            phone if isinstance(phone, str) else None,
            self.schemes,
            self._key_kinds,
        )
        return ProfileChange(line, fields, upsert_key, values, attributes, keys)

    def _parse(self, field: ProfileField, text: str, row: dict[ProfileField, str]) -> object:
        if field in BOOLEAN_FIELDS:
            return _parse_bool(text)
        if not text:
            return None
        if field is ProfileField.EMAIL:
            check_email(text)
            return text
        if field is ProfileField.MOBILE_PHONE:
            country = row.get(ProfileField.COUNTRY) or self.default_region
            return to_e164(text, country if country and len(country) == 2 else None)
        if field is ProfileField.COUNTRY:
            if len(text) != 2 or not text.isascii() or not text.isalpha():
                raise ValueError(f"{text!r} is not a two-letter ISO country code")
            return text.upper()
        if field is ProfileField.BIRTH_DATE:
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a date in YYYY-MM-DD form") from None
        if len(text) > 255:
            raise ValueError(f"is {len(text)} characters long; at most 255 fit")
        return text


def _parse_bool(text: str) -> bool | None:
    folded = text.lower()
    if not folded:
        return None
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a yes/no value (use true/false, yes/no or 1/0)")
