"""The people lake: atomic batches, two processes at once, history, upkeep, and the
columnar parser held to the reference parser.

Storage tests run on SQLite and PostgreSQL (the lake's catalog follows the people
database); the processes are real ones, killed or run side by side.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiencehub.drops import FolderDrop
from audiencehub.drops.staging import StagedBatch
from audiencehub.engines.session import BatchSession, DuckBatch
from audiencehub.engines.spark import SparkBatch, spark_session
from audiencehub.errors import InvalidInput
from audiencehub.formats.inbound import parse_inbound_row
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.destinations import add_destination
from audiencehub.people.inbound_rows import read_batch, read_files
from audiencehub.people.ingest import ingest
from audiencehub.people.lake import compact, history, reading
from audiencehub.people.materialise import ids_at, segment_at
from audiencehub.people.publication import publish
from audiencehub.people.receipts import receipt_page
from audiencehub.people.segments import add_segment, get_segment
from audiencehub.people.trait_index import TraitIndex
from audiencehub.people.traits import add_trait
from audiencehub.workspace import Workspace
from tests.helpers import held_traits, write_inbound

_ROOT = Path(__file__).resolve().parents[2]


def _batches(workspace) -> list[str]:
    with reading(workspace.people) as session:
        return sorted(
            row[0] for row in session.execute("SELECT batch FROM lake.batches").fetchall()
        )


def _realisations(workspace) -> list[tuple[int, int]]:
    with reading(workspace.people) as session:
        rows = session.execute("SELECT user_id, trait_id FROM lake.realisations").fetchall()
    return sorted((int(u), int(t)) for u, t in rows)


def _python(workspace: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter on the workspace (``sys.argv[1]``)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(workspace), *args],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        env={**os.environ, "PYTHONPATH": str(_ROOT / "src")},
        timeout=300,
        check=False,
    )


_KILLED_IN_BATCH = """
    import os, sys
    from pathlib import Path
    from audiencehub.drops import FolderDrop
    from audiencehub.people import ingest as module
    from audiencehub.workspace import open_workspace

    real = module.apply_effects

    def dies_after_writing(*args, **kwargs):
        real(*args, **kwargs)  # the batch's rows are written, not yet committed
        os._exit(9)

    module.apply_effects = dies_after_writing
    workspace = open_workspace(Path(sys.argv[1]))
    module.ingest(workspace.people, FolderDrop(Path(sys.argv[2])))
"""

_KILLED_AFTER_COMMIT = """
    import os, sys
    from pathlib import Path
    from audiencehub.drops import FolderDrop
    from audiencehub.people import ingest as module
    from audiencehub.workspace import open_workspace

    def dies(*args, **kwargs):
        os._exit(9)  # the lake committed the batch; its receipt never reached the database

    module._record = dies
    workspace = open_workspace(Path(sys.argv[1]))
    module.ingest(workspace.people, FolderDrop(Path(sys.argv[2])))
"""


def test_a_batch_killed_midway_leaves_the_previous_snapshot(people, tmp_path):
    """A process killed with the batch written but not committed leaves the lake as it was;
    killed after the commit, the next run records the receipt and applies nothing twice."""
    drop = tmp_path / "export"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync", ["c1\td_sid=101"])
    ingest(people.people, FolderDrop(drop))
    before, snapshots = _realisations(people), len(history(people.people, 1000))
    write_inbound(drop, "ftp_dpm_7001_1764300100.overwrite", ["c1\td_sid=102", "c2\td_sid=103"])
    killed = _python(people.path, _KILLED_IN_BATCH, str(drop))
    assert killed.returncode == 9, killed.stderr
    assert _realisations(people) == before
    assert len(history(people.people, 1000)) == snapshots  # nothing of it was committed
    assert _batches(people) == ["ftp_dpm_7001_1764300000.sync"]
    [again] = ingest(people.people, FolderDrop(drop)).receipts
    assert (again.status, again.stored_records) == ("applied", 2)
    assert held_traits(people.people, "c1") == {102}
    write_inbound(drop, "ftp_dpm_7001_1764300200.sync", ["c3\td_sid=101"])
    killed = _python(people.path, _KILLED_AFTER_COMMIT, str(drop))
    assert killed.returncode == 9, killed.stderr
    assert held_traits(people.people, "c3") == {101}  # committed in the lake
    assert ingest(people.people, FolderDrop(drop)).receipts == []  # not applied twice
    with people.people.connect() as connection:
        recorded = [r["batch"] for r in receipt_page(connection, None, 10)]
    assert "ftp_dpm_7001_1764300200.sync" in recorded  # its receipt copied from the lake


def test_a_command_and_the_scheduler_ingest_at_the_same_time(people, tmp_path):
    """Two processes ingesting the same drop at once: the second waits for the lake's
    writer, then skips what the first applied; every batch lands exactly once."""
    drop = tmp_path / "export"
    for number in range(6):
        write_inbound(
            drop,
            f"ftp_dpm_7001_17643{number:05d}.sync",
            [f"c{number}-{i}\td_sid=101" for i in range(2000)],
        )
    environment = {
        **os.environ,
        "PYTHONPATH": str(_ROOT / "src"),
        "AUDIENCEHUB_PEOPLE_INBOUND_DROP": str(drop),
    }
    command = [sys.executable, "-m", "audiencehub"]
    started = [
        subprocess.Popen(
            [*command, "people", "ingest", "--from", str(drop), "--json", "-w", str(people.path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        ),
        subprocess.Popen(
            [*command, "people", "jobs", "run", "ingest", "--json", "-w", str(people.path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        ),
    ]
    outputs = [process.communicate(timeout=300) for process in started]
    assert [p.returncode for p in started] == [0, 0], [err for _, err in outputs]
    command_receipts = json.loads(outputs[0][0])
    job_receipts = json.loads(outputs[1][0])["receipts"]
    applied = sorted(r["batch"] for r in [*command_receipts, *job_receipts])
    assert applied == sorted(f"ftp_dpm_7001_17643{n:05d}.sync" for n in range(6))
    assert all(r["status"] == "applied" for r in [*command_receipts, *job_receipts])
    assert len(_batches(people)) == 6 and len(_realisations(people)) == 12_000


def test_a_segment_can_be_read_as_it_was(people, segment_history):
    """Every materialisation is a snapshot: the segment as it was at an earlier moment is
    answered from the lake's history, its size and its IDs, by the core (the CLI, the API
    and the pages ask it)."""
    moment, drop = segment_history
    write_inbound(drop, "ftp_dpm_7001_1764300200.sync", ["c4\td_sid=101"])
    ingest(people.people, FolderDrop(drop))
    with people.people.connect() as connection:
        assert get_segment(connection, 900)["size"] == 3
    then = segment_at(people.people, 900, moment)
    assert (then.size, list(ids_at(people.people, then))) == (2, ["c1", "c2"])
    with pytest.raises(Exception, match="no snapshot"):
        segment_at(people.people, 900, datetime(2000, 1, 1, tzinfo=UTC))


def test_compaction_merges_files_and_keeps_what_is_read(people, tmp_path):
    """Many small batches leave many files; compaction merges them and expires old
    snapshots, and every realisation, membership and published row is still there."""
    drop, out = tmp_path / "export", tmp_path / "import"
    with people.people.begin() as connection:
        add_segment(connection, segment_id=900, name="Shoes", rule="T101")
        add_destination(
            connection,
            destination_id=1,
            name="c",
            drop_url=str(out),
            id_type="declared",
            data_source_id=7001,
            segment_ids=[900],
        )
    for number in range(8):
        write_inbound(drop, f"ftp_dpm_7001_17643{number:05d}.sync", [f"c{number}\td_sid=101"])
    ingest(people.people, FolderDrop(drop))
    publish(people.people, 1)
    before = _realisations(people)
    done = compact(people.people, history_days=1, now=datetime(2100, 1, 1, tzinfo=UTC))
    assert done.files_merged > 1 and done.snapshots_expired > 0
    assert _realisations(people) == before
    with people.people.connect() as connection:
        assert get_segment(connection, 900)["size"] == 8
    assert publish(people.people, 1).rows == 0  # the published state survived


# --- the columnar parser against the reference parser -----------------------------------

_INDEX = TraitIndex(ids={101, 102}, elsewhere={201}, codes={"bags": 102, "7": 101})
_INDEX.rules = {104: {"gender": "female"}}
_INDEX.rule_pairs = {("gender", "female")}

_PIECES = st.sampled_from(
    ["c1", "c:2", "c%3A3", "", " ", "\t", ",", "d_sid=101", "d_sid=201", "d_sid=0101",
     "d_sid=x", "d_unsid=102", "ic=bags", "ic=", "ic=a b", "7", "101:0", "102:-1", "x:-1",
     '"gender"="female"', '"Gender"="FEMALE"', '"k"="v', '-"k"="v"', '""="v"', "k=v",
     "=", '"a,b"="c"', "'", "\\", "é", "\x0b", "\x1f", "\x00", "--k=v", "d_sid=1" * 3,
     "\xa0", "\u2003", "\u212a", "\u0663", "ß", "\U0001f600", '"São"="Zoë"', "k=\u0130"]
)  # fmt: skip
_LINE = st.lists(_PIECES, max_size=8).map("".join)


def _reference(lines: list[str]) -> tuple[list[object], list[object], list[object]]:
    out_lines, refs, pairs = [], [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = parse_inbound_row(line)
        except InvalidInput as exc:
            out_lines.append((number, None, exc.message))
            continue
        out_lines.append((number, row.user_id, None))
        for removal, found in ((False, row.realize), (True, row.remove)):
            for ref in found:
                trait_id, foreign = _INDEX.resolve(ref)
                refs.append((number, removal, trait_id, foreign))
        for key, values in row.signals.items():
            for value in values:
                pairs.append((number, key, value, _INDEX.tested(key, value)))
    return sorted(out_lines, key=str), sorted(refs, key=str), sorted(pairs, key=str)


def _read_back(session: BatchSession) -> tuple[list[object], list[object], list[object]]:
    got_lines = session.rows("SELECT k, user_id, error FROM in_lines")
    good = "WHERE k IN (SELECT k FROM in_lines WHERE error IS NULL)"
    got_refs = session.rows(f"SELECT k, removal, trait_id, foreign_ FROM in_refs {good}")
    got_pairs = session.rows(f"SELECT k, key, value, tested FROM in_pairs {good}")
    return sorted(got_lines, key=str), sorted(got_refs, key=str), sorted(got_pairs, key=str)


def _write_lines(folder: Path, lines: list[str]) -> Path:
    path = folder / "batch.sync"
    path.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))
    return path


def _columnar(folder: Path, lines: list[str]) -> tuple[list[object], list[object], list[object]]:
    path = _write_lines(folder, lines)
    connection = duckdb.connect()
    try:
        session = DuckBatch(connection)
        assert read_files(session, [path], _INDEX)
        return _read_back(session)
    finally:
        connection.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, min_size=1, max_size=12))
def test_the_columnar_parser_reads_what_the_reference_reads(tmp_path_factory, lines):
    """Every line gets the reference parser's verdict, message, references and key-values."""
    lines = [line.replace("\n", "").replace("\r", "").replace("\x01", "") for line in lines]
    expected = _reference(lines)
    got = _columnar(tmp_path_factory.mktemp("lines"), lines)
    assert got == expected


def test_every_line_only_python_reads_is_read_however_many(tmp_path):
    """Lines whose user ID is beyond ASCII go to the reference parser a block at a time,
    each block added to the tables before the next is read: more of them than a block
    holds are all read, none lost."""
    lines = [
        f'zoë-{number}\td_sid=101,"name"="Zoë"' if number % 3 else f"{number:038d}\t7"
        for number in range(1, 130_001)
    ]
    got = _columnar(tmp_path, lines)
    assert len(got[0]) == len(lines)
    assert got == _reference(lines)


_UNICODE_LINES = [
    'c1\t"São"="Zoë",d_sid=101',  # an ASCII ID: read in SQL, the items judged in Python
    "c2\td_sid=102,\u0663,\u212a=v,k=\u0130\u0130",  # Arabic-Indic 3, Kelvin sign, İ
    "c3\t \xa0d_sid=101\u2003,ß",  # white space to Python only, around an item
    "\xa0\td_sid=101",  # a non-breaking space is an ID
    "\t\xa0",  # blank to Python: skipped
    " \t\u2003 ",
    "c:4\t\U0001f600",
    'c5\t"ß',
    "\u00e9" * 513 + "\td_sid=101",  # 513 characters, 1,026 bytes
    "c6\td_sid=101," + "é" * 60_000,  # over 102,400 bytes, under as many characters
]


def test_lines_beyond_ascii_read_in_sql_get_the_reference_s_verdicts(tmp_path):
    """A line beyond ASCII with an ASCII user ID is read in SQL: it gets the reference
    parser's verdicts; the others go to the parser itself."""
    assert _columnar(tmp_path, _UNICODE_LINES) == _reference(_UNICODE_LINES)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, min_size=1, max_size=30))
def test_spark_parses_what_the_reference_parses(tmp_path_factory, spark_settings, lines):
    """The same lines read by Spark (its own line numbering, Java's regular expressions)
    get the same verdicts, messages, references and key-values."""
    lines = [line.replace("\n", "").replace("\r", "").replace("\x01", "") for line in lines]
    folder = tmp_path_factory.mktemp("spark-lines")
    staged = StagedBatch((_write_lines(folder, lines),), (), plain_lines=True)
    session = SparkBatch(spark_session(spark_settings), folder)
    try:
        read_batch(session, staged, _INDEX)
        assert _read_back(session) == _reference(lines)
    finally:
        session.close()


def test_the_lake_may_keep_its_files_on_s3(sqlite_workspace, s3_endpoint, aws_env, tmp_path):
    """With ``people_lake_path`` on S3 (here the local S3 server, over HTTP) the batches,
    memberships and published state are Parquet objects in the bucket; the catalog stays
    beside the people database."""
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="lake")
    settings = sqlite_workspace.settings.model_copy(
        update={"people_lake_path": "s3://lake/people/", "s3_endpoint_url": s3_endpoint}
    )
    workspace = Workspace(settings)
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_trait(connection, trait_id=101, name="Shoes", data_source_id=7001)
        add_segment(connection, segment_id=900, name="Shoes", rule="T101")
    drop = tmp_path / "export"
    write_inbound(drop, "ftp_dpm_7001_1764300000.sync.gz", ["c1\td_sid=101", "c2\td_sid=101"])
    [receipt] = ingest(workspace.people, FolderDrop(drop)).receipts
    assert (receipt.status, receipt.stored_records) == ("applied", 2)
    assert held_traits(workspace.people, "c1") == {101}
    with workspace.people.connect() as connection:
        assert get_segment(connection, 900)["size"] == 2
    listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="lake")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any(k.startswith("people/main/realisations/") and k.endswith(".parquet") for k in keys)
    assert not (Path(settings.workspace) / "people_lake").exists()
    workspace.dispose()


def test_the_memory_limit_comes_from_the_settings(sqlite_workspace):
    """Every bulk job's DuckDB is held to ``bulk_memory_limit`` (1 GB when unset)."""
    with reading(sqlite_workspace.people) as session:
        [(default,)] = session.execute("SELECT current_setting('memory_limit')").fetchall()
    settings = sqlite_workspace.settings.model_copy(update={"bulk_memory_limit": "300MB"})
    workspace = Workspace(settings)
    with reading(workspace.people) as session:
        [(limited,)] = session.execute("SELECT current_setting('memory_limit')").fetchall()
    workspace.dispose()
    assert (default, limited) == ("953.6 MiB", "286.1 MiB")


def test_a_large_batch_fits_a_small_memory_limit(sqlite_workspace, tmp_path, monkeypatch):
    """DuckDB cannot spill a list aggregate's state: the key-values of 100,000 users,
    gathered in one statement, overran a 64 MB limit (as 50 million lines overran 1 GB);
    gathered a part of the users at a time, they fit. The publication to a destination
    of two segments lists each member's segments from per-segment flags, which spill
    (lists of segments overran 1 GB at 20 million members; not at this size). The
    joins of users with the graph go a part of the users at a time (50 million users
    overran 1 GB): here in five parts, as if each user took 2.6 KB."""
    monkeypatch.setattr("audiencehub.engines.session._BYTES_PER_USER", 2_600)
    settings = sqlite_workspace.settings.model_copy(update={"bulk_memory_limit": "64MB"})
    workspace = Workspace(settings)
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        for trait_id, gender in ((104, "f"), (105, "m")):
            add_trait(
                connection, trait_id=trait_id, name=gender, data_source_id=7001,
                rule={"gender": gender},
            )  # fmt: skip
        add_segment(connection, segment_id=900, name="women", rule="T104")
        add_segment(connection, segment_id=901, name="everyone", rule="T104 OR T105")
        add_segment(connection, segment_id=902, name="not women", rule="NOT T104")
        add_destination(
            connection, destination_id=1, name="CRM", drop_url=str(tmp_path / "out"),
            id_type="declared", data_source_id=7001, segment_ids=[901, 900],
        )  # fmt: skip
    users = 100_000
    lines = [f'c{i}\t"gender"="{"fm"[i % 2]}","age"="{i % 90}","age"="x"' for i in range(users)]
    write_inbound(tmp_path / "in", "ftp_dpm_7001_1764300000.sync", lines)
    [receipt] = ingest(workspace.people, FolderDrop(tmp_path / "in")).receipts
    assert (receipt.status, receipt.stored_records, receipt.total_signals) == (
        "applied",
        users,
        3 * users,
    )
    with reading(workspace.people) as session:
        [(rows, people)] = session.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM lake.signals"
        ).fetchall()
        found = session.execute(
            "SELECT s.key, s.value_list FROM lake.signals s JOIN lake.graph_users g "
            "ON g.id = s.user_id WHERE g.external_id = 'c7' ORDER BY s.key"
        ).fetchall()
    assert (rows, people) == (2 * users, users)
    assert found == [("age", ["7", "x"]), ("gender", ["m"])]
    with workspace.people.connect() as connection:
        sizes = [get_segment(connection, s)["size"] for s in (900, 901, 902)]
    assert sizes == [users // 2, users, users // 2]
    assert publish(workspace.people, 1).rows == users
    [data] = (tmp_path / "out").rglob("*.gz")
    published = gzip.decompress(data.read_bytes()).decode().splitlines()
    workspace.dispose()
    assert published[:3] == ["c0 900,901 ", "c1 901 ", "c10 900,901 "]
    assert len(published) == users
