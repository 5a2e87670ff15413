"""`spark-submit` runs an audiencehub command as a Spark application, on Spark."""

from __future__ import annotations

import json

import pytest

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.sharing.accounts import Account, set_account
from audiencehub.campaign.sharing.data_sources import ReconciliationKey
from audiencehub.identity import HashScheme, IdKind, hash_id
from tests.campaign.sharing.test_import_job import _audience, _source, campaign, write_batch
from tests.helpers import spark_submit

__all__ = ["campaign"]


# the storage backends are covered by the import's own tests; a JVM start each is not needed
@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_import_submitted_to_spark_reconciles_the_batch(campaign, tmp_path):
    source = _source(campaign, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    _audience(campaign, source)
    jo = hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL)
    write_batch(tmp_path / "in", [(jo, [900], []), ("C9", [900], [])])
    with campaign.campaign.begin() as connection:
        set_account(connection, KeyVault(campaign.path), Account.IMPORT, str(tmp_path / "in"))
    done = spark_submit(
        "jobs", "run", "importSharedAudience", "--workspace", str(campaign.path), "--json"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads(done.stdout[done.stdout.index("{") :])  # after any warning printed
    [report] = run["reports"]
    assert (report["rows_read"], report["matched"], report["invalid_ids"]) == (2, 1, 1)
    assert report["added"] == 1
    assert "log4j" in done.stderr  # Spark's driver started (and printed its logging setup)
