"""The exportSharedAudience job: every ID type, exclusions, the complement, only new records.

Runs on SQLite and PostgreSQL. Files are read back with the people service's own
inbound parser, so what is checked is what the people side would ingest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from audiencehub.campaign import get_profile
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.profiles.store import create_profile
from audiencehub.campaign.schema import (
    audience_members,
    audiences,
    shared_data_sources,
    shares,
    visitor_links,
)
from audiencehub.campaign.sharing.audit import list_audit
from audiencehub.campaign.sharing.data_sources import (
    DEFAULT_SOURCE,
    Channel,
    Encryption,
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
    get_shared_data_source,
)
from audiencehub.campaign.sharing.export_job import run_export, share_audience
from audiencehub.campaign.sharing.shared_ids import profiles_without_id
from audiencehub.drops import FolderDrop
from audiencehub.errors import InvalidInput, LegalRestriction, NotFound
from audiencehub.formats.compression import gzip_reader
from audiencehub.formats.inbound import parse_inbound_row
from audiencehub.identity import AesCbcCipher, AesSivCipher, HashScheme, IdKind, hash_id
from audiencehub.people.schema import segments as people_segments
from tests.campaign.sharing.test_import_job import IV, KEY, SIV, campaign
from tests.helpers import an_admin, fillable_segment, people_partner

__all__ = ["campaign"]

NOW = 1764500000  # 2025-11-30


def _profile_ids(workspace, *crm_ids):
    with workspace.campaign.connect() as connection:
        return [get_profile(connection, crm)["id"] for crm in crm_ids]


def _list_audience(workspace, name, crm_ids):
    """A plain audience (what a workflow saves) holding these profiles."""
    moment = datetime.now(UTC)
    with workspace.campaign.begin() as connection:
        audience = connection.execute(
            insert(audiences).returning(audiences.c.id),
            {
                "name": name,
                "type": "list",
                "force_profile": True,
                "created_at": moment,
                "updated_at": moment,
            },
        ).scalar_one()
        connection.execute(
            insert(audience_members),
            [{"audience_id": audience, "profile_id": p} for p in _profile_ids(workspace, *crm_ids)],
        )
    return audience


def _add_members(workspace, audience, crm_ids):
    with workspace.campaign.begin() as connection:
        connection.execute(
            insert(audience_members),
            [{"audience_id": audience, "profile_id": p} for p in _profile_ids(workspace, *crm_ids)],
        )


def _source(workspace, *, accept=True, **options):
    options.setdefault("alias_dpid", 7001)
    with workspace.campaign.begin() as connection:
        source = add_shared_data_source(
            connection, KeyVault(workspace.path), label="Out", **options
        )
        if accept:
            accept_terms(connection, source["id"], an_admin(connection))
    return source["id"]


def _share(workspace, audience_name, segment, source_id):
    """Share into segment ``segment``, which the people service makes fillable by the
    source's alias data source first (once)."""
    with workspace.campaign.connect() as connection:
        alias = get_shared_data_source(connection, source_id)["alias_dpid"]
    with workspace.people.connect() as connection:
        known = connection.execute(
            select(people_segments.c.id).where(people_segments.c.id == segment)
        ).first()
    if known is None:
        fillable_segment(workspace, segment, alias)
    with workspace.campaign.begin() as connection:
        return share_audience(
            connection,
            source_audience=audience_name,
            shared_audience=str(segment),
            data_source_id=source_id,
            client=people_partner(workspace),
        )


def _export(workspace, drop, now=NOW):
    return run_export(workspace.campaign, KeyVault(workspace.path), FolderDrop(drop), now=now)


def _rows(drop, key):
    """The file's lines as the people service parses them: user id -> trait codes."""
    with (drop / key).open("rb") as handle, gzip_reader(handle) as plain:
        lines = plain.read().decode("utf-8").splitlines()
    rows = [parse_inbound_row(line) for line in lines]
    return {row.user_id: sorted(ref.value for ref in row.realize) for row in rows}


@pytest.fixture
def crowd(campaign):
    """Beyond jo, al, bo: cy opted out of email, di blocklisted, ed without email."""
    with campaign.campaign.begin() as connection:
        create_profile(connection, crm_id="C4", email="cy@example.com", email_opt_out=True)
        create_profile(connection, crm_id="C5", email="di@example.com", blocklisted=True)
        create_profile(connection, crm_id="C6")
    return campaign


def test_hashed_emails_go_out_once_and_opted_out_never(crowd, tmp_path):
    """Each member is sent once; opted-out and blocklisted are excluded, no email is counted."""
    source = _source(crowd, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    buyers = _list_audience(crowd, "Buyers", ["C1", "C2", "C4", "C5", "C6"])
    shared = _share(crowd, "Buyers", 902, source)
    assert (shared["segment_id"], shared["trait_code"]) == (902, "segment-902")

    run = _export(crowd, tmp_path / "out")
    [key] = run.files
    assert key == "date=2025-11-30/ftp_dpm_7001_1764500000.sync.gz"
    jo, al = (
        hash_id(e, HashScheme.AAM, IdKind.EMAIL) for e in ("jo@example.com", "al@example.com")
    )
    assert _rows(tmp_path / "out", key) == {jo: ["segment-902"], al: ["segment-902"]}
    assert run.shares == [{"segment_id": 902, "sent": 2, "no_id": 1, "excluded": 2}]
    with crowd.campaign.connect() as connection:
        [entry] = list_audit(connection, limit=1)
    assert (entry["action"], entry["data_source_id"]) == ("export", source)
    assert entry["details"]["file"] == key and entry["details"]["sent"] == 2

    # sharing again sends only what is new: bo joins; jo and al are not sent again
    _add_members(crowd, buyers, ["C3"])
    again = _export(crowd, tmp_path / "out", now=NOW + 3600)
    [second] = again.files
    bo = hash_id("bo@example.com", HashScheme.AAM, IdKind.EMAIL)
    assert _rows(tmp_path / "out", second) == {bo: ["segment-902"]}
    assert again.shares == [{"segment_id": 902, "sent": 1, "no_id": 1, "excluded": 2}]
    # nothing new: no file at all
    assert _export(crowd, tmp_path / "out", now=NOW + 7200).files == []


def test_the_complement_is_the_members_without_an_id(crowd):
    """What a share leaves out for want of an ID is what the activity's complement carries."""
    source = _source(crowd, key=ReconciliationKey.MOBILE_PHONE, hashing=HashScheme.UID2)
    _list_audience(crowd, "Buyers", ["C1", "C2", "C3", "C6"])
    with crowd.campaign.connect() as connection:
        members = select(audience_members.c.profile_id)
        left_out = profiles_without_id(connection, source, members)
    assert sorted(left_out) == sorted(_profile_ids(crowd, "C3", "C6"))  # no phone


def test_visitor_ids_go_out_for_the_default_source(crowd, tmp_path):
    """defaultDataSource sends each profile's latest visitor ID; no link is no ID."""
    with crowd.campaign.begin() as connection:
        connection.execute(
            update(shared_data_sources)
            .where(shared_data_sources.c.id == DEFAULT_SOURCE)
            .values(alias_dpid=7002)
        )
        accept_terms(connection, DEFAULT_SOURCE, an_admin(connection))
        [jo] = _profile_ids(crowd, "C1")
        old = datetime.now(UTC) - timedelta(days=3)
        connection.execute(
            insert(visitor_links),
            [
                {"visitor_id": "1" * 38, "profile_id": jo, "linked_at": old},
                {"visitor_id": "2" * 38, "profile_id": jo, "linked_at": old + timedelta(days=1)},
            ],
        )
    _list_audience(crowd, "Web", ["C1", "C2"])
    _share(crowd, "Web", 903, DEFAULT_SOURCE)
    run = _export(crowd, tmp_path / "out")
    [key] = run.files
    assert key.endswith("ftp_dpm_7002_1764500000.sync.gz")
    assert _rows(tmp_path / "out", key) == {"2" * 38: ["segment-903"]}
    assert run.shares == [{"segment_id": 903, "sent": 1, "no_id": 1, "excluded": 0}]


@pytest.mark.parametrize("algorithm", [Encryption.AES_CBC, Encryption.AES_SIV])
def test_encrypted_keys_decrypt_to_the_profile_value(crowd, tmp_path, algorithm):
    """An encrypted source sends ciphertexts the partner's key opens to the normalised value."""
    if algorithm is Encryption.AES_CBC:
        options = {"enc_key": KEY, "enc_iv": IV}
        cipher = AesCbcCipher.from_hex(KEY, IV)
    else:
        options = {"enc_key": SIV}
        cipher = AesSivCipher.from_hex(SIV)
    source = _source(
        crowd, key=ReconciliationKey.EMAIL, encryption=algorithm, channel=Channel.EMAIL, **options
    )
    _list_audience(crowd, "Buyers", ["C1", "C3"])
    _share(crowd, "Buyers", 904, source)
    [key] = _export(crowd, tmp_path / "out").files
    sent = _rows(tmp_path / "out", key)
    assert sorted(cipher.decrypt(user_id) for user_id in sent) == [
        "bo@example.com",
        "jo@example.com",  # Jo@Example.com, normalised
    ]
    assert "jo@example.com" not in (tmp_path / "out" / key).read_bytes().decode("latin-1")


def test_regular_crm_ids_and_two_shares_on_one_line(crowd, tmp_path):
    """A CRM id goes out as it is; a profile new to two shares gets one line with both traits."""
    source = _source(crowd, key=ReconciliationKey.CRM_ID)
    _list_audience(crowd, "Buyers", ["C1", "C2"])
    _list_audience(crowd, "Loyal", ["C2", "C3"])
    _share(crowd, "Buyers", 905, source)
    _share(crowd, "Loyal", 906, source)
    run = _export(crowd, tmp_path / "out")
    [key] = run.files
    assert _rows(tmp_path / "out", key) == {
        "C1": ["segment-905"],
        "C2": ["segment-905", "segment-906"],
        "C3": ["segment-906"],
    }
    assert [s["sent"] for s in run.shares] == [2, 2]


def test_nothing_moves_through_a_source_whose_terms_are_not_accepted(crowd, tmp_path):
    source = _source(crowd, accept=False, key=ReconciliationKey.CRM_ID)
    _list_audience(crowd, "Buyers", ["C1"])
    with pytest.raises(LegalRestriction, match=r"terms .* are not accepted") as raised:
        _share(crowd, "Buyers", 907, source)
    assert f"audiencehub datasources accept-terms {source}" in (raised.value.hint or "")
    # a share recorded before the terms were withdrawn is refused by the job too
    with crowd.campaign.begin() as connection:
        accept_terms(connection, source, an_admin(connection))
    _share(crowd, "Buyers", 907, source)
    with crowd.campaign.begin() as connection:
        connection.execute(
            update(shared_data_sources)
            .where(shared_data_sources.c.id == source)
            .values(terms_accepted_at=None, terms_accepted_by=None)
        )
    with pytest.raises(LegalRestriction):
        _export(crowd, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sharing_into_a_segment_the_data_cannot_fill_is_refused(crowd):
    """A rule-built segment, or one filled by another data source's trait, is refused with
    the reason before anything is sent (the records used to be sent, then dropped)."""
    from audiencehub.people.segments import add_segment
    from audiencehub.people.traits import add_trait

    source = _source(crowd, key=ReconciliationKey.CRM_ID)
    _list_audience(crowd, "Buyers", ["C1"])
    fillable_segment(crowd, 910, 7002)  # another data source's
    fillable_segment(crowd, 912, 7001)  # (creates data source 7001)
    with crowd.people.begin() as connection:
        add_trait(connection, trait_id=5, name="Shoes", data_source_id=7001, integration_code="s")
        add_trait(connection, trait_id=6, name="Bags", data_source_id=7001, integration_code="b")
        add_segment(connection, segment_id=911, name="Both", rule="T5 AND T6")

    def share(segment):
        with crowd.campaign.begin() as connection:
            share_audience(
                connection,
                source_audience="Buyers",
                shared_audience=segment,
                data_source_id=source,
                client=people_partner(crowd),
            )

    with pytest.raises(InvalidInput, match="built by a rule over traits"):
        share("911")
    with pytest.raises(InvalidInput, match="filled by data source 7002's trait, not by 7001's"):
        share("910")
    with pytest.raises(NotFound, match="no segment 999"):
        share("999")
    with crowd.campaign.connect() as connection:
        assert connection.execute(select(shares)).first() is None
