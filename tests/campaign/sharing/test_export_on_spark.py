"""exportSharedAudience on Spark writes the same files, byte for byte, as the streaming export.

One campaign workspace with its shares is built, copied, and the copy bound to
Spark in local mode. Both export twice (the second time after new members
join): hashed, encrypted, visitor and CRM-id sources; profiles in several
shares at once; opted-out, blocklisted, without an ID and with an email that
no scheme accepts. Files, per-share counts and the records remembered as sent
must be the same.
"""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from audiencehub.campaign import UpsertKey, import_profiles
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import share_exports, shared_data_sources, visitor_links
from audiencehub.campaign.sharing.data_sources import (
    DEFAULT_SOURCE,
    Channel,
    Encryption,
    ReconciliationKey,
    accept_terms,
)
from audiencehub.campaign.sharing.export_job import run_export
from audiencehub.drops import FolderDrop
from audiencehub.engines.spark import bind_spark
from audiencehub.identity import HashScheme
from audiencehub.workspace import open_workspace
from tests.campaign.sharing.test_export_job import _add_members, _list_audience, _share, _source
from tests.campaign.sharing.test_import_job import IV, KEY
from tests.helpers import an_admin

NOW = 1764500000
PEOPLE = 50


def _campaign(workspace, tmp_path) -> dict[str, int]:
    data = tmp_path / "profiles.csv"
    with data.open("w", newline="") as handle:
        rows = [["crm_id", "email", "email_opt_out", "blocklisted"]]
        for i in range(PEOPLE):
            email = (
                "" if i % 11 == 0 else f" Person{i}@Example.com " if i % 7 == 0 else f"p{i}@x.org"
            )
            rows.append([f"C{i}", email, "1" if i % 9 == 4 else "0", "1" if i % 13 == 5 else "0"])
        csv.writer(handle).writerows(rows)
    import_profiles(workspace.campaign, data, key=UpsertKey.CRM_ID)
    hashed = _source(workspace, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    encrypted = _source(
        workspace,
        key=ReconciliationKey.EMAIL,
        encryption=Encryption.AES_CBC,
        enc_key=KEY,
        enc_iv=IV,
        channel=Channel.EMAIL,
        alias_dpid=7003,
    )
    crm = _source(workspace, key=ReconciliationKey.CRM_ID, alias_dpid=7004)
    with workspace.campaign.begin() as connection:
        connection.execute(
            update(shared_data_sources)
            .where(shared_data_sources.c.id == DEFAULT_SOURCE)
            .values(alias_dpid=7002)
        )
        accept_terms(connection, DEFAULT_SOURCE, an_admin(connection))
        moment = datetime.now(UTC) - timedelta(days=5)
        connection.execute(
            insert(visitor_links),
            [
                {
                    "visitor_id": f"{i * 7:038d}",
                    "profile_id": i,
                    "linked_at": moment + timedelta(hours=i % 4),
                }
                for i in range(1, PEOPLE, 3)
            ],
        )
    audiences = {
        "Buyers": _list_audience(workspace, "Buyers", [f"C{i}" for i in range(0, 30)]),
        "Readers": _list_audience(workspace, "Readers", [f"C{i}" for i in range(10, 40, 2)]),
        "Web": _list_audience(workspace, "Web", [f"C{i}" for i in range(0, 50, 2)]),
    }
    _share(workspace, "Buyers", 902, hashed)
    _share(workspace, "Readers", 904, hashed)  # profiles in both go out once, two traits
    _share(workspace, "Buyers", 905, encrypted)
    _share(workspace, "Web", 903, DEFAULT_SOURCE)
    _share(workspace, "Readers", 906, crm)
    return audiences


def _contents(drop, files):
    return [(key, (drop / key).read_bytes()) for key in files]


def _sent(workspace):
    with workspace.campaign.connect() as connection:
        return sorted(
            connection.execute(select(share_exports.c.share_id, share_exports.c.profile_id))
        )


def test_both_engines_send_the_same_bytes_and_remember_the_same(
    sqlite_workspace, tmp_path, spark_settings
):
    audiences = _campaign(sqlite_workspace, tmp_path)
    sqlite_workspace.dispose()
    shutil.copytree(sqlite_workspace.path, tmp_path / "on-spark")
    duck, spark = sqlite_workspace, open_workspace(tmp_path / "on-spark")
    bind_spark(spark.campaign, spark_settings)
    try:
        runs = {}
        for name, ws in (("streaming", duck), ("spark", spark)):
            first = run_export(ws.campaign, KeyVault(ws.path), FolderDrop(tmp_path / name), now=NOW)
            _add_members(ws, audiences["Buyers"], [f"C{i}" for i in range(30, 36)])
            second = run_export(
                ws.campaign, KeyVault(ws.path), FolderDrop(tmp_path / name), now=NOW + 3600
            )
            runs[name] = (first, second)
        streaming, on_spark = runs["streaming"], runs["spark"]
        assert len(streaming[0].files) == 4 and len(streaming[1].files) >= 1
        for ours, theirs in zip(streaming, on_spark, strict=True):
            assert theirs.shares == ours.shares
            assert theirs.files == ours.files
            assert _contents(tmp_path / "spark", theirs.files) == _contents(
                tmp_path / "streaming", ours.files
            )
        assert any(s["excluded"] and s["no_id"] for s in streaming[0].shares)
        assert _sent(spark) == _sent(duck)
    finally:
        spark.dispose()
