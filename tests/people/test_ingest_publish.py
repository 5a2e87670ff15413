"""Ingest receipts, idempotence, atomicity, merge rules, export controls and publication.

Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import gzip
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from audiencehub.drops import FolderDrop
from audiencehub.engines.bulk_settings import bind_scratch
from audiencehub.errors import ConfigurationError, InvalidInput
from audiencehub.formats import ControlFile, parse_outbound_name, parse_outbound_row
from audiencehub.formats.compression import gzip_inflated
from audiencehub.identity import AuthState
from audiencehub.people import ingest as ingest_module
from audiencehub.people.data_sources import (
    DEVICE_NAMESPACE,
    ExportControl,
    InboundIdType,
    add_data_source,
)
from audiencehub.people.destinations import add_destination
from audiencehub.people.graph import apply_retention, ensure_users, link, opt_out
from audiencehub.people.ingest import ingest
from audiencehub.people.lake import reading
from audiencehub.people.materialise import materialise
from audiencehub.people.publication import publish
from audiencehub.people.schema import users
from audiencehub.people.segments import MergeRule, add_segment, get_segment
from audiencehub.people.traits import add_trait
from tests.helpers import held_traits, realise, segment_members, write_inbound

V1, V2, V3 = ("1" * 38, "2" * 38, "3" * 38)


def _held(workspace, external_id):
    return held_traits(workspace.people, external_id)


def test_receipt_counts_every_reason(people, tmp_path):
    """Each line lands in exactly one receipt counter, with reasons for the bad ones."""
    drop = tmp_path / "export"
    write_inbound(
        drop,
        "date=2026-11-28/ftp_dpm_7001_1764300000.sync.gz",
        [
            "c1\td_sid=101,ic=bags",
            'c2\td_sid=101,"gender"="female"',
            "c3\td_sid=999",
            "c:4\td_sid=101",
            "c5 d_sid=101",
            "c1\td_unsid=102",
        ],
    )
    run = ingest(people.people, FolderDrop(drop))
    [receipt] = run.receipts
    assert (receipt.status, receipt.records_received, receipt.format_errors) == ("applied", 6, 2)
    assert (receipt.no_trait_realized, receipt.stored_records) == (1, 3)
    assert (receipt.realized_traits, receipt.removed_traits) == (4, 1)  # 101, bags, 101, rule T104
    # the reference's other counters: 6 signals on the 4 processed lines, d_sid=999 unused,
    # data stored for c1 and c2; stored = processed - format errors - invalid - no match -
    # no trait, as the reference's receipt defines it
    assert (receipt.total_signals, receipt.unused_signals, receipt.total_devices) == (6, 1, 2)
    assert receipt.records_processed == 6
    assert receipt.stored_records == (
        receipt.records_processed
        - receipt.format_errors
        - receipt.invalid_ids
        - receipt.no_matching_id
        - receipt.no_trait_realized
    )
    assert _held(people, "c1") == {101}
    assert _held(people, "c2") == {101, 104}
    assert any("contains ':'" in p for p in receipt.problems)


def test_a_user_s_lines_past_the_limit_are_refused(people, tmp_path):
    """At most 200 lines of a batch count for one user ID: the rest are format errors,
    and what they say is not applied; the other users' lines are."""
    drop = tmp_path / "export"
    lines = ["c1\td_sid=101"] * 200 + ["c1\td_unsid=101", "c2\td_sid=102", "c1\td_sid=102"]
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", lines)
    [receipt] = ingest(people.people, FolderDrop(drop)).receipts
    counted = (receipt.records_received, receipt.format_errors, receipt.stored_records)
    assert counted == (203, 2, 201)
    assert receipt.problems == [
        f"ftp_dpm_7001_1764300000.sync line {n}: more than 200 lines for one user ID"
        for n in (201, 203)
    ]
    assert _held(people, "c1") == {101}
    assert _held(people, "c2") == {102}


def test_a_rerun_changes_nothing(people, tmp_path):
    """Processed batches are skipped; nothing is counted or applied twice."""
    drop = tmp_path / "export"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", ["c1\td_sid=101"])
    assert len(ingest(people.people, FolderDrop(drop)).receipts) == 1
    assert ingest(people.people, FolderDrop(drop)).receipts == []
    assert _held(people, "c1") == {101}


def test_visitor_ids_are_checked_and_matched(people, tmp_path):
    """Visitor-ID sources refuse non-38-digit IDs and count IDs the service never saw."""
    with people.people.begin() as connection:
        ensure_users(connection, DEVICE_NAMESPACE, [V1])
    drop = tmp_path / "export"
    write_inbound(
        drop,
        "ftp_dpm_7002_1764300000.sync",
        [f"{V1}\td_sid=201", "123\td_sid=201", f"{V2}\td_sid=201"],
    )
    [receipt] = ingest(people.people, FolderDrop(drop)).receipts
    assert (receipt.invalid_ids, receipt.no_matching_id, receipt.stored_records) == (1, 1, 1)


def test_overwrite_replaces_the_sources_traits(people, tmp_path):
    """An .overwrite file replaces the user's traits from that source; .sync adds."""
    drop = tmp_path / "export"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", ["c1\td_sid=101,d_sid=103"])
    write_inbound(drop, "ftp_dpm_7001_1764300100.overwrite", ["c1\tic=bags"])
    ingest(people.people, FolderDrop(drop))
    assert _held(people, "c1") == {102}


def test_a_batch_that_fails_leaves_no_trace(people, tmp_path):
    """If a split file of a batch is unreadable, none of the batch is applied, and it is retried."""
    drop = tmp_path / "export"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync.0", ["c1\td_sid=101"])
    (drop / "ftp_dpm_7001_1764300000.sync.1").write_bytes(b"c2\td_sid=101\n\xff\xfe\n")
    [receipt] = ingest(people.people, FolderDrop(drop)).receipts
    assert receipt.status == "refused"
    assert "not UTF-8" in receipt.problems[0]
    assert _held(people, "c1") == set()
    (drop / "ftp_dpm_7001_1764300000.sync.1").write_bytes(b"c2\td_sid=101\n")
    [again] = ingest(people.people, FolderDrop(drop)).receipts
    assert (again.status, again.stored_records) == ("applied", 2)


@pytest.mark.parametrize("damage", ["cut short", "wrong checksum"])
def test_a_damaged_gzip_file_refuses_its_batch_whole(people, tmp_path, damage):
    """A gzip file read where it lies (a folder drop) is refused when its stream is cut
    short or fails its checksum, though its first lines inflate: none of the batch is
    applied (not the lines before the damage either), and the fixed file is applied."""
    drop = tmp_path / "export"
    lines = [f"c{i}\td_sid=101" for i in range(20_000)]
    path = write_inbound(drop, "ftp_dpm_7001_1764300000.sync.gz", lines)
    whole = path.read_bytes()
    if damage == "cut short":
        path.write_bytes(whole[: len(whole) // 2])
    else:  # the CRC-32 of the inflated data, in the member's trailer
        path.write_bytes(whole[:-8] + bytes([whole[-8] ^ 0xFF]) + whole[-7:])
    [receipt] = ingest(people.people, FolderDrop(drop)).receipts
    assert receipt.status == "refused"
    assert "cannot be decompressed" in receipt.problems[0]
    assert _held(people, "c0") == set()
    path.write_bytes(whole)
    [again] = ingest(people.people, FolderDrop(drop)).receipts
    assert (again.status, again.stored_records) == ("applied", 20_000)


def test_the_workspace_scratch_path_holds_the_ingest_copies(people, tmp_path, monkeypatch):
    """With ``scratch_path`` set, a gzip file is inflated and the lake's DuckDB spills in
    private folders there, not in the system's temporary folder, and they are gone after
    the run; a scratch path that cannot hold a folder stops the run with the reason."""
    drop = tmp_path / "export"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync.gz", ["c1\td_sid=101"])
    scratch = tmp_path / "scratch"
    bind_scratch(people.people, scratch)
    targets: list[Path] = []

    def spied(path: Path, target: Path) -> AbstractContextManager[Path | None]:
        targets.append(target)
        return gzip_inflated(path, target)

    monkeypatch.setattr(ingest_module, "gzip_inflated", spied)
    with reading(people.people) as lake:
        [(spills,)] = lake.execute("SELECT current_setting('temp_directory')").fetchall()
    assert Path(spills).parent == scratch
    [receipt] = ingest(people.people, FolderDrop(drop)).receipts
    assert (receipt.status, receipt.stored_records) == ("applied", 1)
    assert [t.parent.parent for t in targets] == [scratch]
    assert list(scratch.iterdir()) == []  # every copy and folder removed
    scratch.rmdir()
    scratch.write_text("a file, not a folder")
    write_inbound(drop, "ftp_dpm_7001_1764300001.sync", ["c2\td_sid=101"])
    problem = f"cannot make a scratch folder in {scratch}: {scratch} is not a folder"
    with pytest.raises(ConfigurationError, match=problem):
        ingest(people.people, FolderDrop(drop))
    assert _held(people, "c2") == set()


def test_unknown_sources_empty_and_misnamed_files_are_reported(people, tmp_path):
    """Such files are reported, never guessed at, and nothing is applied."""
    drop = tmp_path / "export"
    write_inbound(drop, "ftp_dpm_9999_1764300000.sync", ["c1\td_sid=101"])
    write_inbound(drop, "ftp_dpm_7001_1764300001.sync", [])
    write_inbound(drop, "profiles.csv", ["x"])
    run = ingest(people.people, FolderDrop(drop))
    assert [r.status for r in run.receipts] == ["refused", "refused"]
    assert "no data source 9999" in run.receipts[0].problems[0]
    assert "is empty" in run.receipts[1].problems[0]
    assert run.unrecognised == ["profiles.csv: 'profiles.csv' is not an inbound data file name"]


def test_id_sync_files_link_devices_to_customer_ids(people, tmp_path):
    """adobe_id files link the first column's visitor IDs to each DPID column's IDs."""
    drop = tmp_path / "export"
    write_inbound(
        drop, "adobe_id_0_7001_1764300000.sync", [f"{V1}\tc1", "42\tc2", f"{V2}\tc2\textra"]
    )
    [receipt] = ingest(people.people, FolderDrop(drop)).receipts
    assert (receipt.stored_records, receipt.invalid_ids, receipt.format_errors) == (1, 1, 1)


def _scenario(workspace):
    """V1 authenticated as c1 then c2 (c2 later); V2 linked unauthenticated to c3."""
    now = datetime.now(UTC)
    with workspace.people.begin() as connection:
        devices = ensure_users(connection, DEVICE_NAMESPACE, [V1, V2, V3])
        customers = ensure_users(connection, 7001, ["c1", "c2", "c3"])
        link(
            connection,
            devices[V1],
            customers["c1"],
            AuthState.AUTHENTICATED,
            now - timedelta(hours=2),
        )
        link(
            connection,
            devices[V1],
            customers["c2"],
            AuthState.AUTHENTICATED,
            now - timedelta(hours=1),
        )
        link(connection, devices[V2], customers["c3"], AuthState.UNKNOWN, now)
    realise(
        workspace.people,
        [
            (customers["c1"], 101),
            (customers["c2"], 102),
            (customers["c3"], 101),
            (devices[V3], 101),
        ],
    )


def _members(workspace, segment_id, rule, merge):
    with workspace.people.begin() as connection:
        add_segment(connection, segment_id=segment_id, name="s", rule=rule, merge_rule=merge)
    return segment_members(workspace.people, rule, merge, namespace=0)


@pytest.mark.parametrize(
    ("merge", "expected"),
    [
        (MergeRule.DEVICE, {V3}),
        (MergeRule.LAST_AUTHENTICATED, {V3}),  # V1's last authenticated ID is c2, without T101
        (MergeRule.ALL_CROSS_DEVICE, {V1, V2, V3}),
    ],
)
def test_merge_rules(people, merge, expected):
    """Which devices hold T101 depends on the merge rule."""
    _scenario(people)
    assert _members(people, 900, "T101", merge) == expected


def test_last_authenticated_uses_the_latest_login(people):
    """Under last-authenticated, V1 holds c2's trait, not c1's."""
    _scenario(people)
    assert _members(people, 901, "T102 AND NOT T101", MergeRule.LAST_AUTHENTICATED) == {V1}


def test_opted_out_ids_are_never_members(people):
    """An opt-out removes the ID from segments."""
    _scenario(people)
    with people.people.begin() as connection:
        opt_out(connection, V3)
    assert _members(people, 900, "T101", MergeRule.DEVICE) == set()


@pytest.mark.parametrize(
    ("rule", "merge"),
    [
        ("T101", MergeRule.ALL_CROSS_DEVICE),
        ("NOT T101", MergeRule.DEVICE),  # IDs without traits meet it: every ID is read
    ],
)
def test_an_evaluation_names_its_members_in_its_join_with_the_graph(people, rule, merge):
    """With ``members``, each member row carries its external ID, read in the join that
    keeps the namespace's IDs (Spark's publications): the IDs the graph gives them."""
    import contextlib

    from audiencehub.engines.session import DuckBatch
    from audiencehub.people.lake import reading
    from audiencehub.people.segment_evaluation import Evaluation, evaluate
    from audiencehub.people.segment_rules import parse_rule

    _scenario(people)
    expected = segment_members(people.people, rule, merge, namespace=DEVICE_NAMESPACE)
    assert expected  # the scenario gives each rule members
    item = Evaluation(1, parse_rule(rule), str(merge), DEVICE_NAMESPACE)
    with reading(people.people) as session, contextlib.closing(session.cursor()) as work:
        evaluate(people.people, DuckBatch(work), [item], target="named", members=True)
        rows = work.execute(
            "SELECT n.external_id, e.member FROM named e JOIN "
            "lake.graph_users n ON n.id = e.user_id"
        ).fetchall()
        with pytest.raises(ValueError, match="namespace"):
            evaluate(
                people.people,
                DuckBatch(work),
                [Evaluation(2, parse_rule(rule), str(merge))],
                target="unnamed",
                members=True,
            )
    assert {member for _, member in rows} == expected
    assert all(graph == member for graph, member in rows)


def test_a_rule_past_the_64th_trait_reads_every_mask(people):
    """The traits a rule names past the 64th are bits of a second mask: a user who holds
    none of them still meets a rule asking for their absence, whether or not any ID of
    the graph has opted out."""
    with people.people.begin() as connection:
        for trait in range(301, 370):  # 69 traits: T369 is bit 4 of the second mask
            add_trait(connection, trait_id=trait, name=f"Wide {trait}", data_source_id=7001)
        found = ensure_users(connection, DEVICE_NAMESPACE, [V1, V2, V3, "4" * 38])
        wide = " OR ".join(f"T{trait}" for trait in range(301, 370))
        add_segment(connection, segment_id=950, name="any", rule=wide)
        add_segment(connection, segment_id=951, name="first only", rule="T301 AND NOT T369")
    held = [(V1, 301), (V2, 369), (V3, 301), (V3, 369), ("4" * 38, 301)]
    realise(people.people, [(found[name], trait) for name, trait in held])
    assert materialise(people.people) == {950: 4, 951: 2}
    with people.people.begin() as connection:
        opt_out(connection, "4" * 38)
    assert materialise(people.people) == {950: 3, 951: 1}


def test_segments_refuse_unknown_traits(people):
    """A rule naming a missing trait is refused, listing it."""
    with people.people.begin() as connection, pytest.raises(InvalidInput, match="T555"):
        add_segment(connection, segment_id=1, name="x", rule="T101 OR T555")


def test_export_controls_refuse_clashing_destinations(people, tmp_path):
    """A segment built on a no-PII source cannot go to a destination labelled pii."""
    with people.people.begin() as connection:
        add_data_source(
            connection,
            dpid=7003,
            name="Panel",
            inbound_id_type=InboundIdType.CUSTOMER,
            export_controls=[ExportControl.NO_PII],
        )
        add_trait(connection, trait_id=301, name="Panel", data_source_id=7003)
        add_segment(connection, segment_id=930, name="panel", rule="T301")
    with (
        people.people.begin() as connection,
        pytest.raises(InvalidInput, match=r"no-pii.*labelled pii"),
    ):
        add_destination(
            connection,
            destination_id=1,
            name="c",
            drop_url=str(tmp_path),
            id_type="visitor",
            segment_ids=[930],
            export_labels=["pii"],
        )


def _read_batch(folder):
    """Rows of the newest batch in folder, checked against its control file."""
    infos = sorted(folder.rglob("*.info"))
    control = ControlFile.from_json(infos[-1].read_text())
    rows = []
    for entry in control.files:
        data = (infos[-1].parent / entry.name).read_bytes()
        lines = gzip.decompress(data).decode().splitlines()
        assert len(lines) == entry.line_count
        rows.extend(parse_outbound_row(line) for line in lines)
    return parse_outbound_name(control.files[0].name), sorted(rows, key=lambda r: r.user_id)


def _campaign_destination(connection, out, segment_ids, *, split_rows):
    """Destination 46390: declared IDs of data source 7001, published to folder ``out``."""
    add_destination(
        connection,
        destination_id=46390,
        name="Campaign",
        drop_url=str(out),
        id_type="declared",
        data_source_id=7001,
        segment_ids=segment_ids,
        split_rows=split_rows,
    )


def test_publication_full_then_iter(people, tmp_path):
    """First a full batch of members, then iter batches of adds and removals only."""
    out = tmp_path / "import"
    drop = tmp_path / "export"
    write_inbound(
        drop,
        "ftp_dpm_7001_1764300000.sync",
        ["c1\td_sid=101", "c2\td_sid=101", "c3\td_sid=101,d_sid=103"],
    )
    ingest(people.people, FolderDrop(drop))
    with people.people.begin() as connection:
        add_segment(connection, segment_id=900, name="Shoe lovers", rule="T101 AND NOT T103")
        _campaign_destination(connection, out, [900], split_rows=1)
    first = publish(people.people, 46390, now_ms=1764300000000)
    name, rows = _read_batch(out)
    assert (first.full, name.full, name.master_dpid, len(first.files)) == (True, True, 7001, 3)
    # the reference's split naming: the first file unnumbered, the next one 001
    assert sorted(p.name for p in out.rglob("*.sync.gz")) == [
        f"{name.batch}.sync.gz",
        f"{name.batch}001.sync.gz",
    ]
    assert [(r.user_id, r.segments, r.removed) for r in rows] == [
        ("c1", (900,), ()),
        ("c2", (900,), ()),
    ]
    write_inbound(drop, "ftp_dpm_7001_1764300100.sync", ["c2\td_sid=103", "c3\td_unsid=103"])
    ingest(people.people, FolderDrop(drop))
    second = publish(people.people, 46390, now_ms=1764300100000)
    name, rows = _read_batch(out)
    assert (second.full, second.added, second.removed) == (False, 1, 1)
    assert [(r.user_id, r.segments, r.removed) for r in rows] == [
        ("c2", (), (900,)),
        ("c3", (900,), ()),
    ]
    third = publish(people.people, 46390, now_ms=1764300200000)
    assert (third.batch, third.rows) == (None, 0)
    with people.people.connect() as connection:
        assert get_segment(connection, 900)["size"] == 2


def test_publication_of_several_segments_splits_and_forced_full(people, tmp_path, monkeypatch):
    """One line per member with every segment it joins and leaves; files split at the
    row count across write blocks; a forced full batch after iters carries everyone."""
    from audiencehub.people import publication

    monkeypatch.setattr(publication, "_BLOCK_ROWS", 4)  # several blocks per file and per read
    out, drop = tmp_path / "import", tmp_path / "export"
    lines = [f"c{i:02d}\td_sid=101" + (",d_sid=102" if i % 2 else "") for i in range(11)]
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", lines)
    ingest(people.people, FolderDrop(drop))
    with people.people.begin() as connection:
        add_segment(connection, segment_id=900, name="a", rule="T101")
        add_segment(connection, segment_id=901, name="b", rule="T102")
        _campaign_destination(connection, out, [901, 900], split_rows=5)
    first = publish(people.people, 46390, now_ms=1764300000000)
    _, rows = _read_batch(out)
    assert (first.rows, first.added, first.removed, len(first.files)) == (11, 16, 0, 4)
    assert [(r.user_id, r.segments) for r in rows[:2]] == [("c00", (900,)), ("c01", (900, 901))]
    write_inbound(drop, "ftp_dpm_7001_1764300100.sync", ["c01\td_unsid=102", "c02\td_unsid=101"])
    ingest(people.people, FolderDrop(drop))
    second = publish(people.people, 46390, now_ms=1764300100000)
    _, rows = _read_batch(out)
    assert [(r.user_id, r.segments, r.removed) for r in rows] == [
        ("c01", (), (901,)),
        ("c02", (), (900,)),
    ]
    assert (second.added, second.removed) == (0, 2)
    forced = publish(people.people, 46390, force_full=True, now_ms=1764300200000)
    assert (forced.full, forced.rows, forced.added, forced.removed) == (True, 10, 0, 0)
    members = [
        parse_outbound_row(line).user_id
        for name in forced.files
        if not name.endswith(".info")
        for line in gzip.decompress((out / name).read_bytes()).decode().splitlines()
    ]
    assert members == [f"c{i:02d}" for i in range(11) if i != 2]
    assert publish(people.people, 46390, now_ms=1764300300000).rows == 0


def test_retention_forgets_inactive_customer_ids(people):
    """Customer IDs unseen for longer than the source's retention are removed."""
    _scenario(people)
    with people.people.begin() as connection:
        connection.execute(
            update(users)
            .where(users.c.external_id == "c1")
            .values(last_seen=datetime.now(UTC) - timedelta(days=721))
        )
        assert apply_retention(connection) == 1
        assert (
            connection.execute(
                select(func.count()).select_from(users).where(users.c.data_source_id == 7001)
            ).scalar_one()
            == 2
        )


def test_a_declared_id_resolves_to_its_most_recent_visitor(people):
    """When a declared ID maps to several visitor IDs, the most recent mapping wins."""
    from audiencehub.people.graph import visitor_for_declared

    now = datetime.now(UTC)
    with people.people.begin() as connection:
        devices = ensure_users(connection, DEVICE_NAMESPACE, [V1, V2])
        customer = ensure_users(connection, 7001, ["c1"])["c1"]
        link(connection, devices[V1], customer, AuthState.AUTHENTICATED, now - timedelta(days=1))
        link(connection, devices[V2], customer, AuthState.UNKNOWN, now)
        assert visitor_for_declared(connection, 7001, "c1") == V2
        link(connection, devices[V1], customer, AuthState.AUTHENTICATED, now + timedelta(seconds=1))
        assert visitor_for_declared(connection, 7001, "c1") == V1
        assert visitor_for_declared(connection, 7001, "nobody") is None


def test_a_bad_id_is_a_bad_line_and_never_blocks_the_queue(people, tmp_path):
    """A NUL, a line feed's neighbour (a control character) or an over-long ID is counted as a
    bad line, the rest of its batch applies, later batches apply, and no receipt quotes an ID."""
    drop = tmp_path / "export"
    secret = "s" * 600
    write_inbound(
        drop,
        "ftp_dpm_7001_1764300000.sync",
        ["c1\td_sid=101", "c\x002\td_sid=101", f"{secret}\td_sid=101", "c\x1f3\td_sid=101,ic=bags"],
    )
    write_inbound(drop, "ftp_dpm_7001_1764400000.sync", ["c4\td_sid=102"])
    first, second = ingest(people.people, FolderDrop(drop)).receipts
    assert (first.status, second.status) == ("applied", "applied")
    assert (first.records_received, first.format_errors, first.stored_records) == (4, 3, 1)
    assert _held(people, "c1") == {101} and _held(people, "c4") == {102}
    problems = " ".join(first.problems)
    assert "control characters" in problems and "at most 512" in problems
    assert "\x00" not in problems and secret not in problems and "c\x1f3" not in problems
