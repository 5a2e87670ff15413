"""Ingest, segments and publication on Spark give what DuckDB gives, byte for byte.

One people workspace is set up (sources, traits, links, opt-outs, segments,
destinations), copied, and the copy bound to Spark in local mode. Both then
ingest the same batches: split and gzip files, removals (the lake gets
positional delete files Spark must honour), an overwrite, key-values and rule
traits, non-ASCII and broken lines, a file with CR line ends (the reference
reader's path), unknown visitor IDs, an empty file. Both materialise every
segment and publish to two destinations, full, then iter after more batches and
new opt-outs and links. The segments cover the three merge rules, a rule IDs
without traits meet (``NOT``), more than 64 traits (two mask words, and bit 63,
Spark's sign bit) and opt-outs of both kinds. Receipts, the lake's rows, members,
sizes, the published files and the published state must be the same.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audiencehub.drops import FolderDrop
from audiencehub.engines.spark import bind_spark
from audiencehub.identity import AuthState
from audiencehub.people.data_sources import DEVICE_NAMESPACE
from audiencehub.people.destinations import add_destination
from audiencehub.people.graph import ensure_users, link, opt_out
from audiencehub.people.ingest import ingest
from audiencehub.people.lake import compact, lake_for, reading
from audiencehub.people.materialise import materialise
from audiencehub.people.publication import publish
from audiencehub.people.segments import MergeRule, add_segment
from audiencehub.people.traits import add_trait
from audiencehub.workspace import open_workspace
from tests.helpers import spark_submit, write_inbound

MANY = range(1000, 1070)  # 70 traits: two mask words
CUSTOMERS = 40


def _visitor(i: int) -> str:
    return f"{i + 1:038d}"


def _line(i: int) -> str:
    traits = [f"d_sid={t}" for t in MANY if (i * 7 + t) % 5 == 0]
    traits += ["d_sid=101"] if i % 2 else ["d_sid=102"]
    return f"c{i:02d}\t" + ",".join(traits)


def _set_up(workspace, out):
    """Traits, the graph's devices, customers, links and opt-outs, segments, destinations."""
    with workspace.people.begin() as connection:
        for trait_id in MANY:
            add_trait(connection, trait_id=trait_id, name=f"t{trait_id}", data_source_id=7001)
    now = datetime.now(UTC)
    with workspace.people.begin() as connection:
        devices = ensure_users(
            connection, DEVICE_NAMESPACE, [_visitor(i) for i in range(CUSTOMERS)]
        )
        customers = ensure_users(connection, 7001, [f"c{i:02d}" for i in range(0, CUSTOMERS, 2)])
        for i in range(0, CUSTOMERS, 2):
            state = AuthState.AUTHENTICATED if i % 4 else AuthState.UNKNOWN
            link(connection, devices[_visitor(i)], customers[f"c{i:02d}"], state, now)
            # a second, later login for some devices: last-authenticated picks this one
            other = customers[f"c{(i + 6) % CUSTOMERS:02d}"]
            moment = now - timedelta(hours=i % 3)
            link(connection, devices[_visitor(i)], other, AuthState.AUTHENTICATED, moment)
        opt_out(connection, _visitor(6))
        opt_out(connection, _visitor(11), data_source_id=7001)
    rules = {
        900: ("T101", MergeRule.DEVICE),
        901: ("T101 AND NOT T102", MergeRule.ALL_CROSS_DEVICE),
        902: ("T1063 OR T1069", MergeRule.LAST_AUTHENTICATED),  # bit 63, and word 1
        903: ("NOT T1005", MergeRule.DEVICE),  # every ID without it, traits or none
        904: ("(T1000 AND T1064) OR (T1063 AND NOT T101) OR T104", MergeRule.ALL_CROSS_DEVICE),
    }
    with workspace.people.begin() as connection:
        for segment_id, (rule, merge) in rules.items():
            add_segment(
                connection,
                segment_id=segment_id,
                name=f"s{segment_id}",
                rule=rule,
                merge_rule=merge,
            )
        add_destination(
            connection,
            destination_id=1,
            name="Campaign",
            drop_url=str(out / "to-campaign"),
            id_type="declared",
            data_source_id=7001,
            segment_ids=[900, 902, 904],
            split_rows=7,
        )
        add_destination(
            connection,
            destination_id=2,
            name="Web",
            drop_url=str(out / "to-web"),
            id_type="visitor",
            segment_ids=[903],
            split_rows=1000,
        )


def _first_batches(drop):
    """New customers and traits (split, one part gzip), bad lines, an empty file, then
    removals and key-values in a second batch, visitor IDs known and not, and users with
    more lines than the limit."""
    lines = [_line(i) for i in range(CUSTOMERS)]
    lines += [
        "",
        "no-tab-here",
        "c99\td_sid=1001,,d_sid=999999",
        "c:98\td_sid=1001",
        "cé\td_sid=101",
    ]
    lines += ['c97\t"gender"="female",d_sid=201', 'c96\td_sid=1002,"k"="v']
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", lines[:25])
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync.1.gz", lines[25:])
    write_inbound(drop, "ftp_dpm_7002_1764300001.sync", [])  # refused: empty
    write_inbound(
        drop,
        "ftp_dpm_7001_1764300100.sync",  # removals: delete files in the lake
        [f"c{i:02d}\td_unsid=101,d_unsid=1005" for i in range(0, CUSTOMERS, 3)]
        + [f'c{i:02d}\t"Gender"="FEMALE","city"="Zürich"' for i in range(0, CUSTOMERS, 5)]
        + ['c01\t"gender"="male"', 'c02\t"city"="Straße","gender"="female"']
        + ['c05\t"k"="b","k"="a","j"="x"', 'c05\t"k"="c","k"="b"'],  # values keep their order
    )
    write_inbound(
        drop,
        "ftp_dpm_7002_1764300150.sync",
        [f"{_visitor(i)}\td_sid=201" for i in range(0, CUSTOMERS, 4)]
        + [f"{9:038d}9\td_sid=201", f"{99999:038d}\td_sid=201"],
    )
    # more than 200 lines for one user ID: a known customer, one created by the batch, a
    # known visitor and an unknown one; the lines past the 200th are refused, in order
    write_inbound(
        drop,
        "ftp_dpm_7001_1764300170.sync",
        [f"c07\td_sid={1000 + i % 70}" for i in range(203)]
        + [f"c77\td_sid={1000 + i % 11}" for i in range(202)],
    )
    write_inbound(
        drop,
        "ftp_dpm_7002_1764300180.sync",
        [f"{_visitor(4)}\td_sid=201"] * 201 + [f"{88888:038d}\td_sid=201"] * 202,
    )
    # CR line ends: read by the reference reader on both engines
    (drop / "ftp_dpm_7001_1764300160.sync").write_bytes(b"c03\td_sid=1010\r\nc04\td_sid=1011\r\n")


def _later_batches(drop):
    """An overwrite, more removals and new traits: the next publication is an iter."""
    write_inbound(
        drop,
        "ftp_dpm_7001_1764300200.sync",
        [f"c{i:02d}\td_sid=1063,d_unsid=102,d_unsid=101" for i in range(1, CUSTOMERS, 4)],
    )
    write_inbound(
        drop,
        "ftp_dpm_7001_1764300300.overwrite.gz",
        [f"c{i:02d}\td_sid=1064,d_sid=1000" for i in range(0, CUSTOMERS, 7)],
    )


def _change(workspace):
    """A new opt-out and a new link."""
    with workspace.people.begin() as connection:
        opt_out(connection, _visitor(21), data_source_id=7001)
        devices = ensure_users(connection, DEVICE_NAMESPACE, [_visitor(3)])
        customers = ensure_users(connection, 7001, ["c30"])
        moment = datetime.now(UTC)
        link(connection, devices[_visitor(3)], customers["c30"], AuthState.AUTHENTICATED, moment)


def _receipts(run):
    timeless = []
    for receipt in run.receipts:
        fields = dataclasses.asdict(receipt)
        fields.pop("started_at")
        fields.pop("ended_at")
        timeless.append(fields)
    return timeless, run.unrecognised


def _lake_rows(workspace):
    with reading(workspace.people) as session:
        return [
            sorted(session.execute(query).fetchall())
            for query in (
                "SELECT g.external_id, r.trait_id FROM lake.realisations r "
                "JOIN lake.graph_users g ON g.id = r.user_id",
                "SELECT g.external_id, s.key, s.value_list FROM lake.signals s "
                "JOIN lake.graph_users g ON g.id = s.user_id",
                "SELECT ns, external_id FROM lake.graph_users",
            )
        ]


def _memberships(workspace):
    with reading(workspace.people) as session:
        return sorted(
            session.execute(
                "SELECT m.segment_id, g.external_id FROM lake.memberships m "
                "JOIN lake.graph_users g ON g.id = m.user_id"
            ).fetchall()
        )


def _published(workspace):
    with reading(workspace.people) as session:
        return sorted(session.execute("SELECT * FROM lake.published").fetchall())


def _files(root, publication):
    found = []
    for name in publication.files:
        data = (root / name).read_bytes()
        found.append((name, gzip.decompress(data) if name.endswith(".gz") else data))
    return found


def _run(workspace, drop, out, moment):
    ingested = _receipts(ingest(workspace.people, FolderDrop(drop), refresh_segments=False))
    sizes = materialise(workspace.people)
    found = []
    for destination, folder in ((1, "to-campaign"), (2, "to-web")):
        p = publish(workspace.people, destination, now_ms=moment)
        found.append((p.full, p.rows, p.added, p.removed, _files(out / folder, p)))
    return ingested, _lake_rows(workspace), sizes, _memberships(workspace), found


def _deletes(workspace):
    with reading(workspace.people) as session:
        [(deletes,)] = session.execute(
            "SELECT count(delete_file) FROM ducklake_list_files('lake', 'realisations')"
        ).fetchall()
    return deletes


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_ingest_segments_and_publication_on_spark_match_duckdb(people, tmp_path, spark_settings):
    _set_up(people, tmp_path / "out")
    people.dispose()
    shutil.copytree(people.path, tmp_path / "on-spark")
    duck, spark = people, open_workspace(tmp_path / "on-spark")
    bind_spark(spark.people, spark_settings)
    try:
        runs = {}
        for name, ws in (("duckdb", duck), ("spark", spark)):
            inbox, out = tmp_path / f"inbox-{name}", tmp_path / "out"
            # the destinations' folders are the same for both: each run publishes afresh
            shutil.rmtree(out, ignore_errors=True)
            _first_batches(inbox)
            first = _run(ws, inbox, out, 1764300300000)
            assert _deletes(ws) > 0  # Spark must apply the removals' delete files
            _later_batches(inbox)
            _change(ws)
            second = _run(ws, inbox, out, 1764300400000)
            runs[name] = (first, second, _published(ws))
        ours, theirs = runs["duckdb"], runs["spark"]
        (receipts, _), _, sizes, members, publications = ours[0]
        assert [r["status"] for r in receipts].count("refused") == 1
        # three broken lines, and 3 + 2 + 1 + 2 lines past their user's 200th
        assert sum(r["format_errors"] for r in receipts) == 3 + 8
        crowded = [p for r in receipts for p in r["problems"] if "more than 200 lines" in p]
        assert crowded and crowded[0].endswith(" line 201: more than 200 lines for one user ID")
        assert any(r["no_matching_id"] for r in receipts) and any(
            r["invalid_ids"] for r in receipts
        )
        assert all(sizes.values()) and len(set(sizes.values())) > 2  # a real mix of segments
        assert publications[0][0] and publications[0][4][0][1]  # a full batch with rows
        later = ours[1][4]
        assert not later[0][0] and later[0][2] and later[0][3]  # an iter: joins and leaves
        assert {row[0] for row in members} == set(sizes)
        for step, (mine, its) in enumerate(zip(ours, theirs, strict=True)):
            assert its == mine, f"step {step}"
    finally:
        spark.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_spark_files_become_lake_files(people, tmp_path, spark_settings):
    """What Spark writes is registered in the lake's own folder, and compaction may later
    merge and remove it like any file the lake wrote itself."""
    _set_up(people, tmp_path / "out")
    bind_spark(people.people, spark_settings)
    _first_batches(tmp_path / "inbox")
    ingest(people.people, FolderDrop(tmp_path / "inbox"))
    with reading(people.people) as session:
        files = [
            row[0]
            for row in session.execute(
                "SELECT data_file FROM ducklake_list_files('lake', 'memberships')"
            ).fetchall()
        ]
    folder = lake_for(people.people).data_path
    assert files and all(f.startswith(folder) and "/spark-" in f for f in files)
    assert not list((tmp_path / "ws").rglob("_SUCCESS"))
    members = _memberships(people)
    materialise(people.people)  # the first files are now replaced
    # what a job cut short between Spark's write and the commit leaves (on S3, where
    # the job cannot remove it itself)
    stray = Path(folder) / "main" / "memberships" / "spark-cut-short" / "part-0.parquet"
    stray.parent.mkdir()
    shutil.copy(files[0], stray)
    done = compact(people.people, history_days=0, now=datetime.now(UTC) + timedelta(seconds=1))
    assert done.files_deleted >= len(files)
    assert done.orphans_deleted == 1 and not stray.exists()
    assert not [f for f in files if Path(f).exists()]
    assert _memberships(people) == members


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_ingest_submitted_to_spark_writes_the_lake(people, tmp_path):
    """``spark-submit`` of ``people ingest``, in a JVM of its own as on a cluster: the
    batch is checked and applied on Spark, whose files become the lake's, and the
    segments it refreshes are Spark's too."""
    with people.people.begin() as connection:
        add_segment(connection, segment_id=900, name="shoes", rule="T101")
    lines = ["c1\td_sid=101,ic=bags", "c2\td_sid=103", "c3 d_sid=101", "c4\td_sid=999"]
    write_inbound(tmp_path / "inbox", "ftp_dpm_7001_1764300000.sync", lines)
    done = spark_submit(
        "people", "ingest", "--from", str(tmp_path / "inbox"), "--workspace", str(people.path),
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    [receipt] = json.loads(done.stdout[done.stdout.index("[") :])  # after any warning printed
    assert receipt["status"] == "applied", receipt
    assert (receipt["records_received"], receipt["format_errors"]) == (4, 1)
    assert (receipt["realized_traits"], receipt["no_trait_realized"]) == (3, 1)
    assert "log4j" in done.stderr  # Spark's driver started (and printed its logging setup)
    folder = lake_for(people.people).data_path
    with reading(people.people) as session:
        for table in ("realisations", "memberships"):
            [(files,)] = session.execute(
                f"SELECT list(data_file) FROM ducklake_list_files('lake', '{table}')"
            ).fetchall()
            assert files and all(f.startswith(folder) and "/spark-" in f for f in files), table
        members = session.execute(
            "SELECT g.external_id FROM lake.memberships m JOIN lake.graph_users g "
            "ON g.id = m.user_id WHERE m.segment_id = 900"
        ).fetchall()
    assert members == [("c1",)]
