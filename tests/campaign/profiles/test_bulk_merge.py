"""A file merged by sets into a PostgreSQL store that holds profiles ends exactly as the
row-by-row import of the same file: the same counts (kept opt-outs too), profiles, keys
under every scheme, and rejected lines with their reasons.

Each test loads the same base into an empty database, marks some opt-outs as made by
the person (the unsubscribe link), then imports the same update once each way.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import text

from audiencehub.campaign import UpsertKey, add_key_schemes, import_profiles
from audiencehub.campaign.profiles import bulk_merge, columnar_check
from audiencehub.identity import HashScheme
from tests.campaign.profiles.parity import (
    counted_merges,
    empty,
    row,
    row_by_row,
    snapshot,
    text_of,
)

_ON_POSTGRESQL = pytest.mark.parametrize("backend", ["postgresql"])

BASE = [
    row("ann@example.com", "+14155550101", "C1", "Ann", email_opt_out="1", tier="gold", note="x"),
    row("bob@example.com", "", "C2", "Bob", email_opt_out="yes", sms_opt_out="yes"),
    row("cy@example.com", "", "C3", "Cy", country="FR", birth_date="1980-01-02"),
    row("dee@example.com", "", "", "Dee", tier="silver"),
    row("eve@example.com", "", "C5", "Eve"),
    row("fay@example.com", "", "C6", "Fay"),
    row("gus@example.com", "+33612345678", "C7", "Gus"),
    row("hal@example.com", "", "C8", "Hal", sms_opt_out="1"),
    row("ida@example.com", "", "C9", "Ida", blocklisted="yes"),
    row("max@example.com", "", "C11", "Max", tier="gold"),
    row("ned@example.com", "", "C12", "Ned"),
    row("oli@example.com", "", "C13", "Oli", email_opt_out="yes"),
    row("quinn@example.com", "", "C14", "Quinn"),  # not in the update
]
TWINS = [  # two profiles with one email, told apart by their CRM ids
    row("dup@example.com", "", "C40", "Dup"),
    row("dup@example.com", "", "C41", "Dup too"),
]
UPDATE = [
    row("ann@example.com", "+14155550101", "C1", "Ann", email_opt_out="0", tier="gold", note="x"),
    row("new1@example.com", "+447700900111", "C20", "New", tier="bronze"),
    row("bob@example.com", "", "C2", "Robert", sms_opt_out="no"),
    row("cy@example.com", "", "C3", "Cy", country="FR", birth_date="1980-01-02"),
    row("new2@example.com", "", "C21", "New, Jr."),  # a quoted field: the validator's
    row("dee@example.com", "", "C4", "Dee", note="hi"),  # a first CRM id; tier removed
    row("Eve@Example.com", "", "C5", "Eve"),  # the email's case changes: its keys too
    row("fay@example.com", "", "C6", "Fay", country="de", birth_date="1990-12-31"),
    row("gus@example.com", "+33612345679", "C7", "Gus"),  # a new phone
    row("hal@example.com", "", "C10", "Hal", sms_opt_out="0"),  # another CRM id
    row("jo@example.com", "", "C2", "Jo"),  # Bob's CRM id
    row("dup@example.com", "", "", "Which one?"),  # two profiles share the email
    row("new3@example.com", "", "", "Twice"),
    row("kim@example.com", "", "C50", "Kim"),
    row("new3@example.com", "", "C22", "Twice again"),  # a key repeated in the file
    row("lee@example.com", "", "C50", "Lee"),  # a CRM id claimed twice in the file
    row("not-an-email", "", "C60"),
    row("ida@example.com", "", "C9", "Ida", blocklisted="no"),
    row("new4@example.com", "12", "C23"),  # a phone the validator refuses
    row("new5@example.com", "", "C24", "Last", email_opt_out="yes"),
    row("max@example.com", "", "C11", "Max"),  # only an attribute removed
    row("ned@example.com", "", "C12", "Ned", note="new"),  # only an attribute added
    row("oli@example.com", "", "C13", "Olivia"),  # a flag not said stays as it is
    row("pat@example.com", "", "C14", "Pat"),  # the CRM id of a profile the file omits
    row("jo@example.com", "", "", "Jo"),  # refused Bob's CRM id above: new from here
    row("zoe@example.com", "", "C8", "Zoe"),  # the CRM id Hal gave up stays his
]


def _stored_base(workspace, tmp_path: Path) -> None:
    """The base, the twins (keyed by CRM id), and opt-outs the people made themselves."""
    base, twins = tmp_path / "base.csv", tmp_path / "twins.csv"
    base.write_text(text_of(BASE), encoding="utf-8")
    twins.write_text(text_of(TWINS), encoding="utf-8")
    import_profiles(workspace.campaign, base)
    import_profiles(workspace.campaign, twins, key=UpsertKey.CRM_ID)
    with workspace.campaign.begin() as connection:
        connection.execute(
            text(
                "UPDATE profiles SET email_unsubscribed_at = '2026-01-01T00:00:00Z' "
                "WHERE email_key IN ('ann@example.com', 'bob@example.com')"
            )
        )
        connection.execute(
            text(
                "UPDATE profiles SET sms_unsubscribed_at = '2026-01-01T00:00:00Z' "
                "WHERE crm_id = 'C8'"
            )
        )


def _merged_both_ways(
    workspace, tmp_path: Path, monkeypatch, path: Path, chunks: str = "as cut", **options
):
    """The report, kept opt-outs, rejects and store after the merge and after the row
    import of ``path`` (its rows applied in ``chunks``) into the same stored base, in that
    order."""
    merges = counted_merges(monkeypatch)
    results = []
    update_merges: list[int] = []
    for way in ("merge", "row import"):
        _stored_base(workspace, tmp_path)
        mark = len(merges)
        if way == "row import":
            row_by_row(monkeypatch, chunks)
        rejects = tmp_path / f"{way}.rejects.csv"
        report = import_profiles(workspace.campaign, path, rejects_path=rejects, **options)
        update_merges += merges[mark:]
        kept = (
            list(csv.reader(rejects.open(encoding="utf-8")))
            if report.rejects_path is not None
            else []
        )
        counts = (
            report.read,
            report.inserted,
            report.updated,
            report.unchanged,
            report.kept_opt_outs,
            report.rejected,
        )
        results.append((counts, kept, snapshot(workspace)))
        empty(workspace)
    return update_merges, results


@_ON_POSTGRESQL
@pytest.mark.parametrize("chunks", ["as cut", "a row each"])
@pytest.mark.parametrize("read", ["whole table", "named profiles"])
@pytest.mark.parametrize("resubscribe", [False, True])
@pytest.mark.parametrize("key", [UpsertKey.EMAIL, UpsertKey.CRM_ID])
def test_an_update_merges_as_the_row_import_merges_it(
    workspace, tmp_path, monkeypatch, key, resubscribe, read, chunks
):
    """Unchanged rows, new ones, changed names, dates and flags, opt-outs the person made,
    attributes set and removed, a first CRM id, changed emails, phones and CRM ids, a CRM
    id another profile holds, a key two profiles share, repeated keys, CRM ids claimed
    twice or given up, rows the validator judges: the same outcome both ways, whether the
    merge reads the whole table or only the profiles the file names, and however the row
    import cuts its chunks."""
    monkeypatch.setattr(bulk_merge, "_WHOLE_SHARE", 0 if read == "whole table" else 10**9)
    with workspace.campaign.begin() as connection:
        add_key_schemes(connection, [HashScheme.GOOGLE, HashScheme.UID2, HashScheme.META])
    path = tmp_path / "update.csv"
    path.write_text(text_of(UPDATE), encoding="utf-8")
    merges, (merged, imported) = _merged_both_ways(
        workspace, tmp_path, monkeypatch, path, chunks, key=key, resubscribe=resubscribe
    )
    assert merges and merges[0] >= 6  # the merge ran, and took rows by sets
    assert merged == imported
    counts, kept, store = merged
    assert counts[0] == counts[1] + counts[2] + counts[3] + counts[5]
    assert counts[5] == len(kept) - 1 > 2  # the header, then one line per rejected row
    assert counts[1] and counts[2] and counts[3]  # inserted, updated and unchanged rows
    assert store["keys"] and store["profiles"]


@_ON_POSTGRESQL
def test_the_same_file_again_changes_nothing(workspace, tmp_path, monkeypatch):
    """Importing the base again: every row unchanged, nothing written."""
    merges = counted_merges(monkeypatch)
    _stored_base(workspace, tmp_path)
    merges.clear()
    before = snapshot(workspace)
    with workspace.campaign.connect() as connection:
        [(written,)] = connection.execute(text("SELECT max(updated_at) FROM profiles")).all()
    report = import_profiles(workspace.campaign, tmp_path / "base.csv")
    assert merges == [len(BASE)]
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, len(BASE))
    assert report.kept_opt_outs == 0
    assert snapshot(workspace) == before
    with workspace.campaign.connect() as connection:
        assert connection.execute(text("SELECT max(updated_at) FROM profiles")).scalar() == written


@_ON_POSTGRESQL
def test_a_file_that_moves_many_keys_goes_to_the_row_import(workspace, tmp_path, monkeypatch):
    """Rows that change an email, a phone or a CRM id are merged one by one, held in
    memory until the write: past the bound, the row import reads the whole file instead,
    with the same outcome and nothing written twice."""
    monkeypatch.setattr(columnar_check, "_SLOW_MOST", 3)
    path = tmp_path / "moves.csv"
    moved = [
        row("gus@example.com", "+33612345670", "C7", "Gus"),
        row("hal@example.com", "", "C18", "Hal"),
        row("ann@example.com", "+14155550102", "C1", "Ann"),
        row("ida@example.com", "+14155550103", "C9", "Ida"),
        row("cy@example.com", "", "C3", "Cy", country="FR", birth_date="1980-01-02"),
    ]
    path.write_text(text_of(moved), encoding="utf-8")
    merges, (merged, imported) = _merged_both_ways(workspace, tmp_path, monkeypatch, path)
    assert merges == []  # handed over: nothing merged by sets
    assert merged == imported
    assert merged[0][2] == 4  # four updated, by the row import
