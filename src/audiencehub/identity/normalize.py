"""Normalisation of emails and phone numbers, one definition per hashing scheme.

This module is the reference: bulk engines that normalise in SQL or dataframes
must agree with it on every input (ENGINES.md lists where they silently don't).
Invalid input is an error with the reason, never a normalised piece of garbage.
"""

from __future__ import annotations

import re

import phonenumbers

from audiencehub.errors import InvalidEmail, InvalidPhone
from audiencehub.identity.numbering import plain_e164
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = [
    "OWN_EMAIL_RULES",
    "normalize",
    "normalize_e164",
    "normalize_email",
    "normalize_phone",
    "to_e164",
]

_WHITESPACE = re.compile(r"\s")
_GMAIL_UID2 = frozenset({"gmail.com"})
_GMAIL_GOOGLE = frozenset({"gmail.com", "googlemail.com"})
#: schemes whose email rules differ from the plain form (white space, Gmail dots and
#: tags); every other scheme's normal form of an email is ``normalize_email(email)``
OWN_EMAIL_RULES = frozenset({HashScheme.GOOGLE, HashScheme.UID2})
_POSSIBLE_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "its country code is unknown",
    phonenumbers.ValidationResult.TOO_SHORT: "it is too short",
    phonenumbers.ValidationResult.TOO_LONG: "it is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "its length fits no number plan of its country",
}


def _strip_gmail(local: str) -> str:
    return local.split("+", 1)[0].replace(".", "")


def normalize_email(value: str, scheme: HashScheme = HashScheme.AAM) -> str:
    """Normalise an email address the way ``scheme`` does before hashing."""
    google = scheme is HashScheme.GOOGLE  # google removes all white space, others trim
    text = "".join(value.split()).lower() if google else value.strip().lower()
    if text.count("@") != 1:
        found = "no '@'" if "@" not in text else f"{text.count('@')} '@' signs"
        raise InvalidEmail(f"{value!r} is not an email address: it has {found}")
    local, domain = text.split("@")
    if not local:
        raise InvalidEmail(f"{value!r} is not an email address: the part before '@' is empty")
    if not domain:
        raise InvalidEmail(f"{value!r} is not an email address: the part after '@' is empty")
    if _WHITESPACE.search(text):
        raise InvalidEmail(f"{value!r} is not an email address: it contains white space")
    if (scheme is HashScheme.UID2 and domain in _GMAIL_UID2) or (
        scheme is HashScheme.GOOGLE and domain in _GMAIL_GOOGLE
    ):
        local = _strip_gmail(local)
        if not local:
            raise InvalidEmail(
                f"{value!r} is not an email address: nothing is left of the part "
                "before '@' once dots and the +tag are removed"
            )
    return f"{local}@{domain}"


def to_e164(value: str, region: str | None = None) -> str:
    """Parse a phone number (E.164, or national with ``region``) into E.164 form."""
    text = value.strip()
    if region is not None and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhone(
            f"{region!r} is not a region phone numbers can be read in",
            hint="Use an ISO 3166 alpha-2 country code such as US, GB or FR.",
        )
    if not text.startswith("+") and region is None:
        raise InvalidPhone(f"{value!r} has no country code ('+') and no region was given")
    reading = region.upper() if region else None
    plain = plain_e164(text, reading)
    if plain is not None:
        return plain
    try:
        number = phonenumbers.parse(text, reading)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{value!r} is not a phone number: {exc._msg}") from None
    result = phonenumbers.is_possible_number_with_reason(number)
    if result not in (
        phonenumbers.ValidationResult.IS_POSSIBLE,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        reason = _POSSIBLE_REASONS.get(result, "it is not a possible number")
        raise InvalidPhone(f"{value!r} is not a possible phone number: {reason}")
    # What format_number(E164) builds, without its formatting machinery (3x faster).
    national = phonenumbers.national_significant_number(number)
    e164 = f"+{number.country_code}{national}"
    if national.startswith("0"):
        # A leading zero may be a trunk prefix that a second parse would strip:
        # only a form that parses back to itself is a normal form.
        again = phonenumbers.parse(e164, None)
        if f"+{again.country_code}{phonenumbers.national_significant_number(again)}" != e164:
            raise InvalidPhone(
                f"{value!r} is not a phone number: after the country code it starts "
                "with a trunk prefix 0 (drop it in international form)"
            )
    return e164


def normalize_phone(
    value: str, scheme: HashScheme = HashScheme.UID2, region: str | None = None
) -> str:
    """Normalise a phone number the way ``scheme`` does before hashing.

    ``meta`` wants digits with the country code and no ``+``; given such digits
    and no region, they are read as already carrying the country code, so that
    its normal form normalises to itself.
    """
    if IdKind.PHONE not in scheme.kinds:
        raise InvalidPhone(
            f"the {scheme} scheme defines no phone normalisation",
            hint="Hash phone numbers with the uid2, google or meta scheme.",
        )
    text = value.strip()
    if scheme is HashScheme.UID2 and (region is None or text.startswith("+")):
        return _uid2_phone(value, text)
    if scheme is HashScheme.META and region is None and text and not text.startswith("+"):
        text = "+" + text
    e164 = to_e164(text, region)
    if scheme is HashScheme.UID2 and not 10 <= len(e164) - 1 <= 15:
        raise InvalidPhone(f"{value!r} has {len(e164) - 1} digits; uid2 needs 10 to 15")
    return e164[1:] if scheme is HashScheme.META else e164


def normalize_e164(e164: str, scheme: HashScheme) -> str:
    """:func:`normalize_phone` of a number :func:`to_e164` has already read: the same
    answer without reading it a second time (``to_e164`` only returns forms that
    read back to themselves), which halves the phone work of a profile import."""
    if scheme is HashScheme.GOOGLE:
        return e164
    if scheme is HashScheme.META:
        return e164[1:]
    return normalize_phone(e164, scheme)


_UID2_SEPARATORS = re.compile(r"[\s().\-]")


def _uid2_phone(value: str, text: str) -> str:
    """The UID2 rule: ``+``, then the country code and subscriber number, 10 to 15 digits.

    As the UID2 operator does, no national number plan is checked (a number the
    plan does not know yet still matches); spaces, hyphens, dots and parentheses
    are dropped, and digits without ``+`` are read as starting with the country
    code, as the UID2 examples are written (``65 1243 5678``, ``1 (123) 456-7890``).
    A national number with its trunk prefix needs a region: that path reads the
    plan to drop the prefix (``(02) 1234 5678`` in AU is ``+61212345678``).
    """
    digits = _UID2_SEPARATORS.sub("", text.removeprefix("+"))
    if not digits.isascii() or not digits.isdigit():
        raise InvalidPhone(
            f"{value!r} is not a phone number: only digits, spaces, hyphens, dots and "
            "parentheses may follow the '+'"
        )
    if not 10 <= len(digits) <= 15:
        raise InvalidPhone(
            f"{value!r} has {len(digits)} digits; uid2 needs 10 to 15 (country code included)",
            hint="Give the number with its country code, or a region to read it in.",
        )
    if digits.startswith("0"):
        raise InvalidPhone(f"{value!r} is not a phone number: no country code starts with 0")
    return "+" + digits


def normalize(value: str, scheme: HashScheme, kind: IdKind, region: str | None = None) -> str:
    """Normalise ``value`` of ``kind`` under ``scheme``."""
    if kind is IdKind.EMAIL:
        return normalize_email(value, scheme)
    return normalize_phone(value, scheme, region)
