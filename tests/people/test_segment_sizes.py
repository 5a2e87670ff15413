"""A segment's population trend: its size day by day, written by each materialisation,
pruned past the history kept, listed by the core and the API (the command line's test is
in tests/cli/test_lake_commands.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient

from audiencehub.people.clients import ClientRole, issue_token, register_client
from audiencehub.people.segment_sizes import HISTORY_DAYS, record_sizes, size_history, trend_start
from audiencehub.people.segments import delete_segment, get_segment, refresh_segment
from audiencehub.people.web.app import create_people_app

PROBLEM = "application/problem+json"


def test_a_day_keeps_its_last_size_and_old_days_are_pruned(segment_history, people):
    """Two materialisations today leave one row, today's last; a day past the history is
    pruned when the segment's next size is written; a deleted segment forgets its sizes."""
    engine = people.people
    today = datetime.now(UTC).date()
    with engine.connect() as connection:
        [row] = size_history(connection, 900, today)
        assert (row["day"], row["size"]) == (today, get_segment(connection, 900)["size"])
    now = datetime.now(UTC)
    with engine.begin() as connection:
        record_sizes(connection, {900: 7}, now - timedelta(days=3))
        record_sizes(connection, {900: 5}, now - timedelta(days=HISTORY_DAYS + 1))
        record_sizes(connection, {901: 9}, now - timedelta(days=HISTORY_DAYS + 1))
    with engine.connect() as connection:
        days = [r["day"] for r in size_history(connection, 900, date(2000, 1, 1))]
    assert days == [today - timedelta(days=HISTORY_DAYS + 1), today - timedelta(days=3), today]
    assert refresh_segment(engine, 900)["size"] == 2  # its next size prunes the old day
    with engine.connect() as connection:
        trend = size_history(connection, 900, date(2000, 1, 1))
        assert [(r["day"], r["size"]) for r in trend] == [
            (today - timedelta(days=3), 7),
            (today, 2),
        ]
        assert [r["size"] for r in size_history(connection, 900, trend_start(3))] == [2]
        assert len(size_history(connection, 901, date(2000, 1, 1))) == 1  # not its own: kept
    with engine.begin() as connection:
        delete_segment(connection, 900)
    with engine.connect() as connection:
        assert size_history(connection, 900, date(2000, 1, 1)) == []


def test_the_trend_over_the_api(segment_history, people):
    with people.people.begin() as connection:
        client_id, secret = register_client(connection, "viewer", ClientRole.VIEWER)
        token, _ = issue_token(connection, client_id, secret)
        record_sizes(connection, {900: 7}, datetime.now(UTC) - timedelta(days=3))
    http = TestClient(create_people_app(people.people))
    viewer = {"Authorization": f"Bearer {token}"}
    trend = http.get("/api/v1/segments/900/sizes", params={"days": 7}, headers=viewer)
    assert trend.status_code == 200, trend.text
    today = datetime.now(UTC).date()
    assert [(e["day"], e["size"]) for e in trend.json()] == [
        ((today - timedelta(days=3)).isoformat(), 7),
        (today.isoformat(), 2),
    ]
    assert (
        len(http.get("/api/v1/segments/900/sizes", params={"days": 2}, headers=viewer).json()) == 1
    )
    for params, status in (({"days": HISTORY_DAYS + 1}, 422), ({"days": 0}, 422)):
        refused = http.get("/api/v1/segments/900/sizes", params=params, headers=viewer)
        assert refused.status_code == status and refused.headers["content-type"] == PROBLEM
    missing = http.get("/api/v1/segments/9/sizes", headers=viewer)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
