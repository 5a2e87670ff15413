"""The importSharedAudience job: every reconciliation path, full and iter, waiting, refusals.

Runs on SQLite and PostgreSQL; outbound batches are written with the shared formats.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from audiencehub.campaign import UpsertKey, import_profiles
from audiencehub.campaign.audiences import get_audience, list_members
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import shared_data_sources, visitor_links
from audiencehub.campaign.sharing.audit import list_audit
from audiencehub.campaign.sharing.data_sources import (
    Channel,
    Encryption,
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
    get_shared_data_source,
)
from audiencehub.campaign.sharing.import_job import run_import
from audiencehub.campaign.sharing.shared_audiences import create_shared_audience
from audiencehub.drops import FolderDrop
from audiencehub.errors import LegalRestriction
from audiencehub.formats import ControlFile, LineWriter, OutboundName, format_outbound_row
from audiencehub.identity import AesCbcCipher, AesSivCipher, HashScheme, IdKind, hash_id
from tests.helpers import an_admin

KEY, IV, SIV = "00" * 16, "11" * 16, "22" * 32
DID = 46390


def write_batch(folder: Path, rows, *, full=True, ts=1764300000000, split=2, info=True):
    """An outbound batch as the people service writes it: split gzip files, .info last."""
    base = OutboundName(ts, None, DID, 7001, "people", full)
    entries = []
    chunks = [rows[i : i + split] for i in range(0, len(rows), split)] or [[]]
    folder.mkdir(parents=True, exist_ok=True)
    for sequence, chunk in enumerate(chunks):
        name = OutboundName(ts, sequence or None, DID, 7001, "people", full)  # first unnumbered
        with (folder / str(name)).open("wb") as sink:
            writer = LineWriter(sink, str(name), sequence + 1, compress=True)
            writer.write_lines(format_outbound_row(i, s, r) for i, s, r in chunk)
            entries.append(writer.close())
    if info:
        (folder / base.info_name).write_text(ControlFile(base.info_name, tuple(entries)).to_json())
    return base


@pytest.fixture
def campaign(workspace, tmp_path):
    """Profiles jo, al, bo (bo opted in) with emails and phones."""
    data = tmp_path / "profiles.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                ["crm_id", "email", "mobile_phone"],
                ["C1", "Jo@Example.com", "+33612345678"],
                ["C2", "al@example.com", "+33612345679"],
                ["C3", "bo@example.com", ""],
            ]
        )
    import_profiles(workspace.campaign, data, key=UpsertKey.CRM_ID)
    return workspace


def _vault(workspace):
    return KeyVault(workspace.path)


def _source(workspace, **options):
    options.setdefault("destination_id", DID)
    with workspace.campaign.begin() as connection:
        source = add_shared_data_source(connection, _vault(workspace), label="CRM", **options)
        accept_terms(connection, source["id"], an_admin(connection))
    return source["id"]


def _audience(workspace, source_id, name="Buyers", segment=900, force=True):
    with workspace.campaign.begin() as connection:
        create_shared_audience(
            connection, name=name, segment_id=segment, data_source_id=source_id, force_profile=force
        )


def _crm_ids(workspace, name="Buyers"):
    with workspace.campaign.connect() as connection:
        ids = {m["profile_id"] for m in list_members(connection, name)}
        from audiencehub.campaign import get_profile

        return {get_profile(connection, str(i))["crm_id"] for i in ids}


def _run(workspace, drop):
    return run_import(workspace.campaign, _vault(workspace), FolderDrop(drop))


@pytest.mark.parametrize("scheme", list(HashScheme))
def test_hashed_emails_reconcile_through_stored_keys(campaign, tmp_path, scheme):
    """Each hashing scheme matches its own digests of the profiles' emails."""
    source = _source(campaign, key=ReconciliationKey.EMAIL, hashing=scheme)
    _audience(campaign, source)
    jo = hash_id("jo@example.com", scheme, IdKind.EMAIL)
    stranger = hash_id("nobody@example.com", scheme, IdKind.EMAIL)
    write_batch(
        tmp_path / "in", [(jo, [900], []), (stranger, [900], []), ("not-a-hash", [900], [])]
    )
    run = _run(campaign, tmp_path / "in")
    [report] = run.reports
    assert {
        k: report[k] for k in ("rows_read", "matched", "unmatched", "invalid_ids", "added")
    } == {"rows_read": 3, "matched": 1, "unmatched": 1, "invalid_ids": 1, "added": 1}
    assert report["match_rate"] == 0.5
    assert _crm_ids(campaign) == {"C1"}


def test_full_then_iter_then_rerun(campaign, tmp_path):
    """Full replaces, iter adds and removes, in time order; a re-run changes nothing."""
    source = _source(campaign, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    _audience(campaign, source)
    h = {
        name: hash_id(f"{name}@example.com", HashScheme.AAM, IdKind.EMAIL)
        for name in ("jo", "al", "bo")
    }
    write_batch(tmp_path / "in", [(h["jo"], [900], []), (h["al"], [900, 901], [])], split=1)
    write_batch(
        tmp_path / "in", [(h["al"], [], [900]), (h["bo"], [900], [])], full=False, ts=1764300600000
    )
    run = _run(campaign, tmp_path / "in")
    assert [(r["full"], r["added"], r["removed"]) for r in run.reports] == [
        (True, 2, 0),
        (False, 1, 1),
    ]
    assert _crm_ids(campaign) == {"C1", "C3"}
    assert _run(campaign, tmp_path / "in").reports == []
    with campaign.campaign.connect() as connection:
        audience = get_audience(connection, "Buyers")
        assert (audience["size"], audience["last_report"]["removed"]) == (2, 1)
        moved = [e["action"] for e in list_audit(connection) if "import" in e["action"]]
        assert moved == ["import", "import"]  # the setup's changes are in the trail too


def test_a_batch_waits_until_it_matches_its_control_file(campaign, tmp_path):
    """Missing .info, or a data file that disagrees with it: nothing applied, retried later."""
    source = _source(campaign, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    _audience(campaign, source)
    jo = hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL)
    base = write_batch(tmp_path / "in", [(jo, [900], [])], info=False)
    run = _run(campaign, tmp_path / "in")
    assert run.reports == [] and "has not arrived" in run.waiting[0]
    write_batch(tmp_path / "in", [(jo, [900], [])])
    data = tmp_path / "in" / f"{base.batch}.sync.gz"
    good = data.read_bytes()
    data.write_bytes(good[:-4])  # still being uploaded
    run = _run(campaign, tmp_path / "in")
    assert run.reports == [] and "byte size" in run.waiting[0]
    data.write_bytes(good)
    assert len(_run(campaign, tmp_path / "in").reports) == 1


def test_terms_must_be_accepted(campaign, tmp_path):
    """Nothing moves through a source whose terms are not accepted; the error says how to fix it."""
    with campaign.campaign.begin() as connection:
        source = add_shared_data_source(
            connection,
            _vault(campaign),
            label="CRM",
            key=ReconciliationKey.CRM_ID,
            destination_id=DID,
        )
    with (
        campaign.campaign.begin() as connection,
        pytest.raises(
            LegalRestriction, match="terms of data source AMCDS1 are not accepted"
        ) as caught,
    ):
        create_shared_audience(connection, name="x", segment_id=900, data_source_id=source["id"])
    assert "audiencehub datasources accept-terms AMCDS1" in caught.value.hint
    write_batch(tmp_path / "in", [("C1", [900], [])])
    run = _run(campaign, tmp_path / "in")
    assert "terms" in run.refused[0]


def test_raw_personal_data_is_refused(campaign):
    """A source that would share emails in clear is refused, saying to hash or encrypt."""
    with (
        campaign.campaign.begin() as connection,
        pytest.raises(LegalRestriction, match="personal data in clear") as caught,
    ):
        add_shared_data_source(connection, _vault(campaign), label="x", key=ReconciliationKey.EMAIL)
    assert "--hashing" in caught.value.hint


def test_regular_crm_ids(campaign, tmp_path):
    """A CRM id source compares raw values."""
    _audience(campaign, _source(campaign, key=ReconciliationKey.CRM_ID))
    write_batch(tmp_path / "in", [("C2", [900], []), ("C9", [900], [])])
    [report] = _run(campaign, tmp_path / "in").reports
    assert (report["matched"], report["unmatched"]) == (1, 1)
    assert _crm_ids(campaign) == {"C2"}


def test_visitor_ids_reconcile_through_click_links(campaign, tmp_path):
    """defaultDataSource matches visitor IDs linked by click tracking; the latest link wins."""
    with campaign.campaign.begin() as connection:
        from sqlalchemy import update

        from audiencehub.campaign.schema import shared_data_sources

        connection.execute(
            update(shared_data_sources)
            .where(shared_data_sources.c.id == "defaultDataSource")
            .values(destination_id=DID)
        )
        accept_terms(connection, "defaultDataSource", an_admin(connection))
        now = datetime.now(UTC)
        connection.execute(
            insert(visitor_links),
            [
                {"visitor_id": "1" * 38, "profile_id": 1, "linked_at": now - timedelta(days=1)},
                {"visitor_id": "1" * 38, "profile_id": 2, "linked_at": now},
            ],
        )
    _audience(campaign, "defaultDataSource")
    write_batch(tmp_path / "in", [("1" * 38, [900], []), ("2" * 38, [900], []), ("123", [900], [])])
    [report] = _run(campaign, tmp_path / "in").reports
    assert (report["matched"], report["unmatched"], report["invalid_ids"]) == (1, 1, 1)
    assert _crm_ids(campaign) == {"C2"}


def test_aes_cbc_emails_with_and_without_forced_profiles(campaign, tmp_path):
    """Decrypted emails match profiles; without forcing, a file audience keeps everyone."""
    source = _source(
        campaign,
        key=ReconciliationKey.EMAIL,
        encryption=Encryption.AES_CBC,
        enc_key=KEY,
        enc_iv=IV,
        channel=Channel.EMAIL,
    )
    _audience(campaign, source, name="Buyers")
    _audience(campaign, source, name="Everyone", force=False)
    cipher = AesCbcCipher.from_hex(KEY, IV)
    rows = [
        (cipher.encrypt("JO@example.com"), [900], []),
        ("x" + cipher.encrypt("new@example.org"), [900], []),
        ("deadbeef", [900], []),
    ]
    write_batch(tmp_path / "in", rows)
    reports = {r["audience"]: r for r in _run(campaign, tmp_path / "in").reports}
    assert _crm_ids(campaign, "Buyers") == {"C1"}
    assert (reports["Buyers"]["matched"], reports["Buyers"]["invalid_ids"]) == (1, 1)
    with campaign.campaign.connect() as connection:
        members = list_members(connection, "Everyone")
        assert get_audience(connection, "Everyone")["type"] == "file"
    assert sorted(m["address"] for m in members) == ["jo@example.com", "new@example.org"]


def test_aes_siv_refuses_tampered_ids(campaign, tmp_path):
    """A tampered AES-SIV value is an invalid ID, never a wrong match."""
    source = _source(
        campaign,
        key=ReconciliationKey.CRM_ID,
        encryption=Encryption.AES_SIV,
        enc_key=SIV,
        channel=Channel.EMAIL,
    )
    _audience(campaign, source)
    cipher = AesSivCipher.from_hex(SIV)
    good = cipher.encrypt("C3")
    tampered = good[:-2] + ("00" if good[-2:] != "00" else "01")
    write_batch(tmp_path / "in", [(good, [900], []), (tampered, [900], [])])
    [report] = _run(campaign, tmp_path / "in").reports
    assert (report["matched"], report["invalid_ids"]) == (1, 1)
    assert _crm_ids(campaign) == {"C3"}


def test_other_channel_is_matched_without_decrypting(campaign, tmp_path):
    """Channel other: the value is an opaque key, compared with encrypted profile values."""
    source = _source(
        campaign,
        key=ReconciliationKey.CRM_ID,
        encryption=Encryption.AES_CBC,
        enc_key=KEY,
        enc_iv=IV,
        channel=Channel.OTHER,
    )
    _audience(campaign, source)
    write_batch(tmp_path / "in", [(AesCbcCipher.from_hex(KEY, IV).encrypt("C2"), [900], [])])
    _run(campaign, tmp_path / "in")
    assert _crm_ids(campaign) == {"C2"}


def test_several_sources_match_in_priority_order(campaign, tmp_path):
    """An ID goes to the highest-priority source that resolves it."""
    high = _source(campaign, key=ReconciliationKey.CRM_ID, priority=10)
    low = _source(campaign, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM, priority=1)
    _audience(campaign, high, name="High")
    _audience(campaign, low, name="Low")
    jo = hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL)
    write_batch(tmp_path / "in", [("C2", [900], []), (jo, [900], [])])
    reports = _run(campaign, tmp_path / "in").reports
    assert {r["audience"]: r["matched"] for r in reports} == {"High": 2, "Low": 2}
    assert _crm_ids(campaign, "High") == {"C1", "C2"}


def test_a_batch_for_no_data_source_is_left_in_place(campaign, tmp_path):
    """A batch whose destination id no source claims is reported and not applied."""
    write_batch(tmp_path / "in", [("C1", [900], [])])
    run = _run(campaign, tmp_path / "in")
    assert "no shared data source has destination id 46390" in run.refused[0]
    assert any(p.name.endswith(".info") for p in (tmp_path / "in").iterdir())


def test_kept_keys_serve_later_batches_until_a_profile_key_changes(campaign, tmp_path, monkeypatch):
    """The columnar copy of the keys is used only while no key of its scheme was written."""
    from audiencehub.campaign.sharing import stored_keys

    source = _source(campaign, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    _audience(campaign, source)
    cache = tmp_path / "cache"
    reads = []
    real_extract = stored_keys.extract_parquet
    monkeypatch.setattr(
        stored_keys, "extract_parquet", lambda *a, **k: reads.append(1) or real_extract(*a, **k)
    )

    def run(rows, ts):
        drop = tmp_path / f"in{ts}"
        write_batch(drop, rows, ts=ts)
        return run_import(campaign.campaign, _vault(campaign), FolderDrop(drop), cache=cache)

    def digest(email):
        return hash_id(email, HashScheme.AAM, IdKind.EMAIL)

    run([(digest("jo@example.com"), [900], [])], 1764300000000)
    assert len(reads) == 1 and len(list(cache.glob("aam-email-*.parquet"))) == 1
    run([(digest("al@example.com"), [900], [])], 1764300001000)
    assert len(reads) == 1, "the kept copy was not used"
    assert _crm_ids(campaign) == {"C2"}

    # al changes email: the copy is stale, the new digest matches and the old one does not
    data = tmp_path / "change.csv"
    data.write_text("crm_id,email\nC2,al@new.example\n")
    import_profiles(campaign.campaign, data, key=UpsertKey.CRM_ID)
    [report] = run(
        [(digest("al@new.example"), [900], []), (digest("al@example.com"), [900], [])],
        1764300002000,
    ).reports
    assert len(reads) == 2
    assert (report["matched"], report["unmatched"]) == (1, 1)
    assert _crm_ids(campaign) == {"C2"}
    assert len(list(cache.glob("aam-email-*.parquet"))) == 1, "the stale copy was not removed"


def test_keys_read_while_they_change_are_not_kept(campaign, tmp_path, monkeypatch):
    """A copy whose token changed during the read could mix two states: it is dropped."""
    from audiencehub.campaign.profiles.store import keys_changed
    from audiencehub.campaign.sharing import stored_keys

    source = _source(campaign, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    _audience(campaign, source)
    real_extract = stored_keys.extract_parquet

    def extract_then_write(*args, **kwargs):
        table = real_extract(*args, **kwargs)
        with campaign.campaign.begin() as connection:
            keys_changed(connection)
        return table

    monkeypatch.setattr(stored_keys, "extract_parquet", extract_then_write)
    write_batch(
        tmp_path / "in", [(hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL), [900], [])]
    )
    cache = tmp_path / "cache"
    [report] = run_import(
        campaign.campaign, _vault(campaign), FolderDrop(tmp_path / "in"), cache=cache
    ).reports
    assert report["matched"] == 1
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing kept


def test_keys_referenced_from_the_environment_are_read_at_each_use(campaign, tmp_path, monkeypatch):
    """Only the variable's name is kept; an unset variable refuses the batch and says which."""
    monkeypatch.setenv("CRM_SIV_KEY", SIV)
    source = _source(
        campaign,
        key=ReconciliationKey.CRM_ID,
        encryption=Encryption.AES_SIV,
        enc_key_env="CRM_SIV_KEY",
        channel=Channel.OTHER,
    )
    _audience(campaign, source)
    with campaign.campaign.connect() as connection:
        stored = connection.execute(
            select(shared_data_sources.c.secret).where(shared_data_sources.c.id == source)
        ).scalar_one()
    assert SIV.encode() not in stored and bytes.fromhex(SIV) not in stored
    write_batch(tmp_path / "in", [(AesSivCipher.from_hex(SIV).encrypt("C2"), [900], [])])
    monkeypatch.delenv("CRM_SIV_KEY")
    waiting = _run(campaign, tmp_path / "in")
    assert waiting.reports == []
    [refused] = waiting.refused
    assert "environment variable CRM_SIV_KEY, which is not set" in refused
    monkeypatch.setenv("CRM_SIV_KEY", SIV)
    _run(campaign, tmp_path / "in")
    assert _crm_ids(campaign) == {"C2"}


def test_sealed_keys_are_not_in_the_database_in_clear(sqlite_workspace):
    source = _source(
        sqlite_workspace,
        key=ReconciliationKey.EMAIL,
        encryption=Encryption.AES_CBC,
        enc_key=KEY.replace("0", "7"),
        enc_iv=IV,
        channel=Channel.EMAIL,
    )
    stored = (sqlite_workspace.path / "campaign.db").read_bytes()
    assert KEY.replace("0", "7").encode() not in stored
    assert bytes.fromhex(KEY.replace("0", "7")) not in stored
    with sqlite_workspace.campaign.connect() as connection:
        shown = get_shared_data_source(connection, source)
    assert shown["has_key"] is True and "secret" not in shown


def test_a_batch_older_than_the_last_full_one_is_skipped(campaign, tmp_path):
    """An older full batch arriving after a newer one is reported and skipped (once), and
    changes nothing; so is an older iter batch. Newer batches still apply."""
    source = _source(campaign, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    _audience(campaign, source)
    h = {n: hash_id(f"{n}@example.com", HashScheme.AAM, IdKind.EMAIL) for n in ("jo", "al", "bo")}
    write_batch(tmp_path / "in", [(h["jo"], [900], [])], ts=1764300000000)
    assert len(_run(campaign, tmp_path / "in").reports) == 1
    write_batch(tmp_path / "in", [(h["al"], [900], []), (h["bo"], [900], [])], ts=1764200000000)
    write_batch(tmp_path / "in", [(h["bo"], [900], [])], ts=1764250000000, full=False)
    late = _run(campaign, tmp_path / "in")
    assert late.reports == []
    assert len(late.refused) == 2
    assert all("older" in line and "1764300000000" in line for line in late.refused)
    assert _crm_ids(campaign) == {"C1"}
    assert _run(campaign, tmp_path / "in").refused == []  # reported once
    write_batch(tmp_path / "in", [(h["al"], [900], [])], ts=1764400000000, full=False)
    assert [r["added"] for r in _run(campaign, tmp_path / "in").reports] == [1]
    assert _crm_ids(campaign) == {"C1", "C2"}


def test_two_runs_on_one_batch_apply_it_once(campaign, tmp_path):
    """Two import runs started together: the batch is applied once; the other run finds it
    applied (or says another run applied it meanwhile), and nothing fails."""
    from concurrent.futures import ThreadPoolExecutor

    source = _source(campaign, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    _audience(campaign, source)
    jo = hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL)
    write_batch(tmp_path / "in", [(jo, [900], [])])
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: _run(campaign, tmp_path / "in"), range(2)))
    assert sum(len(run.reports) for run in runs) == 1
    assert all("meanwhile" in line for run in runs for line in run.refused)
    assert _crm_ids(campaign) == {"C1"}
