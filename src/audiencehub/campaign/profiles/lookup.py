"""Looking profiles up: one profile by email, CRM id or id with its stored keys, and counts.

The read side of the profile store, kept apart from the writer (:mod:`.store`),
which only imports, creates and re-keys.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, func, select
from typing_extensions import TypedDict

from audiencehub.campaign.profiles.fields import UpsertKey
from audiencehub.campaign.profiles.rows import key_digests
from audiencehub.campaign.profiles.store import profile_key_rows, schemes_in_use
from audiencehub.campaign.schema import profile_keys, profiles
from audiencehub.errors import NotFound
from audiencehub.identity.hashing import encode_digest
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = [
    "Profile",
    "ProfileKey",
    "ProfileSummary",
    "count_profiles",
    "get_profile",
    "profile_page",
]


class ProfileKey(TypedDict):
    """One stored reconciliation key of a profile, as shown (the digest encoded)."""

    scheme: str
    kind: str
    hash: str


class Profile(TypedDict):
    """A profile with its custom attributes and the reconciliation keys stored for it."""

    id: int
    crm_id: str | None
    email: str | None
    email_key: str | None
    mobile_phone: str | None
    first_name: str | None
    last_name: str | None
    country: str | None
    birth_date: date | None
    email_opt_out: bool
    sms_opt_out: bool
    blocklisted: bool
    email_unsubscribed_at: datetime | None
    sms_unsubscribed_at: datetime | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    keys: list[ProfileKey]


class ProfileSummary(TypedDict):
    """A profile as a search lists it: its fields, not its keys."""

    id: int
    crm_id: str | None
    email: str | None
    mobile_phone: str | None
    first_name: str | None
    last_name: str | None
    country: str | None
    birth_date: date | None
    email_opt_out: bool
    sms_opt_out: bool
    blocklisted: bool
    attributes: dict[str, Any]
    updated_at: datetime


def profile_page(
    connection: Connection, where: ColumnElement[bool] | None, after: int | None, limit: int
) -> list[ProfileSummary]:
    """Up to ``limit`` profiles matching ``where`` (a targeting filter), by id after ``after``."""
    columns = [profiles.c[name] for name in ProfileSummary.__annotations__]
    query = select(*columns).order_by(profiles.c.id).limit(limit)
    if where is not None:
        query = query.where(where)
    if after is not None:
        query = query.where(profiles.c.id > after)
    return [cast(ProfileSummary, dict(row)) for row in connection.execute(query).mappings()]


def count_profiles(connection: Connection, where: ColumnElement[bool] | None = None) -> int:
    """How many profiles the store holds (that match ``where``, a targeting filter)."""
    query = select(func.count()).select_from(profiles)
    if where is not None:
        query = query.where(where)
    return int(connection.execute(query).scalar_one())


def get_profile(connection: Connection, key: str | int) -> Profile:
    """A profile by email (any case), CRM id or numeric id (an ``int`` is only ever an id),
    with its reconciliation keys."""
    text = str(key).strip()
    if isinstance(key, int):
        condition = profiles.c.id == key
        by = "id"
    elif "@" in text:
        condition = profiles.c.email_key == text.lower()
        by = UpsertKey.EMAIL.value
    else:
        condition = profiles.c.crm_id == text
        by = "CRM id"
        if text.isdigit():
            condition = condition | (profiles.c.id == int(text))
            by = "CRM id or id"
    rows = connection.execute(select(profiles).where(condition).limit(2)).mappings().all()
    if not rows:
        raise NotFound(
            f"no profile has the {by} {text!r}",
            hint="Look a profile up by email, CRM id or numeric id.",
        )
    if len(rows) > 1:
        raise NotFound(f"several profiles match {text!r}", hint="Look it up by CRM id instead.")
    profile = cast(Profile, {**rows[0], "keys": []})
    expected = key_digests(
        profile["email"], profile["mobile_phone"], schemes_in_use(connection), tuple(IdKind)
    )
    for scheme, kind, digest, profile_id in profile_key_rows(profile["id"], expected, expected):
        stored = connection.execute(
            select(func.count())
            .select_from(profile_keys)
            .where(
                profile_keys.c.scheme == scheme,
                profile_keys.c.kind == kind,
                profile_keys.c.digest == digest,
                profile_keys.c.profile_id == profile_id,
            )
        ).scalar_one()
        if stored:
            profile["keys"].append(
                ProfileKey(scheme=scheme, kind=kind, hash=encode_digest(digest, HashScheme(scheme)))
            )
    return profile
