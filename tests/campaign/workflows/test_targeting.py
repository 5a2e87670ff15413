"""The targeting language, evaluated against real profiles on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from audiencehub.campaign import UpsertKey, import_profiles
from audiencehub.campaign.schema import audience_members, audiences, profiles
from audiencehub.campaign.workflows.targeting import compile_filter
from audiencehub.errors import InvalidInput

ROWS = [
    ["crm_id", "email", "country", "birth_date", "email_opt_out", "tier"],
    ["C1", "jo@example.com", "FR", "1980-05-01", "0", "gold"],
    ["C2", "al@example.org", "US", "1995-01-20", "1", "silver"],
    ["C3", "bo@example.com", "FR", "", "0", ""],
    ["C4", "o'neil@example.com", "GB", "2001-12-31", "0", "gold"],
]


@pytest.fixture
def base(workspace, tmp_path):
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(ROWS)
    import_profiles(workspace.campaign, path, key=UpsertKey.CRM_ID)
    with workspace.campaign.begin() as connection:
        old = datetime.now(UTC) - timedelta(days=90)
        connection.execute(update(profiles).where(profiles.c.crm_id == "C2").values(created_at=old))
        now = datetime.now(UTC)
        connection.execute(
            insert(audiences),
            {
                "name": "VIP",
                "type": "list",
                "force_profile": True,
                "created_at": now,
                "updated_at": now,
            },
        )
        vip = connection.execute(select(audiences.c.id)).scalar_one()
        c4 = connection.execute(select(profiles.c.id).where(profiles.c.crm_id == "C4")).scalar_one()
        connection.execute(insert(audience_members), {"audience_id": vip, "profile_id": c4})
    return workspace


def _select(workspace, text):
    def audience_id(name):
        with workspace.campaign.connect() as connection:
            found = connection.execute(
                select(audiences.c.id).where(audiences.c.name == name)
            ).scalar()
        if found is None:
            raise InvalidInput(f"no audience is named {name!r}")
        return found

    with workspace.campaign.connect() as connection:
        query = (
            select(profiles.c.crm_id)
            .where(compile_filter(text, audience_id))
            .order_by(profiles.c.crm_id)
        )
        return list(connection.execute(query).scalars())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country = 'FR'", ["C1", "C3"]),
        ("country != 'FR' and not email_opt_out", ["C4"]),
        (
            "country IN ('US', 'GB') OR email LIKE '%.com' AND birth_date IS NULL",
            ["C2", "C3", "C4"],
        ),
        (
            "(country IN ('US', 'GB') OR email LIKE '%.com') AND birth_date IS NOT NULL",
            ["C1", "C2", "C4"],
        ),
        ("email STARTS WITH 'o''neil'", ["C4"]),
        ("email NOT LIKE '%example.com'", ["C2"]),
        ("birth_date < '1990-01-01'", ["C1"]),
        ("created_at >= today - 30 days", ["C1", "C3", "C4"]),
        ("created_at < now - 30 days", ["C2"]),
        ("attributes.tier = 'gold'", ["C1", "C4"]),
        ("attributes.tier NOT IN ('gold')", ["C2"]),
        ("IN AUDIENCE 'VIP'", ["C4"]),
        ("NOT IN AUDIENCE 'VIP' AND country = 'FR'", ["C1", "C3"]),
        ("email_opt_out = true", ["C2"]),
        ("id > 2", ["C3", "C4"]),
    ],
)
def test_filters_select_exactly(base, text, expected):
    """Each construct of the language selects exactly the expected profiles."""
    assert _select(base, text) == expected


@pytest.mark.parametrize(
    "attack",
    [
        "country = 'FR''; DROP TABLE profiles; --'",
        "email LIKE '%'' OR 1=1 --'",
        "attributes.tier = 'x'') OR (''1''=''1'",
    ],
)
def test_injection_attempts_are_just_strings(base, attack):
    """Quotes inside values stay inside the bound value: nothing extra matches, nothing breaks."""
    assert _select(base, attack) == []
    with base.campaign.connect() as connection:
        assert connection.execute(select(func.count()).select_from(profiles)).scalar_one() == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "position 1: the filter is empty"),
        ("country = ", "position 10: a value expected"),
        ("country = 'FR' AND", "the end of the filter"),
        ("country == 'FR'", "position 10: a value expected, found '='"),
        ("(country = 'FR'", "')' expected"),
        ("favourite_colour = 'red'", "'favourite_colour' is not a field; fields are id, crm_id"),
        ("birth_date > 'yesterday'", "'yesterday' is not a date"),
        ("country = 'FR'; DROP TABLE profiles", "unexpected character ';'"),
        ("email NOT = 'x'", "IN or LIKE expected after NOT"),
        ("IN AUDIENCE 'nobody'", "no audience is named 'nobody'"),
    ],
)
def test_errors_say_where_and_what(base, text, message):
    """Syntax errors point at their position; unknown fields list the known ones."""
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        _select(base, text)
