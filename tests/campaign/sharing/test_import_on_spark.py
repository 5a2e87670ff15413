"""importSharedAudience on Spark gives what it gives on DuckDB, batch for batch.

One campaign workspace is built, copied, and the copy bound to Spark in local
mode; both then import the same batches: a full batch split over several
files, an iter batch with removals, a batch whose lines are not plain (read
line by line), and a full batch that overwrites. Every report and every
audience's members must be the same on both engines.
"""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

from audiencehub.campaign import UpsertKey, import_profiles
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import (
    audience_addresses,
    audience_members,
    audiences,
    shared_data_sources,
    visitor_links,
)
from audiencehub.campaign.sharing.data_sources import (
    Channel,
    Encryption,
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
)
from audiencehub.campaign.sharing.import_job import run_import
from audiencehub.campaign.sharing.shared_audiences import create_shared_audience
from audiencehub.drops import FolderDrop
from audiencehub.engines.spark import bind_spark
from audiencehub.formats import ControlFile, LineWriter, OutboundName
from audiencehub.identity import AesCbcCipher, HashScheme, IdKind, hash_id
from audiencehub.workspace import open_workspace
from tests.helpers import an_admin

DID = 46390
KEY, IV = "00" * 16, "11" * 16
PEOPLE = 40


def _write(folder: Path, lines: list[str], *, full: bool, ts: int, split: int) -> None:
    """An outbound batch of raw ``lines`` (malformed ones included), split over files."""
    base = OutboundName(ts, None, DID, 7001, "people", full)
    entries = []
    chunks = [lines[i : i + split] for i in range(0, len(lines), split)]
    for sequence, chunk in enumerate(chunks):
        name = OutboundName(ts, sequence or None, DID, 7001, "people", full)
        with (folder / str(name)).open("wb") as sink:
            writer = LineWriter(sink, str(name), sequence + 1, compress=True)
            writer.write_lines(chunk)
            entries.append(writer.close())
    (folder / base.info_name).write_text(ControlFile(base.info_name, tuple(entries)).to_json())


def _email(i: int) -> str:
    return f"person{i}@example.com"


def _batches(folder: Path) -> None:
    folder.mkdir()
    aam = [hash_id(_email(i), HashScheme.AAM, IdKind.EMAIL) for i in range(PEOPLE)]
    google = [hash_id(_email(i), HashScheme.GOOGLE, IdKind.EMAIL) for i in range(PEOPLE)]
    cipher = AesCbcCipher.from_hex(KEY, IV)
    visitors = [f"{i:038d}" for i in range(1, 6)]
    first = [
        *(f"{aam[i]}\t900,901" for i in range(0, 12)),
        *(f"{aam[i].upper()} 902" for i in range(12, 16)),  # hex in upper case
        *(f"{google[i]}\t903" for i in range(16, 22)),  # base64 digests
        *(f"C{i} 900" for i in range(22, 26)),  # CRM ids, the first source
        *(f"{v}\t904" for v in visitors),
        f"{'9' * 38}\t904",  # a visitor ID past the largest half: invalid
        "12345\t904",
        *(f"{cipher.encrypt(_email(i))}\t905" for i in range(26, 30)),
        f"{cipher.encrypt('nobody@example.org')}\t905",  # decrypts, no profile
        f"{hash_id('stranger@example.org', HashScheme.AAM, IdKind.EMAIL)}\t900",
        "not-a-hash\t900",
        "a b c d",  # four fields: a format error
        f"{aam[3]}\t0",  # segment 0: a format error
        "",
        "   ",
        f"{aam[5]}\t900,901\t",  # an empty removed list
    ]
    _write(folder, first, full=True, ts=1764300000000, split=7)
    second = [
        f"{aam[0]}\t\t900",  # removed from 900
        f"{aam[1]}\t901\t900",  # removed from 900, kept in 901
        f"{aam[30]}\t900",
        f"{aam[2]}\t900\t900",  # both: kept
        f"{google[16]}\t\t903",
        f"{visitors[0]}\t\t904",
        f"{cipher.encrypt(_email(26))}\t\t905",
    ]
    _write(folder, second, full=False, ts=1764300600000, split=3)
    not_plain = [f"{aam[31]}\t900\r", "C23\t900\t900", "caf\u00e9\t900"]
    _write(folder, not_plain, full=False, ts=1764301200000, split=2)
    last = [
        *(f"{aam[i]}\t900" for i in range(8, 14)),
        *(f"{v}\t904" for v in visitors[2:]),
        f"{cipher.encrypt(_email(28))}\t905",
        f"{cipher.encrypt('other@example.org')}\t905",
    ]
    _write(folder, last, full=True, ts=1764301800000, split=4)


def _campaign(workspace, tmp_path: Path) -> None:
    data = tmp_path / "profiles.csv"
    with data.open("w", newline="") as handle:
        rows = [["crm_id", "email"]] + [[f"C{i}", _email(i)] for i in range(PEOPLE)]
        rows.append(["C99", _email(7).upper()])  # a second profile sharing an email
        csv.writer(handle).writerows(rows)
    import_profiles(workspace.campaign, data, key=UpsertKey.CRM_ID)
    vault = KeyVault(workspace.path)
    now = datetime.now(UTC)
    with workspace.campaign.begin() as connection:
        admin = an_admin(connection)

        def source(**options) -> str:
            made = add_shared_data_source(
                connection, vault, label="S", destination_id=DID, **options
            )
            accept_terms(connection, made["id"], admin)
            return str(made["id"])

        crm = source(key=ReconciliationKey.CRM_ID, priority=10)
        aam = source(key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM, priority=5)
        google = source(key=ReconciliationKey.EMAIL, hashing=HashScheme.GOOGLE, priority=4)
        encrypted = source(
            key=ReconciliationKey.EMAIL,
            channel=Channel.EMAIL,
            encryption=Encryption.AES_CBC,
            enc_key=KEY,
            enc_iv=IV,
            priority=2,
        )
        connection.execute(
            update(shared_data_sources)
            .where(shared_data_sources.c.id == "defaultDataSource")
            .values(destination_id=DID)
        )
        accept_terms(connection, "defaultDataSource", admin)
        connection.execute(
            insert(visitor_links),
            [
                {"visitor_id": f"{i:038d}", "profile_id": i, "linked_at": now - timedelta(days=i)}
                for i in range(1, 6)
            ]
            + [{"visitor_id": f"{2:038d}", "profile_id": 9, "linked_at": now}],  # latest wins
        )
        for name, segment, source_id, force in [
            ("By CRM", 900, crm, True),
            ("Hashed", 901, aam, True),
            ("Upper hex", 902, aam, True),
            ("Base64", 903, google, True),
            ("Visitors", 904, "defaultDataSource", True),
            ("Decrypted", 905, encrypted, False),  # a file audience: every address
        ]:
            create_shared_audience(
                connection,
                name=name,
                segment_id=segment,
                data_source_id=source_id,
                force_profile=force,
            )


def _state(workspace) -> dict[str, object]:
    with workspace.campaign.connect() as connection:
        names = dict(connection.execute(select(audiences.c.id, audiences.c.name)).all())
        members = connection.execute(
            select(audience_members.c.audience_id, audience_members.c.profile_id)
        ).all()
        addresses = connection.execute(
            select(
                audience_addresses.c.audience_id,
                audience_addresses.c.address,
                audience_addresses.c.profile_id,
            )
        ).all()
    return {
        "members": sorted((names[a], p) for a, p in members),
        "addresses": sorted((names[a], address, p) for a, address, p in addresses),
    }


def test_every_batch_gives_the_same_reports_and_members(sqlite_workspace, tmp_path, spark_settings):
    _campaign(sqlite_workspace, tmp_path)
    sqlite_workspace.dispose()
    shutil.copytree(sqlite_workspace.path, tmp_path / "on-spark")
    duck, spark = sqlite_workspace, open_workspace(tmp_path / "on-spark")
    bind_spark(spark.campaign, spark_settings)
    _batches(tmp_path / "drop")
    shutil.copytree(tmp_path / "drop", tmp_path / "drop-spark")
    try:
        runs = [
            run_import(ws.campaign, KeyVault(ws.path), FolderDrop(drop), scratch=tmp_path / name)
            for ws, drop, name in [
                (duck, tmp_path / "drop", "scratch-duck"),
                (spark, tmp_path / "drop-spark", "scratch-spark"),
            ]
        ]
        assert not runs[0].refused and not runs[0].waiting
        assert len(runs[0].reports) == 4 * 6
        assert runs[1].reports == runs[0].reports
        assert runs[1].refused == runs[0].refused
        on_duck = _state(duck)
        assert on_duck["members"] and on_duck["addresses"]  # every path left members
        assert _state(spark) == on_duck
    finally:
        spark.dispose()
