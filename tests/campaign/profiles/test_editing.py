"""Changing and erasing one profile keep its reconciliation keys exactly those of what
is stored: the old keys go (found by their digests), the new ones come, and no other
profile's keys move. Every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from audiencehub.campaign import add_key_schemes, get_profile, import_profiles
from audiencehub.campaign.profiles.editing import delete_profile, update_profile
from audiencehub.campaign.profiles.rows import key_digests
from audiencehub.campaign.profiles.store import profile_key_rows, schemes_in_use
from audiencehub.campaign.schema import profile_keys
from audiencehub.identity import HashScheme, IdKind
from tests.campaign.profiles.test_file_import import write


def _keys(connection) -> set[tuple]:
    return set(connection.execute(select(profile_keys)).tuples())


def _expected(connection, profile: dict) -> set[tuple]:
    """The key rows of a profile as stored now: its email and phone under every scheme."""
    keys = key_digests(
        profile["email"], profile["mobile_phone"], schemes_in_use(connection), tuple(IdKind)
    )
    return set(profile_key_rows(profile["id"], keys, keys))


def test_an_edit_and_an_erasure_keep_exactly_the_keys_of_what_is_stored(workspace, tmp_path):
    with workspace.campaign.begin() as connection:
        add_key_schemes(connection, [HashScheme.GOOGLE, HashScheme.META])
    rows = [
        ["email", "mobile_phone"],
        ["jo@example.com", "+14155550101"],
        ["al@example.com", "+14155550102"],
        ["cy@example.com", ""],
    ]
    import_profiles(workspace.campaign, write(tmp_path / "p.csv", rows))
    with workspace.campaign.connect() as connection:
        jo, al, cy = (get_profile(connection, f"{n}@example.com") for n in ("jo", "al", "cy"))
        others = _expected(connection, al) | _expected(connection, cy)
        assert _keys(connection) == _expected(connection, jo) | others
    with workspace.campaign.begin() as connection:
        update_profile(connection, jo["id"], {"email": "Joanna@Example.com"})
    with workspace.campaign.begin() as connection:
        update_profile(connection, jo["id"], {"mobile_phone": "+14155550109"})
    with workspace.campaign.connect() as connection:
        changed = get_profile(connection, "joanna@example.com")
        assert (changed["email"], changed["mobile_phone"]) == ("Joanna@Example.com", "+14155550109")
        assert _keys(connection) == _expected(connection, changed) | others
    with workspace.campaign.begin() as connection:
        delete_profile(connection, changed["id"])
    with workspace.campaign.connect() as connection:
        assert _keys(connection) == others
