"""Parity with Adobe's published examples: the global data sources.

Sources: "Global Data Sources" (help/using/features/global-data-sources.md) for
the DPIDs, and "Index of IDs in Audience Manager" (help/using/reference/
ids-in-aam.md) for each ID's format, in AdobeDocs/audience-manager.en.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from audiencehub.drops import FolderDrop
from audiencehub.errors import InvalidInput
from audiencehub.people.data_sources import (
    InboundIdType,
    add_data_source,
    get_data_source,
    list_data_sources,
)
from audiencehub.people.ingest import ingest
from audiencehub.people.traits import add_trait
from audiencehub.people.web.app import create_people_app
from tests.helpers import write_inbound

IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"  # the IDFA example of the contents page
GAID = "97987bca-ae59-4c7d-94ba-ee4f19ab8c21"  # the Android example of the contents page


def test_every_people_service_has_the_global_data_sources(workspace):
    """GAID 20914, IDFA 20915 and RIDA 121963 (and the others the page lists) exist without
    configuration, named DSID_<id>, and cannot be created again."""
    with workspace.people.connect() as connection:
        codes = {s["id"]: s["integration_code"] for s in list_data_sources(connection)}
        assert get_data_source(connection, 121963)["retention_days"] == 120
    assert {20914, 20915, 121963, 389146, 963906, 488258, 1171485, 1171489} <= set(codes)
    assert (codes[20914], codes[20915], codes[121963]) == (
        "DSID_20914",
        "DSID_20915",
        "DSID_121963",
    )
    with workspace.people.begin() as connection, pytest.raises(InvalidInput, match="global"):
        add_data_source(connection, dpid=20915, name="Mine", inbound_id_type=InboundIdType.CUSTOMER)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (f"d_cid=20915%01{IDFA}%011", 200),
        (f"d_cid=20915%01{IDFA.lower()}%011", 400),  # "IDs must be upper case"
        (f"d_cid_ic=DSID_20914%01{GAID}", 200),
        (f"d_cid_ic=DSID_20914%01{GAID.upper()}", 400),  # "IDs must be lower case"
        ("d_cid=121963%01not-a-rida", 400),
    ],
)
def test_syncs_of_global_ids_follow_their_format(workspace, query, status):
    """/id takes a device advertising ID only in its documented form."""
    response = TestClient(create_people_app(workspace.people)).get(f"/id?{query}")
    assert response.status_code == status
    if status == 400:
        assert "is not a" in response.json()["detail"]


def test_an_inbound_file_of_idfas_counts_malformed_ones_as_invalid(workspace, tmp_path):
    """ftp_dpm_20915 carries IDFAs: a lower-case one is an invalid ID, not a new user."""
    with workspace.people.begin() as connection:
        add_trait(connection, trait_id=301, name="Gamer", data_source_id=20915)
    write_inbound(
        tmp_path / "in",
        "ftp_dpm_20915_1764300000.sync",
        [f"{IDFA}\td_sid=301", f"{IDFA.lower()}\td_sid=301"],
    )
    [receipt] = ingest(workspace.people, FolderDrop(tmp_path / "in")).receipts
    assert (receipt.status, receipt.stored_records, receipt.invalid_ids) == ("applied", 1, 1)
