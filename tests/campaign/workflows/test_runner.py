"""Workflows: validation that reports everything, and every activity and save mode run for real."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from audiencehub.campaign import UpsertKey, get_profile, import_profiles
from audiencehub.campaign.audiences import get_audience, list_members
from audiencehub.campaign.schema import audiences, shares, workflow_runs
from audiencehub.campaign.workflows.document import parse_workflow
from audiencehub.campaign.workflows.runner import run_workflow
from audiencehub.errors import InvalidInput, NotFound
from tests.helpers import an_admin, fillable_segment, people_partner

PROFILES = (
    [["crm_id", "email", "country", "tier"]]
    + [
        [f"C{i}", f"user{i}@example.com", "FR" if i % 2 else "US", "gold" if i % 3 == 0 else ""]
        for i in range(1, 21)
    ]
    + [["C21", "USER1@example.com", "FR", ""]]
)  # a second profile with C1's email


@pytest.fixture
def base(workspace, tmp_path):
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(PROFILES)
    import_profiles(workspace.campaign, path, key=UpsertKey.CRM_ID)
    return workspace


def _crm(workspace, audience):
    with workspace.campaign.connect() as connection:
        return sorted(
            (
                get_profile(connection, str(m["profile_id"]))["crm_id"]
                for m in list_members(connection, audience)
            ),
            key=lambda c: int(c[1:]),
        )


def _run(workspace, activities, **options):
    return run_workflow(
        workspace.campaign, parse_workflow({"name": "t", "activities": activities}), **options
    )


def _save(input_id, **fields):
    """A save_audience activity "s" reading ``input_id``."""
    return {"id": "s", "type": "save_audience", "input": input_id, **fields}


def _source(workspace, **options):
    """A shared data source with its terms accepted."""
    from audiencehub.campaign.key_vault import KeyVault
    from audiencehub.campaign.sharing.data_sources import accept_terms, add_shared_data_source

    with workspace.campaign.begin() as connection:
        source = add_shared_data_source(
            connection, KeyVault(workspace.path), label="CRM", **options
        )
        accept_terms(connection, source["id"], an_admin(connection))
    return source


def test_validation_reports_every_problem_at_once():
    """Unknown types, missing settings, dangling transitions and cycles are all listed."""
    workflow = parse_workflow(
        {
            "activities": [
                {"id": "a", "type": "query"},
                {"id": "b", "type": "teleport"},
                {"id": "c", "type": "union", "inputs": ["a", "ghost"]},
                {"id": "d", "type": "union", "inputs": ["e", "a"]},
                {"id": "e", "type": "exclusion", "inputs": ["d", "a"]},
                {"id": "f", "type": "scheduler", "cron": "never"},
                {
                    "id": "g",
                    "type": "save_audience",
                    "input": "a",
                    "mode": "overwrite",
                    "audience": "x",
                },
            ]
        }
    )
    problems = "\n".join(workflow.problems)
    assert "activity 'a': missing setting 'filter'" in problems
    assert "unknown activity type 'teleport'" in problems
    assert "input 'ghost' is no activity's output (dangling transition)" in problems
    assert "cycle through d, e" in problems
    assert "'never' is not a cron expression" in problems
    assert (
        "mode must be one of complete, create_or_update, create_unique, replace, share" in problems
    )
    with pytest.raises(InvalidInput, match="the workflow cannot run"):
        run_workflow(None, workflow)


def test_validation_compiles_query_and_segment_filters():
    """A filter that cannot compile is a problem of the document, with its position."""
    workflow = parse_workflow(
        {
            "activities": [
                {"id": "q", "type": "query", "filter": "country = "},
                {"id": "ok", "type": "query", "filter": "country = 'FR' AND NOT email_opt_out"},
                {
                    "id": "s",
                    "type": "segmentation",
                    "input": "ok",
                    "segments": [{"name": "x", "filter": "shoe_size > 40"}],
                },
            ]
        }
    )
    problems = "\n".join(workflow.problems)
    assert "activity 'q': " in problems and "activity 'ok'" not in problems
    assert "activity 's', segment 1: " in problems and "shoe_size" in problems


def test_query_sets_and_save(base):
    """Query, union, intersection, exclusion and dedup feed an audience created or updated."""
    result = _run(
        base,
        [
            {"id": "fr", "type": "query", "filter": "country = 'FR'"},
            {"id": "gold", "type": "query", "filter": "attributes.tier = 'gold'"},
            {"id": "either", "type": "union", "inputs": ["fr", "gold"]},
            {"id": "both", "type": "intersection", "inputs": ["fr", "gold"]},
            {"id": "fr_only", "type": "exclusion", "inputs": ["fr", "gold"]},
            {"id": "unique", "type": "deduplication", "input": "fr_only"},
            {
                "id": "save",
                "type": "save_audience",
                "input": "unique",
                "mode": "create_or_update",
                "audience": "FR",
            },
            {
                "id": "save2",
                "type": "save_audience",
                "input": "both",
                "mode": "create_or_update",
                "audience": "FR gold",
            },
        ],
    )
    counts = {a: c["outputs"] for a, c in result.activities.items()}
    assert counts["fr"] == {"fr": 11} and counts["gold"] == {"gold": 6}
    assert counts["either"] == {"either": 14} and counts["both"] == {"both": 3}
    assert counts["fr_only"] == {"fr_only": 8} and counts["unique"] == {"unique": 7}
    assert result.activities["unique"]["inputs"] == {"fr_only": 8}
    assert _crm(base, "FR gold") == ["C3", "C9", "C15"]
    assert _crm(base, "FR") == [
        "C1",
        "C5",
        "C7",
        "C11",
        "C13",
        "C17",
        "C19",
    ]  # C21 shares C1's email
    with base.campaign.connect() as connection:
        run = connection.execute(select(workflow_runs)).mappings().one()
    assert run["status"] == "succeeded" and run["activities"]["both"]["outputs"] == {"both": 3}


def test_segmentation_by_filter_percent_count_and_remainder(base):
    """Segments take in order from what is left; the remainder keeps the rest."""
    result = _run(
        base,
        [
            {"id": "all", "type": "query", "filter": "id > 0"},
            {
                "id": "split",
                "type": "segmentation",
                "input": "all",
                "remainder": True,
                "segments": [
                    {"name": "gold", "filter": "attributes.tier = 'gold'"},
                    {"name": "tenth", "percent": 10},
                    {"name": "five", "count": 5},
                ],
            },
            _save("split.tenth", mode="create_or_update", audience="tenth"),
        ],
    )
    assert result.activities["split"]["outputs"] == {
        "split.gold": 6,
        "split.tenth": 1,
        "split.five": 5,
        "split.remainder": 9,
    }
    assert _crm(base, "tenth") == ["C1"]


def test_save_modes(base):
    """replace and complete need an existing audience; create_unique stamps the name."""
    with pytest.raises(InvalidInput, match="mode replace updates an existing audience"):
        _run(
            base,
            [
                {"id": "q", "type": "query", "filter": "country = 'US'"},
                _save("q", mode="replace", audience="US"),
            ],
        )
    _run(
        base,
        [
            {"id": "q", "type": "query", "filter": "crm_id IN ('C2', 'C4')"},
            _save("q", mode="create_or_update", audience="US"),
        ],
    )
    _run(
        base,
        [
            {"id": "q", "type": "query", "filter": "crm_id = 'C6'"},
            _save("q", mode="complete", audience="US"),
        ],
    )
    assert _crm(base, "US") == ["C2", "C4", "C6"]
    _run(
        base,
        [
            {"id": "q", "type": "query", "filter": "crm_id = 'C8'"},
            _save("q", mode="replace", audience="US"),
        ],
    )
    assert _crm(base, "US") == ["C8"]
    _run(
        base,
        [
            {"id": "r", "type": "read_audience", "audience": "US"},
            _save("r", mode="create_unique", audience="Snapshot"),
        ],
        now=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
    )
    with base.campaign.connect() as connection:
        assert get_audience(connection, "Snapshot 20261128-093000")["size"] == 1


def test_share_mode_records_a_share_into_a_segment_id(base):
    """Share mode saves the result outside the audience list and shares it into the segment
    whose own trait the source's data realises (asked of the people service)."""
    from audiencehub.campaign.sharing.data_sources import ReconciliationKey

    source = _source(base, key=ReconciliationKey.CRM_ID, alias_dpid=7001)
    fillable_segment(base, 902, 7001)
    _run(
        base,
        [
            {"id": "q", "type": "query", "filter": "country = 'US'"},
            _save("q", mode="share", shared_audience="902", datasource=source["id"]),
        ],
        client=people_partner(base),
    )
    with base.campaign.connect() as connection:
        share = connection.execute(select(shares)).mappings().one()
        kinds = dict(connection.execute(select(audiences.c.name, audiences.c.type)).tuples().all())
    assert (share["segment_id"], share["trait_code"]) == (902, "segment-902")
    assert kinds == {"902 (shared from campaign)": "share"}


def test_a_failing_run_leaves_nothing(base):
    """A run that fails half-way is rolled back whole: no audience, no run record."""
    with pytest.raises(NotFound, match="no audience is named 'missing'"):
        _run(
            base,
            [
                {"id": "q", "type": "query", "filter": "country = 'FR'"},
                _save("q", mode="create_or_update", audience="A"),
                {"id": "r", "type": "read_audience", "audience": "missing"},
            ],
        )
    with base.campaign.connect() as connection:
        assert connection.execute(select(audiences)).first() is None
        assert connection.execute(select(workflow_runs)).first() is None


def test_email_and_sms_delivery_activities(base):
    """Delivery activities send to their input set; counts are the activity's outputs."""
    from audiencehub.campaign.key_vault import KeyVault
    from audiencehub.campaign.messaging.delivery import OutboxMailer
    from audiencehub.campaign.messaging.sending import Messaging
    from audiencehub.campaign.messaging.tracking import LinkSigner

    messaging = Messaging(
        base.settings,
        LinkSigner(KeyVault(base.path).derive("tracking")),
        lambda: OutboxMailer(base.path / "outbox"),
    )
    result = _run(
        base,
        [
            {"id": "q", "type": "query", "filter": "crm_id IN ('C1', 'C2', 'C3')"},
            {
                "id": "mail",
                "type": "email_delivery",
                "input": "q",
                "subject": "Hi {{ profile.crm_id }}",
                "text": "See https://example.com/",
                "html": "<a href='https://example.com/'>x</a>",
            },
            {"id": "sms", "type": "sms_delivery", "input": "q", "text": "Hi {{ profile.crm_id }}"},
        ],
        messaging=messaging,
    )
    assert result.activities["mail"]["outputs"] == {"sent": 3, "failed": 0, "skipped": 0}
    assert result.activities["sms"]["outputs"] == {
        "sent": 0,
        "failed": 0,
        "skipped": 3,
    }  # no phones
    assert len(list((base.path / "outbox").glob("*.eml"))) == 3


def test_scheduled_workflows_run_when_due(base):
    """A scheduler activity's cron decides when the workflow runs; a bad cron is refused."""
    from audiencehub.campaign.workflows.schedule import (
        list_schedules,
        run_due_workflows,
        schedule_workflow,
    )

    bad = parse_workflow(
        {"name": "b", "activities": [{"id": "s", "type": "scheduler", "cron": "61 * * * *"}]}
    )
    assert "'61 * * * *' is not a cron expression" in "\n".join(bad.problems)
    document = {
        "name": "Daily FR",
        "activities": [
            {"id": "start", "type": "scheduler", "cron": "0 6 * * *"},
            {"id": "q", "type": "query", "filter": "country = 'FR'"},
            _save("q", mode="create_or_update", audience="Daily FR"),
        ],
    }
    start = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert schedule_workflow(base.campaign, parse_workflow(document), start) == datetime(
        2026, 11, 29, 6, 0, tzinfo=UTC
    )
    assert run_due_workflows(base.campaign, start) == []
    [run] = run_due_workflows(base.campaign, datetime(2026, 11, 29, 6, 1, tzinfo=UTC))
    assert run.activities["s"]["outputs"] == {"Daily FR": 11}
    [schedule] = list_schedules(base.campaign)
    assert schedule["last_run_id"] == run.run_id
    assert schedule["next_run_at"].replace(tzinfo=UTC) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert run_due_workflows(base.campaign, datetime(2026, 11, 29, 6, 2, tzinfo=UTC)) == []


def test_share_mode_sends_records_without_an_id_down_the_complement(base, tmp_path):
    """With complement: true, the profiles the data source has no ID for go on, to be saved here."""
    from audiencehub.campaign.sharing.data_sources import ReconciliationKey
    from audiencehub.identity import HashScheme

    extra = tmp_path / "no-email.csv"
    extra.write_text("crm_id,country\nC40,FR\nC41,FR\nC42,US\n", encoding="utf-8")
    import_profiles(base.campaign, extra, key=UpsertKey.CRM_ID)
    source = _source(base, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM, alias_dpid=7001)
    fillable_segment(base, 903, 7001)
    run = _run(
        base,
        [
            {"id": "q", "type": "query", "filter": "country = 'FR'"},
            _save(
                "q", mode="share", shared_audience="903", datasource=source["id"], complement=True
            ),
            {
                "id": "rest",
                "type": "save_audience",
                "input": "s.complement",
                "mode": "create_or_update",
                "audience": "FR without email",
            },
        ],
        client=people_partner(base),
    )
    assert run.activities["s"]["outputs"]["s.complement"] == 2
    assert _crm(base, "FR without email") == ["C40", "C41"]


def test_complement_needs_share_mode():
    """Only a share leaves records out, so only a share has a complement."""
    workflow = parse_workflow(
        {
            "activities": [
                {"id": "q", "type": "query", "filter": "country = 'FR'"},
                _save("q", mode="create_or_update", audience="A", complement=True),
            ]
        }
    )
    assert any("complement" in problem and "share" in problem for problem in workflow.problems)


@pytest.mark.parametrize("mode", ["replace", "complete", "create_or_update"])
def test_a_workflow_cannot_save_into_an_imported_audience(base, mode):
    """Shared audiences belong to the import job: saving into one is refused, nothing changes."""
    from audiencehub.campaign.sharing.data_sources import ReconciliationKey
    from audiencehub.campaign.sharing.shared_audiences import create_shared_audience

    source = _source(base, key=ReconciliationKey.CRM_ID)
    with base.campaign.begin() as connection:
        create_shared_audience(
            connection, name="From the people service", segment_id=900, data_source_id=source["id"]
        )
    with pytest.raises(InvalidInput, match="filled by the importSharedAudience job"):
        _run(
            base,
            [
                {"id": "q", "type": "query", "filter": "country = 'FR'"},
                _save("q", mode=mode, audience="From the people service"),
            ],
        )
    with base.campaign.connect() as connection:
        assert get_audience(connection, "From the people service")["size"] == 0
