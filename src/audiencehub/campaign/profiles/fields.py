"""The fields of a campaign profile and how file columns map onto them."""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from audiencehub.errors import InputFileError

__all__ = [
    "BOOLEAN_FIELDS",
    "REJECT_COLUMNS",
    "ColumnMapping",
    "ProfileField",
    "UpsertKey",
    "build_mapping",
    "canonical_column",
]


class ProfileField(enum.StrEnum):
    """A built-in profile field a file column can fill."""

    EMAIL = "email"
    MOBILE_PHONE = "mobile_phone"
    CRM_ID = "crm_id"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    COUNTRY = "country"
    BIRTH_DATE = "birth_date"
    EMAIL_OPT_OUT = "email_opt_out"
    SMS_OPT_OUT = "sms_opt_out"
    BLOCKLISTED = "blocklisted"


class UpsertKey(enum.StrEnum):
    """The field an import matches existing profiles on."""

    EMAIL = "email"
    CRM_ID = "crm_id"

    @property
    def column(self) -> str:
        """The indexed column holding the normalised key."""
        return "email_key" if self is UpsertKey.EMAIL else "crm_id"


BOOLEAN_FIELDS = frozenset(
    {ProfileField.EMAIL_OPT_OUT, ProfileField.SMS_OPT_OUT, ProfileField.BLOCKLISTED}
)

# Column names seen in exports of CRMs and email tools, mapped without being asked.
_ALIASES: dict[str, ProfileField] = {
    "e_mail": ProfileField.EMAIL,
    "email_address": ProfileField.EMAIL,
    "mail": ProfileField.EMAIL,
    "phone": ProfileField.MOBILE_PHONE,
    "mobile": ProfileField.MOBILE_PHONE,
    "mobilephone": ProfileField.MOBILE_PHONE,
    "phone_number": ProfileField.MOBILE_PHONE,
    "crmid": ProfileField.CRM_ID,
    "customer_id": ProfileField.CRM_ID,
    "firstname": ProfileField.FIRST_NAME,
    "given_name": ProfileField.FIRST_NAME,
    "lastname": ProfileField.LAST_NAME,
    "family_name": ProfileField.LAST_NAME,
    "surname": ProfileField.LAST_NAME,
    "country_code": ProfileField.COUNTRY,
    "birthdate": ProfileField.BIRTH_DATE,
    "date_of_birth": ProfileField.BIRTH_DATE,
    "dob": ProfileField.BIRTH_DATE,
    "blacklisted": ProfileField.BLOCKLISTED,
    "blocklist": ProfileField.BLOCKLISTED,
}

# Columns a rejects file adds; importing a corrected rejects file skips them.
REJECT_COLUMNS = ("rejected_line", "rejected_reason")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def canonical_column(name: str) -> str:
    """Fold a header cell the way mapping compares them: trimmed, lowercase, snake."""
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which column index fills which field, and which become custom attributes."""

    fields: tuple[tuple[int, ProfileField], ...]
    attributes: tuple[tuple[int, str], ...]
    width: int
    key: UpsertKey

    @property
    def mapped_fields(self) -> frozenset[ProfileField]:
        """The built-in fields this file fills."""
        return frozenset(field for _, field in self.fields)

    @property
    def value_columns(self) -> tuple[str, ...]:
        """Profile columns an import writes, in the order of a change's values.

        That is the mapped fields in column order, then ``email_key`` (derived from
        the email) when the email is mapped.
        """
        names = tuple(field.value for _, field in self.fields)
        return (*names, "email_key") if ProfileField.EMAIL in self.mapped_fields else names

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Custom attribute names, in the order of a change's attribute values."""
        return tuple(name for _, name in self.attributes)


ATTRIBUTE_PREFIX = "attributes."


def _target(wanted: str, known: set[str]) -> str:
    """What an explicit mapping maps a column to: a field, ``-`` (skip) or an attribute.

    A custom attribute is named ``attributes.NAME``; any other name that is not a
    field is a typo, refused with the field it probably meant.
    """
    if wanted == "-" or wanted in known:
        return wanted
    if wanted.startswith(ATTRIBUTE_PREFIX):
        name = wanted.removeprefix(ATTRIBUTE_PREFIX)
        if _ATTRIBUTE_NAME.match(name) and name not in known:
            return name
        raise InputFileError(f"{name!r} cannot be a custom attribute name")
    close = difflib.get_close_matches(wanted, sorted(known), n=1)
    raise InputFileError(
        f"the mapping names {wanted!r}, which is not a profile field"
        + (f" (did you mean {close[0]!r}?)" if close else ""),
        hint=f"Fields: {', '.join(sorted(known))}; write {ATTRIBUTE_PREFIX}NAME to keep the "
        "column as a custom attribute, or - to skip it.",
    )


def build_mapping(
    header: Sequence[str],
    key: UpsertKey,
    explicit: Mapping[str, str] | None = None,
    *,
    keep_unmapped: bool = True,
) -> ColumnMapping:
    """Map a file's header onto profile fields.

    ``explicit`` maps column names to field names and wins over the automatic
    match (field names and common aliases). Unmapped columns become custom
    attributes unless ``keep_unmapped`` is off; a field named ``-`` skips a column.
    """
    known = {field.value for field in ProfileField}
    canonical = [canonical_column(name) for name in header]
    by_name = {name: index for index, name in enumerate(canonical)}
    chosen: dict[int, str | None] = {}
    for column, wanted in (explicit or {}).items():
        index = by_name.get(canonical_column(column))
        if index is None:
            raise InputFileError(
                f"the mapping names column {column!r}, which the file does not have",
                hint=f"The file's columns are: {', '.join(header)}.",
            )
        chosen[index] = _target(wanted, known)
    fields: dict[ProfileField, int] = {}
    attributes: list[tuple[int, str]] = []
    for index, name in enumerate(canonical):
        if name in REJECT_COLUMNS:
            continue
        target = chosen.get(index)
        if target is None:
            automatic = _ALIASES.get(name) or (ProfileField(name) if name in known else None)
            target = automatic.value if automatic is not None else None
        if target == "-":
            continue
        if target in known:
            field = ProfileField(target)
            if field in fields:
                raise InputFileError(
                    f"columns {header[fields[field]]!r} and {header[index]!r} both map to {field}",
                    hint="Map one of them elsewhere with --map COLUMN=FIELD (or =- to skip).",
                )
            fields[field] = index
        elif target is not None or keep_unmapped:
            attribute = target or name
            if not _ATTRIBUTE_NAME.match(attribute):
                raise InputFileError(
                    f"column {header[index]!r} cannot be a custom attribute name",
                    hint="Rename it with --map COLUMN=name, or skip it with --map COLUMN=-.",
                )
            attributes.append((index, attribute))
    if ProfileField(key.value) not in fields:
        raise InputFileError(
            f"the file has no column for the upsert key {key}",
            hint=f"Map one with --map COLUMN={key}, or choose another --key.",
        )
    return ColumnMapping(
        fields=tuple(sorted(((i, f) for f, i in fields.items()), key=lambda item: item[0])),
        attributes=tuple(attributes),
        width=len(header),
        key=key,
    )
