"""Campaign's REST API through the ASGI client: roles, problems, pages, ETags, sessions,
downloads and delivery reports."""

from __future__ import annotations

import csv
import io
import re
from email import message_from_bytes

import pytest

from audiencehub.campaign.users import Role
from tests.campaign.web.conftest import PASSWORD

PROBLEM = "application/problem+json"
WORKFLOW = """name: French
activities:
  - {id: q, type: query, filter: "country = 'FR'"}
  - {id: s, type: save_audience, input: q, mode: create_or_update, audience: French}
"""
PROFILES = (
    "email,first_name,country\n"
    "jo@example.com,Jo,FR\nal@example.com,Al,FR\nbo@example.com,Bo,DE\nnot-an-address,X,FR\n"
)


def _import(api, body=PROFILES):
    response = api.client.post(
        "/api/v1/profiles/imports",
        content=body,
        headers={**api.as_(Role.MARKETER), "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _run(api, document=WORKFLOW, role=Role.MARKETER):
    return api.client.post(
        "/api/v1/workflows/runs",
        content=document,
        headers={**api.as_(role), "Content-Type": "application/yaml"},
    )


def test_without_credentials_every_api_route_is_a_401_problem(api):
    for path, operations in api.client.get("/api/openapi.json").json()["paths"].items():
        if not path.startswith("/api/v1/") or path in ("/api/v1/session", "/api/v1/triggers"):
            continue
        concrete = re.sub(r"{\w+}", "1", path)
        for method in operations:
            response = api.client.request(method.upper(), concrete)
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.headers["content-type"] == PROBLEM
            assert "Bearer" in response.json()["hint"]


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        (Role.VIEWER, "GET", "/api/v1/audiences", True),
        (Role.VIEWER, "POST", "/api/v1/workflows/runs", False),
        (Role.VIEWER, "POST", "/api/v1/deliveries", False),
        (Role.VIEWER, "GET", "/api/v1/users", False),
        (Role.MARKETER, "POST", "/api/v1/users", False),
        (Role.MARKETER, "POST", "/api/v1/datasources/defaultDataSource/terms", False),
        (Role.MARKETER, "PUT", "/api/v1/connection", False),
        (Role.MARKETER, "GET", "/api/v1/audit", True),
        (Role.ADMIN, "GET", "/api/v1/users", True),
    ],
)
def test_each_role_gets_what_it_should(api, role, method, path, allowed):
    response = api.client.request(method, path, headers=api.as_(role))
    if allowed:
        assert response.status_code < 400, response.text
    else:
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM
        assert f"is a {role}" in response.json()["detail"]


def test_a_viewer_cannot_run_a_workflow_and_a_marketer_can(api):
    _import(api)
    assert _run(api, role=Role.VIEWER).status_code == 403
    ran = _run(api)
    assert ran.status_code == 201, ran.text
    counts = ran.json()["activities"]
    assert counts["q"]["outputs"] == {"q": 2}
    runs = api.client.get("/api/v1/workflows/runs", headers=api.as_(Role.VIEWER)).json()
    assert runs["items"][0]["activities"]["s"]["inputs"] == {"q": 2}


def test_import_reports_rejected_rows_and_search_uses_the_targeting_language(api):
    report = _import(api)
    assert (report["read"], report["inserted"], report["rejected"]) == (4, 3, 1)
    found = api.client.get(
        "/api/v1/profiles", params={"q": "country = 'FR'"}, headers=api.as_(Role.VIEWER)
    ).json()
    assert sorted(p["email"] for p in found["items"]) == ["al@example.com", "jo@example.com"]
    bad = api.client.get(
        "/api/v1/profiles", params={"q": "country = "}, headers=api.as_(Role.VIEWER)
    )
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM


def test_pages_are_stable_under_inserts(api):
    _import(api, "email\n" + "".join(f"p{i}@example.com\n" for i in range(7)))
    seen, cursor = [], None
    while True:
        page = api.client.get(
            "/api/v1/profiles",
            params={"limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=api.as_(Role.VIEWER),
        ).json()
        seen += [p["email"] for p in page["items"]]
        if len(seen) == 3:  # a new profile arrives between two pages
            _import(api, "email\nlate@example.com\n")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8
    assert seen[:7] == [f"p{i}@example.com" for i in range(7)] and seen[-1] == "late@example.com"
    broken = api.client.get(
        "/api/v1/profiles", params={"cursor": "!!"}, headers=api.as_(Role.VIEWER)
    )
    assert broken.status_code == 400 and "cursor" in broken.json()["detail"]


def test_if_match_refuses_a_change_made_on_a_stale_copy(api):
    _import(api)
    _run(api)
    read = api.client.get("/api/v1/audiences/French", headers=api.as_(Role.MARKETER))
    etag = read.headers["ETag"]
    first = api.client.patch(
        "/api/v1/audiences/French",
        json={"name": "French (all)"},
        headers={**api.as_(Role.MARKETER), "If-Match": etag},
    )
    assert first.status_code == 200 and first.headers["ETag"] != etag
    second = api.client.patch(
        "/api/v1/audiences/French (all)",
        json={"name": "Lost update"},
        headers={**api.as_(Role.MARKETER), "If-Match": etag},
    )
    assert second.status_code == 412 and second.headers["content-type"] == PROBLEM
    still = api.client.get("/api/v1/audiences/French (all)", headers=api.as_(Role.VIEWER))
    assert still.status_code == 200


def test_profile_changes_are_checked_whole_and_erasure_keeps_counts(api):
    _import(api)
    jo = api.client.get("/api/v1/profiles/jo@example.com", headers=api.as_(Role.VIEWER)).json()
    refused = api.client.patch(  # a profile has one address: the key it was read by
        "/api/v1/profiles/JO@example.com",
        json={"first_name": "Joanna", "country": "Narnia", "crm_id": "X"},
        headers=api.as_(Role.MARKETER),
    )
    assert refused.status_code == 400
    assert "country" in refused.json()["detail"] and "crm_id" in refused.json()["detail"]
    changed = api.client.patch(
        f"/api/v1/profiles/{jo['id']}",
        json={"email": "joanna@example.com", "attributes": {"tier": "gold"}},
        headers=api.as_(Role.MARKETER),
    ).json()
    assert changed["email"] == "joanna@example.com" and changed["attributes"] == {"tier": "gold"}
    assert changed["keys"] != jo["keys"]  # the reconciliation keys follow the address
    gone = api.client.delete("/api/v1/profiles/joanna@example.com", headers=api.as_(Role.MARKETER))
    assert gone.status_code == 204
    missing = api.client.get(f"/api/v1/profiles/{jo['id']}", headers=api.as_(Role.VIEWER))
    assert missing.status_code == 404
    trail = api.client.get("/api/v1/audit", headers=api.as_(Role.VIEWER)).json()["items"]
    erased = trail[0]  # who erased the profile of which id, and nothing of it
    assert (erased["action"], erased["actor"]) == ("profile erased", "user marketer")
    assert erased["details"] == {"profile_id": jo["id"]}


def test_a_key_that_names_two_profiles_changes_and_erases_neither(api):
    _import(api, "email,crm_id\nfirst@example.com,A1\n")
    first = api.client.get("/api/v1/profiles/A1", headers=api.as_(Role.VIEWER)).json()
    # the second profile's CRM id is the first one's numeric id
    _import(api, f"email,crm_id\nsecond@example.com,{first['id']}\n")
    key = f"/api/v1/profiles/{first['id']}"
    for answer in (
        api.client.delete(key, headers=api.as_(Role.MARKETER)),
        api.client.patch(key, json={"first_name": "X"}, headers=api.as_(Role.MARKETER)),
    ):
        assert answer.status_code == 404 and answer.headers["content-type"] == PROBLEM
        assert "several profiles match" in answer.json()["detail"]
    for email in ("first@example.com", "second@example.com"):
        kept = api.client.get(f"/api/v1/profiles/{email}", headers=api.as_(Role.VIEWER)).json()
        assert kept["first_name"] is None


def test_members_download_as_csv_with_chosen_fields(api):
    _import(api)
    _run(api)
    page = api.client.get(
        "/api/v1/audiences/French/members",
        params={"fields": "email,first_name", "limit": 1},
        headers=api.as_(Role.VIEWER),
    ).json()
    assert page["items"][0]["email"] == "jo@example.com" and page["next_cursor"]
    download = api.client.get(
        "/api/v1/audiences/French/members.csv",
        params={"fields": "email,first_name"},
        headers=api.as_(Role.VIEWER),
    )
    assert download.headers["content-type"].startswith("text/csv")
    assert 'filename="French.csv"' in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["email"], r["first_name"]) for r in rows] == [
        ("jo@example.com", "Jo"),
        ("al@example.com", "Al"),
    ]
    unknown = api.client.get(
        "/api/v1/audiences/French/members.csv",
        params={"fields": "email,password_hash"},
        headers=api.as_(Role.VIEWER),
    )
    assert unknown.status_code == 400 and "password_hash" in unknown.json()["detail"]


def test_a_sent_delivery_reports_clicks_per_link(api):
    _import(api)
    _run(api)
    sent = api.client.post(
        "/api/v1/deliveries",
        json={
            "audience": "French",
            "name": "Spring",
            "subject": "Hi {{ profile.first_name }}",
            "text": "Sale: https://shop.example.com/sale",
            "html": '<a href="https://shop.example.com/sale">sale</a>',
        },
        headers=api.as_(Role.MARKETER),
    )
    assert sent.status_code == 201, sent.text
    delivery = sent.json()
    assert (delivery["sent"], delivery["failed"], delivery["skipped"]) == (2, 0, 0)
    outbox = sorted((api.services.path / "outbox").glob("*.eml"))
    message = message_from_bytes(outbox[0].read_bytes())
    text = next(
        part.get_payload(decode=True).decode()
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    )
    link = re.search(r"https://t\.example\.com(/r/\S+)", text)[1]
    for _ in range(2):
        assert api.client.get(link).status_code in (302, 303, 307)
    api.client.app.state.online.drain()
    report = api.client.get(
        f"/api/v1/deliveries/{delivery['delivery_id']}/report", headers=api.as_(Role.VIEWER)
    ).json()
    assert (report["sent"], report["unique_clicks"], report["total_clicks"]) == (2, 1, 2)
    assert report["click_rate"] == 0.5
    assert report["links"] == [
        {"link": 0, "url": "https://shop.example.com/sale", "unique_clicks": 1, "total_clicks": 2}
    ]
    kept = api.client.delete(
        f"/api/v1/deliveries/{delivery['delivery_id']}", headers=api.as_(Role.MARKETER)
    )
    assert kept.status_code == 409
    from audiencehub.campaign.messaging.reports import delivery_timeline

    with api.services.engine.connect() as connection:
        [hour] = delivery_timeline(connection, delivery["delivery_id"])
    assert (hour["opens"], hour["clicks"]) == (0, 2)
    assert hour["hour"].tzinfo is not None and hour["hour"].minute == 0


def test_deleting_what_others_use_is_refused(api):
    created = api.client.post(
        "/api/v1/datasources",
        json={"label": "CRM", "key": "email", "hashing": "aam"},
        headers=api.as_(Role.ADMIN),
    ).json()
    source = created["id"]
    refused = api.client.post(
        "/api/v1/audiences/shared",
        json={"name": "Shoes", "segment_id": 900, "data_source_id": source},
        headers=api.as_(Role.MARKETER),
    )
    assert refused.status_code == 403 and "terms" in refused.json()["detail"]
    accepted = api.client.post(
        f"/api/v1/datasources/{source}/terms", headers=api.as_(Role.ADMIN)
    ).json()
    assert accepted["terms_accepted_by"] == "admin"
    made = api.client.post(
        "/api/v1/audiences/shared",
        json={"name": "Shoes", "segment_id": 900, "data_source_id": source},
        headers=api.as_(Role.MARKETER),
    )
    assert made.status_code == 201 and made.json()["type"] == "shared"
    in_use = api.client.delete(f"/api/v1/datasources/{source}", headers=api.as_(Role.ADMIN))
    assert in_use.status_code == 409 and "Shoes" in in_use.json()["detail"]
    api.client.delete("/api/v1/audiences/Shoes", headers=api.as_(Role.MARKETER))
    assert (
        api.client.delete(f"/api/v1/datasources/{source}", headers=api.as_(Role.ADMIN)).status_code
        == 204
    )


def test_sessions_need_the_csrf_token_and_failed_sign_ins_lock_out(api):
    client = api.client
    signed = client.post("/api/v1/session", json={"name": "marketer", "password": PASSWORD})
    assert signed.status_code == 200
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    csrf = signed.json()["csrf_token"]
    assert client.get("/api/v1/session").json()["name"] == "marketer"
    without = client.post("/api/v1/tokens", json={"name": "script"})
    assert without.status_code == 403 and "X-CSRF-Token" in without.json()["detail"]
    made = client.post("/api/v1/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201 and made.json()["token"].startswith("ahp_")
    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/session").status_code == 401
    statuses = [
        client.post(
            "/api/v1/session", json={"name": "viewer", "password": "wrong password!"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    locked = client.post("/api/v1/session", json={"name": "viewer", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_admins_manage_users_and_keep_one_admin(api):
    made = api.client.post(
        "/api/v1/users",
        json={"name": "nina", "password": "another long password", "role": "viewer"},
        headers=api.as_(Role.ADMIN),
    )
    assert made.status_code == 201 and "password" not in made.text
    short = api.client.post(
        "/api/v1/users", json={"name": "x", "password": "short"}, headers=api.as_(Role.ADMIN)
    )
    assert short.status_code == 422 and short.headers["content-type"] == PROBLEM
    promoted = api.client.patch(
        "/api/v1/users/nina", json={"role": "marketer"}, headers=api.as_(Role.ADMIN)
    )
    assert promoted.json()["role"] == "marketer"
    myself = api.client.patch(
        "/api/v1/users/admin", json={"disabled": True}, headers=api.as_(Role.ADMIN)
    )
    assert myself.status_code == 403


def test_docs_are_served_from_the_package_and_ids_are_unique(api):
    page = api.client.get("/api/docs").text
    assert "cdn" not in page.lower() and "/api/docs-assets/swagger-ui-bundle.js" in page
    assert api.client.get("/api/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert "redoc.standalone.js" in api.client.get("/api/redoc").text
    schema = api.client.get("/api/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_unsubscribe_asks_on_get_and_acts_on_post(api):
    from audiencehub.campaign.messaging.tracking import Unsubscribe

    _import(api)
    token = api.services.signer.sign_unsubscribe(
        Unsubscribe(delivery_id=None, profile_id=1, channel="email")
    )
    page = api.client.get(f"/u/{token}")
    assert page.status_code == 200 and "<form method=post>" in page.text
    api.client.app.state.online.drain()
    jo = api.client.get("/api/v1/profiles/1", headers=api.as_(Role.VIEWER)).json()
    assert jo["email_opt_out"] is False
    assert api.client.post(f"/u/{token}").status_code == 200
    api.client.app.state.online.drain()
    jo = api.client.get("/api/v1/profiles/1", headers=api.as_(Role.VIEWER)).json()
    assert jo["email_opt_out"] is True


def test_jobs_run_now_and_are_recorded(api):
    refused = api.client.post(
        "/api/v1/jobs/importSharedAudience/runs", headers=api.as_(Role.VIEWER)
    )
    assert refused.status_code == 403
    ran = api.client.post("/api/v1/jobs/importSharedAudience/runs", headers=api.as_(Role.MARKETER))
    assert ran.status_code == 200 and ran.json() == {"reports": [], "waiting": [], "refused": []}
    history = api.client.get("/api/v1/jobs", headers=api.as_(Role.VIEWER)).json()
    assert [(run["job"], run["status"]) for run in history] == [
        ("importSharedAudience", "succeeded")
    ]
    unknown = api.client.post("/api/v1/jobs/teleport/runs", headers=api.as_(Role.MARKETER))
    assert unknown.status_code == 422


def test_tokens_are_ones_own_unless_admin(api):
    mine = api.client.get("/api/v1/tokens", headers=api.as_(Role.MARKETER)).json()["items"]
    assert {t["user"] for t in mine} == {"marketer"}
    every = api.client.get("/api/v1/tokens", headers=api.as_(Role.ADMIN)).json()["items"]
    assert {t["user"] for t in every} == {"viewer", "marketer", "admin"}
    viewers = next(t["id"] for t in every if t["user"] == "viewer")
    refused = api.client.delete(f"/api/v1/tokens/{viewers}", headers=api.as_(Role.MARKETER))
    assert refused.status_code == 403
    assert all("token" not in t and "ahp_" not in str(t) for t in every)  # never the tokens


def test_a_cursor_of_another_kind_is_refused(api):
    import base64
    import json

    _import(api)
    _run(api)
    for value in ("text", [1, 2], True):
        forged = base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
        for path in ("/api/v1/profiles", "/api/v1/audiences/French/members"):
            answer = api.client.get(path, params={"cursor": forged}, headers=api.as_(Role.VIEWER))
            assert answer.status_code == 400, (path, value, answer.text)
            assert answer.headers["content-type"] == PROBLEM
