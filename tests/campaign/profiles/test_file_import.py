"""Importing profile files: counts, upserts on normalised keys, rejects, idempotence, keys.

Every test here runs on SQLite and on PostgreSQL (the ``workspace`` fixture).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest
from sqlalchemy import select

from audiencehub.campaign import (
    UpsertKey,
    add_key_schemes,
    count_profiles,
    get_profile,
    import_profiles,
)
from audiencehub.campaign.profiles import file_import
from audiencehub.campaign.schema import profile_keys
from audiencehub.errors import InputFileError, NotFound
from audiencehub.identity import HashScheme, IdKind, hash_id
from audiencehub.identity.hashing import digest
from audiencehub.runtime.demo import write_demo_profiles
from tests.campaign.profiles.parity import row_by_row


def write(path: Path, rows: list[list[str]], *, delimiter: str = ",") -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


HEADER = ["email", "mobile_phone", "crm_id", "first_name", "country", "email_opt_out", "tier"]


def run(workspace, path: Path, **options):
    options.setdefault("rejects_path", path.with_suffix(".rejects.csv"))
    return import_profiles(workspace.campaign, path, **options)


def test_counts_add_up_and_rejects_say_why(workspace, tmp_path):
    """read = inserted + updated + unchanged + rejected, and each reject has line and reason."""
    path = write(
        tmp_path / "p.csv",
        [
            HEADER,
            ["ann@example.com", "+14155550101", "C1", "Ann", "US", "0", "gold"],
            ["bad-email", "", "C2", "Bob", "US", "0", ""],
            ["cy@example.com", "12", "C3", "Cy", "US", "maybe", ""],
            ["Ann@Example.com", "", "C1", "Annie", "US", "", "gold"],
            ["dee@example.com", "", "C4"],
            ["", "", "C5", "Eve", "FR", "", ""],
        ],
    )
    report = run(workspace, path)
    assert (report.read, report.inserted, report.updated, report.unchanged, report.rejected) == (
        6,
        1,
        1,
        0,
        4,
    )
    assert report.read == report.inserted + report.updated + report.unchanged + report.rejected
    with report.rejects_path.open(encoding="utf-8") as handle:
        rejects = list(csv.DictReader(handle))
    assert [r["rejected_line"] for r in rejects] == ["3", "4", "6", "7"]
    assert "email: 'bad-email' is not a valid email address" in rejects[0]["rejected_reason"]
    assert "mobile_phone: '12' is not a possible phone number" in rejects[1]["rejected_reason"]
    assert "email_opt_out: 'maybe' is not a yes/no value" in rejects[1]["rejected_reason"]
    assert rejects[2]["rejected_reason"] == "the row has 3 fields but the header has 7"
    assert rejects[3]["rejected_reason"] == "email: the upsert key is empty"
    assert rejects[0]["email"] == "bad-email"  # the raw row follows, ready to fix and re-import


def test_upsert_matches_the_normalised_email(workspace, tmp_path):
    """Jo@X.org and jo@x.org are one person, across files."""
    run(workspace, write(tmp_path / "a.csv", [["email", "first_name"], ["Jo@X.org", "Jo"]]))
    report = run(
        workspace, write(tmp_path / "b.csv", [["email", "first_name"], [" jo@x.org ", "Joanna"]])
    )
    assert (report.inserted, report.updated) == (0, 1)
    with workspace.campaign.connect() as connection:
        assert count_profiles(connection) == 1
        profile = get_profile(connection, "JO@x.org")
    assert profile["first_name"] == "Joanna"
    assert profile["email_key"] == "jo@x.org"


def test_reimporting_the_same_file_changes_nothing(workspace, tmp_path):
    """A second import of the same file reports every valid row unchanged."""
    path = write_demo_profiles(tmp_path / "demo.csv.gz", 300, bad_share=0.05)
    first = run(workspace, path)
    with workspace.campaign.connect() as connection:
        before = get_profile(connection, "CRM00000007")
    second = run(workspace, path)
    assert first.rejected > 0
    assert (second.inserted, second.updated, second.rejected) == (0, 0, first.rejected)
    assert second.unchanged == first.inserted
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "CRM00000007") == before


def test_empty_flags_never_clear_an_opt_out(workspace, tmp_path):
    """An empty opt-out cell states nothing; an explicit 'no' clears it."""
    run(workspace, write(tmp_path / "a.csv", [["email", "email_opt_out"], ["jo@x.org", "yes"]]))
    report = run(
        workspace, write(tmp_path / "b.csv", [["email", "email_opt_out"], ["jo@x.org", ""]])
    )
    assert report.unchanged == 1
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "jo@x.org")["email_opt_out"] is True
    run(workspace, write(tmp_path / "c.csv", [["email", "email_opt_out"], ["jo@x.org", "no"]]))
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "jo@x.org")["email_opt_out"] is False


def test_partial_files_leave_other_fields_alone(workspace, tmp_path):
    """A file without a phone column neither clears nor re-keys the stored phone."""
    run(
        workspace,
        write(
            tmp_path / "a.csv",
            [["email", "mobile_phone", "tier"], ["jo@x.org", "+33612345678", "gold"]],
        ),
    )
    run(workspace, write(tmp_path / "b.csv", [["email", "first_name"], ["jo@x.org", "Jo"]]))
    with workspace.campaign.connect() as connection:
        profile = get_profile(connection, "jo@x.org")
    assert profile["mobile_phone"] == "+33612345678"
    assert profile["attributes"] == {"tier": "gold"}
    assert profile["first_name"] == "Jo"


def test_custom_attributes_merge_and_clear(workspace, tmp_path):
    """Unmapped columns become attributes; an empty cell removes that attribute only."""
    run(
        workspace,
        write(tmp_path / "a.csv", [["email", "tier", "store"], ["jo@x.org", "gold", "Paris"]]),
    )
    run(workspace, write(tmp_path / "b.csv", [["email", "tier"], ["jo@x.org", ""]]))
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "jo@x.org")["attributes"] == {"store": "Paris"}


def test_national_phones_use_the_row_country_then_the_default_region(workspace, tmp_path):
    """A national number is read in the row's country, else in the default region."""
    path = write(
        tmp_path / "p.csv",
        [
            ["email", "mobile_phone", "country"],
            ["a@x.org", "06 12 34 56 78", "FR"],
            ["b@x.org", "(415) 555-0123", ""],
        ],
    )
    report = run(workspace, path, default_region="US")
    assert report.inserted == 2
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "a@x.org")["mobile_phone"] == "+33612345678"
        assert get_profile(connection, "b@x.org")["mobile_phone"] == "+14155550123"


def _stored_keys(workspace):
    with workspace.campaign.connect() as connection:
        return set(connection.execute(select(profile_keys)).all())


def test_keys_are_written_for_each_profile_and_follow_email_changes(workspace, tmp_path):
    """Each profile's aam email digest is stored; changing the email replaces it."""
    run(
        workspace,
        write(tmp_path / "a.csv", [["crm_id", "email"], ["C1", "Jo@X.org"], ["C2", "al@x.org"]]),
        key=UpsertKey.CRM_ID,
    )
    with workspace.campaign.connect() as connection:
        jo = get_profile(connection, "C1")["id"]
        al = get_profile(connection, "C2")["id"]
    aam = lambda email: digest(email, HashScheme.AAM, IdKind.EMAIL)  # noqa: E731
    assert _stored_keys(workspace) == {
        ("aam", "email", aam("jo@x.org"), jo),
        ("aam", "email", aam("al@x.org"), al),
    }
    run(
        workspace,
        write(tmp_path / "b.csv", [["crm_id", "email"], ["C1", "joanna@x.org"]]),
        key=UpsertKey.CRM_ID,
    )
    assert _stored_keys(workspace) == {
        ("aam", "email", aam("joanna@x.org"), jo),
        ("aam", "email", aam("al@x.org"), al),
    }


def test_rekey_backfills_new_schemes_once(workspace, tmp_path):
    """Adding schemes computes their keys for stored profiles; new imports keep them too."""
    run(
        workspace,
        write(
            tmp_path / "a.csv", [["email", "mobile_phone"], ["Jo.Doe@gmail.com", "+33612345678"]]
        ),
    )
    with workspace.campaign.begin() as connection:
        assert add_key_schemes(connection, [HashScheme.UID2, HashScheme.META]) == 4
    with workspace.campaign.begin() as connection:
        assert add_key_schemes(connection, [HashScheme.UID2]) == 0
    run(
        workspace,
        write(tmp_path / "b.csv", [["email", "mobile_phone"], ["al@x.org", "+33612345679"]]),
    )
    with workspace.campaign.connect() as connection:
        shown = get_profile(connection, "jo.doe@gmail.com")["keys"]
        assert len(get_profile(connection, "al@x.org")["keys"]) == 5
    uid2 = hash_id("Jo.Doe@gmail.com", HashScheme.UID2, IdKind.EMAIL)
    assert {"scheme": "uid2", "kind": "email", "hash": uid2} in shown
    assert {(e["scheme"], e["kind"]) for e in shown} == {
        ("aam", "email"),
        ("uid2", "email"),
        ("uid2", "phone"),
        ("meta", "email"),
        ("meta", "phone"),
    }


def test_tsv_and_gzip_and_explicit_mapping(workspace, tmp_path):
    """TSV by extension, gzip by magic bytes, and --map for foreign headers."""
    path = write(
        tmp_path / "p.tsv.gz",
        [["E-Mail Address", "Vorname", "Skip"], ["jo@x.org", "Jo", "x"]],
        delimiter="\t",
    )
    report = run(
        workspace, path, mapping={"E-Mail Address": "email", "Vorname": "first_name", "Skip": "-"}
    )
    assert report.inserted == 1
    with workspace.campaign.connect() as connection:
        profile = get_profile(connection, "jo@x.org")
    assert (profile["first_name"], profile["attributes"]) == ("Jo", {})


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_file_imports_nothing_and_says_so(workspace, tmp_path, damage):
    """A cut-short or damaged gzip file is refused whole, with what to do about it."""
    rows = [["email"]] + [[f"p{i}@x.org"] for i in range(20_000)]
    data = write(tmp_path / "p.csv.gz", rows).read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        middle = len(data) // 2
        data = (
            data[:middle]
            + bytes(b ^ 0xFF for b in data[middle : middle + 64])
            + data[middle + 64 :]
        )
    path = tmp_path / "damaged.csv.gz"
    path.write_bytes(data)
    with pytest.raises(InputFileError, match="cannot be decompressed") as raised:
        run(workspace, path)
    assert "Send the whole file again" in (raised.value.hint or "")
    with workspace.campaign.connect() as connection:
        assert count_profiles(connection) == 0


def test_multiline_fields_keep_true_line_numbers(workspace, tmp_path):
    """A quoted field spanning lines does not shift the line numbers of later rejects."""
    path = tmp_path / "p.csv"
    path.write_text('email,note\njo@x.org,"two\nlines"\nbad,x\n', encoding="utf-8")
    report = run(workspace, path)
    assert (report.inserted, report.rejected) == (1, 1)
    assert report.rejects_path.read_text(encoding="utf-8").splitlines()[1].startswith("4,")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"first_name\nJo\n", "no column for the upsert key email"),
        (b"email,email_address\na@x.org,b@x.org\n", "both map to email"),
        (b"email,first_name\njo@x.org,Jo\nal@x.org,\xff\xfe\n", "invalid byte on line 3"),
        (b'email,first_name\njo@x.org,Jo\nal@x.org,"Al\nbo@x.org,Bo\n', "opened on line 3"),
    ],
)
def test_unreadable_files_import_nothing(workspace, tmp_path, content, message):
    """A file that cannot be read is refused as a whole, with the reason."""
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        run(workspace, path)
    with workspace.campaign.connect() as connection:
        assert count_profiles(connection) == 0
    assert not path.with_suffix(".rejects.csv").exists()


def test_mapping_a_missing_column_lists_the_real_ones(workspace, tmp_path):
    """--map naming an absent column says which columns exist."""
    path = write(tmp_path / "p.csv", [["email", "name"], ["jo@x.org", "Jo"]])
    with pytest.raises(InputFileError, match="does not have") as caught:
        run(workspace, path, mapping={"Mail": "email"})
    assert caught.value.hint == "The file's columns are: email, name."


def test_shared_emails_are_ambiguous_for_an_email_keyed_import(workspace, tmp_path):
    """Two profiles sharing an email make an email-keyed upsert a reject, not a guess."""
    run(
        workspace,
        write(tmp_path / "a.csv", [["crm_id", "email"], ["C1", "jo@x.org"], ["C2", "JO@x.org"]]),
        key=UpsertKey.CRM_ID,
    )
    report = run(
        workspace, write(tmp_path / "b.csv", [["email", "first_name"], ["jo@x.org", "Jo"]])
    )
    assert report.rejected == 1
    assert "2 profiles share this email" in report.rejects_path.read_text(encoding="utf-8")


def test_worker_pool_gives_the_same_result_as_inline(workspace, tmp_path, monkeypatch):
    """Validation in worker processes applies the same rows in the same order."""
    monkeypatch.setattr(file_import, "_BLOCK_ROWS", 50)
    path = write_demo_profiles(tmp_path / "demo.csv", 1_000, bad_share=0.02)
    pooled = run(workspace, path, workers=2)
    again = run(workspace, path, workers=1)
    assert pooled.read == 1_000
    assert (again.unchanged, again.rejected) == (pooled.inserted, pooled.rejected)
    with workspace.campaign.connect() as connection:
        profile = get_profile(connection, "CRM00000500")
    assert {
        "scheme": "aam",
        "kind": "email",
        "hash": digest(profile["email"], HashScheme.AAM, IdKind.EMAIL).hex(),
    } in profile["keys"]


def test_show_unknown_profile_says_how_to_look_up(workspace):
    """Looking up a profile that does not exist is a NotFound with a hint."""
    with (
        workspace.campaign.connect() as connection,
        pytest.raises(NotFound, match="no profile has the email"),
    ):
        get_profile(connection, "nobody@x.org")


def test_a_bad_byte_deep_in_a_file_is_named_at_its_line(workspace, tmp_path):
    """The text layer decodes ahead; the error still names the line of the bad byte."""
    rows = "".join(f"p{n}@x.org,P{n}\n" for n in range(2, 5_000)).encode()
    path = tmp_path / "p.csv"
    path.write_bytes(b"email,first_name\n" + rows + b"bad@x.org,\xe9\n" + rows)
    with pytest.raises(InputFileError, match="invalid byte on line 5000"):
        run(workspace, path)
    with workspace.campaign.connect() as connection:
        assert count_profiles(connection) == 0


def test_countries_are_iso_3166_codes(workspace, tmp_path):
    """A two-letter code that is no country is rejected, naming the column and the value;
    real codes are kept in upper case."""
    path = write(
        tmp_path / "p.csv",
        [["email", "country"], ["jo@x.org", "fr"], ["al@x.org", "XX"], ["bo@x.org", "Fra"]],
    )
    report = run(workspace, path)
    assert (report.inserted, report.rejected) == (1, 2)
    reasons = [row[1] for row in csv.reader(report.rejects_path.open())][1:]
    assert reasons == [
        "country: 'XX' is not an ISO 3166 country code (two letters, such as FR)",
        "country: 'Fra' is not an ISO 3166 country code (two letters, such as FR)",
    ]
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "jo@x.org")["country"] == "FR"


def test_a_semicolon_separated_csv_is_read(workspace, tmp_path):
    """A .csv saved by a spreadsheet with semicolons is detected from its header."""
    path = write(tmp_path / "p.csv", [["email", "first_name"], ["jo@x.org", "Jo"]], delimiter=";")
    assert run(workspace, path).inserted == 1
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "jo@x.org")["first_name"] == "Jo"


def test_mapping_to_an_unknown_field_names_it(workspace, tmp_path):
    """--map to a name that is no field is refused with the field it probably meant; an
    attribute is mapped explicitly as attributes.NAME."""
    path = write(tmp_path / "p.csv", [["Mail", "Level"], ["jo@x.org", "gold"]])
    with pytest.raises(InputFileError, match="'emial', which is not a profile field") as caught:
        run(workspace, path, mapping={"Mail": "emial"})
    assert "did you mean 'email'" in caught.value.message
    run(workspace, path, mapping={"Mail": "email", "Level": "attributes.tier"})
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "jo@x.org")["attributes"] == {"tier": "gold"}


def test_a_crm_id_of_another_profile_is_a_rejected_row(workspace, tmp_path):
    """Keyed on email, a row that would take another profile's CRM id is rejected with the
    reason (it used to fail the whole import as an internal error); so is a second claim in
    the same file. The rest of the file applies."""
    run(workspace, write(tmp_path / "a.csv", [["email", "crm_id"], ["jo@x.org", "C1"]]))
    path = write(
        tmp_path / "b.csv",
        [
            ["email", "crm_id"],
            ["al@x.org", "C1"],
            ["bo@x.org", "C2"],
            ["cy@x.org", "C2"],
            ["jo@x.org", "C1"],
        ],
    )
    report = run(workspace, path)
    assert (report.inserted, report.unchanged, report.rejected) == (1, 1, 2)
    reasons = [row[:2] for row in csv.reader(report.rejects_path.open())][1:]
    assert reasons == [
        ["2", "crm_id: 'C1' belongs to another profile; a CRM id identifies one profile only"],
        ["4", "crm_id: 'C2' belongs to another profile; a CRM id identifies one profile only"],
    ]


@pytest.mark.parametrize("chunks", ["as cut", "a row each"])
def test_a_crm_id_a_row_gives_up_stays_with_its_profile_to_the_end(
    workspace, tmp_path, monkeypatch, chunks
):
    """A CRM id belongs, for a whole import, to the profile that held it when the import
    began, or else to the first row that takes it: one that a row gives up is not taken
    by a later row of another profile, in the same chunk of rows or in a later one (it
    used to be, in a later one); the profile that gave it up may take it back. A row
    rejected for another reason takes nothing."""
    run(
        workspace,
        write(tmp_path / "a.csv", [["email", "crm_id"], ["jo@x.org", "C1"], ["al@x.org", "C2"]]),
    )
    twins = [["email", "crm_id"], ["dup@x.org", "C40"], ["dup@x.org", "C41"]]
    run(workspace, write(tmp_path / "twins.csv", twins), key=UpsertKey.CRM_ID)
    if chunks == "a row each":
        row_by_row(monkeypatch, chunks)
    path = write(
        tmp_path / "b.csv",
        [
            ["email", "crm_id"],
            ["jo@x.org", "C9"],  # gives up C1
            ["bo@x.org", "C1"],
            ["al@x.org", ""],  # gives up C2
            ["cy@x.org", "C2"],
            ["al@x.org", "C2"],  # takes it back
            ["dee@x.org", "C9"],
            ["dup@x.org", "C5"],  # two profiles share the email: rejected
            ["eve@x.org", "C5"],
        ],
    )
    report = run(workspace, path)
    assert (report.inserted, report.updated, report.rejected) == (1, 3, 4)
    reasons = [row[:2] for row in csv.reader(report.rejects_path.open())][1:]
    taken = "belongs to another profile; a CRM id identifies one profile only"
    assert reasons == [
        ["3", f"crm_id: 'C1' {taken}"],
        ["5", f"crm_id: 'C2' {taken}"],
        ["7", f"crm_id: 'C9' {taken}"],
        [
            "8",
            "2 profiles share this email (dup@x.org); import with --key crm_id to tell them apart",
        ],
    ]
    with workspace.campaign.connect() as connection:
        assert get_profile(connection, "jo@x.org")["crm_id"] == "C9"
        assert get_profile(connection, "al@x.org")["crm_id"] == "C2"
        assert get_profile(connection, "eve@x.org")["crm_id"] == "C5"
        with pytest.raises(NotFound):
            get_profile(connection, "bo@x.org")


def test_two_imports_at_once_queue_instead_of_failing(workspace, tmp_path):
    """Two imports started together both complete, one after the other, with the same end
    state as running them in turn (it used to end in an internal error)."""
    from concurrent.futures import ThreadPoolExecutor

    rows = [["email", "first_name"]] + [[f"p{n}@x.org", f"P{n}"] for n in range(3_000)]
    paths = [write(tmp_path / f"{n}.csv", rows) for n in range(2)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda p: run(workspace, p, workers=1), paths))
    assert sorted((r.inserted, r.unchanged) for r in reports) == [(0, 3_000), (3_000, 0)]
    with workspace.campaign.connect() as connection:
        assert count_profiles(connection) == 3_000
