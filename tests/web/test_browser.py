"""The web pages in a real headless Chromium: what a marketer and a data engineer do, and
every page checked for console errors, failed requests and accessibility."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

import pytest

from audiencehub.people.graph import ensure_users
from audiencehub.workspace import open_workspace
from tests.web.conftest import Tab, sign_in


@pytest.fixture
def campaign_tab(browser, site):
    context = browser.new_context()
    tab = Tab(context.new_page())
    sign_in(tab, site.campaign, site.logins["campaign_user"], site.logins["campaign_password"])
    yield tab
    context.close()


@pytest.fixture
def people_tab(browser, site):
    context = browser.new_context()
    tab = Tab(context.new_page())
    sign_in(tab, site.people, site.logins["people_client_id"], site.logins["people_client_secret"])
    yield tab
    context.close()


def test_every_page_loads_clean(browser, site, campaign_tab, people_tab):
    signed_out = Tab(browser.new_context().new_page())
    signed_out.visit(f"{site.campaign}/login", "campaign-login")
    signed_out.visit(f"{site.people}/login", "people-login")
    campaign = {
        "campaign-home": "/",
        "campaign-audiences": "/audiences",
        "campaign-audience": "/audiences/Shoe%20buyers",
        "campaign-profiles": "/profiles?q=country%20%3D%20%27FR%27",
        "campaign-profiles-error": "/profiles?q=country%20%3D",
        "campaign-profile": "/profiles/1",
        "campaign-datasources": "/datasources",
        "campaign-datasource": "/datasources/AMCDS1",
        "campaign-accounts": "/accounts",
        "campaign-workflows": "/workflows",
        "campaign-workflow-editor": "/workflows/editor",
        "campaign-workflow-run": "/workflows/runs/1",
        "campaign-deliveries": "/deliveries",
        "campaign-jobs": "/jobs",
        "campaign-audit": "/audit",
    }
    for name, path in campaign.items():
        campaign_tab.visit(site.campaign + path, name)
    campaign_tab.visit(site.campaign + "/r/tampered", "campaign-tampered-link", status=404)
    people = {
        "people-overview": "/",
        "people-datasources": "/datasources",
        "people-traits": "/traits",
        "people-segments": "/segments",
        "people-segment": "/segments/900",
        "people-destinations": "/destinations",
        "people-ids": "/ids",
        "people-receipts": "/receipts",
        "people-publications": "/publications",
        "people-clients": "/clients",
        "people-audit": "/audit",
    }
    for name, path in people.items():
        people_tab.visit(site.people + path, name)


def test_a_tampered_link_is_a_page_for_the_person(campaign_tab, site):
    response = campaign_tab.page.goto(f"{site.campaign}/r/not-a-signed-link")
    assert response.status == 404
    assert "text/html" in response.headers["content-type"]
    assert campaign_tab.page.locator("h1").inner_text() == "Not found"


def test_accept_a_data_sources_terms(campaign_tab, site):
    page = campaign_tab.page
    page.goto(f"{site.campaign}/datasources")
    page.fill("#ds-label", "Partner CRM")
    page.select_option("#ds-key", "email")
    page.select_option("#ds-hash", "aam")
    page.click("form.card button[type=submit]")
    page.wait_for_url(re.compile(r"/datasources/AMCDS\d+$"))
    assert "Not accepted" in page.inner_text("#terms-state")
    campaign_tab.check("campaign-terms-to-accept")
    page.click("text=Accept the terms as demo")
    page.wait_for_load_state("networkidle")
    assert "Accepted by demo" in page.inner_text("#terms-state")


def test_import_a_shared_audience_through_the_dialog(campaign_tab, people_tab, site):
    page = campaign_tab.page
    page.goto(f"{site.campaign}/audiences")
    page.click("text=Import shared audience")
    page.wait_for_selector("text=Sneaker fans")
    campaign_tab.check("campaign-import-dialog")
    page.check("#seg-902")
    page.fill("#aud-name", "Sneakers")
    page.select_option("#aud-source", "AMCDS1")
    page.click("#import-dialog button[type=submit]")
    page.wait_for_selector("#import-result .task.done", timeout=30_000)

    people_tab.page.goto(f"{site.people}/")
    people_tab.page.click("text=Run publish now")
    people_tab.page.wait_for_selector("#job-task .task.done", timeout=30_000)

    page.goto(f"{site.campaign}/jobs")
    page.click("text=Run importSharedAudience now")
    page.wait_for_selector("#job-task .task.done", timeout=30_000)
    page.goto(f"{site.campaign}/audiences/Sneakers")
    size = int(page.inner_text("#audience-size").replace(",", ""))
    assert size > 0
    report = page.inner_text("#last-report")
    assert "matched" in report and "match_rate" in report
    campaign_tab.check("campaign-imported-audience")


def test_edit_a_workflow_fix_it_and_run_it(campaign_tab, site):
    page = campaign_tab.page
    page.goto(f"{site.campaign}/workflows/editor")
    page.wait_for_selector("#problems")
    broken = (
        "name: French\nactivities:\n  - id: q\n    type: query\n    filter: \"country = 'FR'\"\n"
        "  - id: keep\n    type: save_audience\n    input: q\n    audience: French\n"
    )
    page.fill("#document", broken)
    page.press("#document", "End")
    page.wait_for_selector("#problems li")
    assert "line 6" in page.inner_text("#problems") and "mode" in page.inner_text("#problems")
    campaign_tab.check("campaign-workflow-error")
    page.fill(
        "#document",
        broken.replace(
            "    audience: French\n", "    mode: create_or_update\n    audience: French\n"
        ),
    )
    page.press("#document", "End")
    page.wait_for_selector("p#problems.ok")
    assert page.locator("svg.graph").count() == 1
    page.click("text=Run now")
    page.wait_for_selector("#run-task .task.done", timeout=30_000)
    page.click("#run-task >> text=See the outcome")
    page.wait_for_selector("#counts")
    counts = page.inner_text("#counts")
    assert "q:" in counts and "keep" in counts
    campaign_tab.check("campaign-workflow-counts")


def test_send_a_proof(campaign_tab, site):
    page = campaign_tab.page
    page.goto(f"{site.campaign}/deliveries")
    page.select_option("#d-audience", "Shoe buyers")
    page.fill("#d-name", "Spring")
    page.fill("#d-proof", "proof@example.com")
    page.click("text=Send proof")
    page.wait_for_selector("#send-result .ok")
    assert "Proof sent to proof@example.com" in page.inner_text("#send-result")
    campaign_tab.check("campaign-proof-sent")
    proofs = [
        message_from_bytes(path.read_bytes()) for path in (site.workspace / "outbox").glob("*.eml")
    ]
    assert any(
        m["To"] == "proof@example.com" and m["Subject"].startswith("[Proof]") for m in proofs
    )


def test_a_viewer_sees_no_actions_and_forms_need_the_csrf_token(browser, site):
    import httpx

    session = httpx.Client(base_url=site.campaign, follow_redirects=False)
    signed = session.post(
        "/login",
        data={"name": site.logins["campaign_user"], "password": site.logins["campaign_password"]},
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    forged = session.post("/datasources/AMCDS1/terms", data={})
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    elsewhere = session.post(
        "/login",
        data={
            "name": site.logins["campaign_user"],
            "password": site.logins["campaign_password"],
            "next": "//evil.example/",
        },
    )
    assert elsewhere.headers["location"] == "/"


def test_pages_fit_a_phone_and_carry_the_security_policy(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = Tab(context.new_page())
    sign_in(tab, site.campaign, site.logins["campaign_user"], site.logins["campaign_password"])
    for name, path in (("phone-home", "/"), ("phone-audiences", "/audiences")):
        response = tab.page.goto(site.campaign + path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        tab.check(name)
        overflow = tab.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} is {overflow}px wider than a phone"
    context.close()


def test_user_text_is_escaped(campaign_tab, site):
    from audiencehub.people.segments import update_segment
    from audiencehub.workspace import open_workspace

    workspace = open_workspace(site.workspace)
    with workspace.people.begin() as connection:
        update_segment(connection, 902, name='Sneaker <img src=x onerror="alert(1)"> fans')
    page = campaign_tab.page
    page.goto(f"{site.campaign}/audiences")
    page.click("text=Import shared audience")
    page.wait_for_selector("#picker table")
    assert page.locator("#picker img").count() == 0
    assert '<img src=x onerror="alert(1)">' in page.inner_text("#picker")
    with workspace.people.begin() as connection:
        update_segment(connection, 902, name="Sneaker fans")


def test_a_data_engineer_adds_a_trait_and_a_segment(people_tab, site):
    page = people_tab.page
    page.goto(f"{site.people}/traits")
    page.fill("#t-id", "105")
    page.fill("#t-name", "Bought boots")
    page.select_option("#t-source", "7001")
    page.fill("#t-rule", "product=boots")
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{site.people}/traits")
    assert "product=boots" in page.inner_text("table")
    page.goto(f"{site.people}/segments")
    page.fill("#new-id", "950")
    page.fill("#new-name", "Boot buyers")
    page.fill("#new-rule", "T105 AND T999")
    page.press("#new-rule", "End")
    page.wait_for_selector("#new-rule-check .problem")
    assert "T999" in page.inner_text("#new-rule-check")
    page.fill("#new-rule", "T105 OR T101")
    page.press("#new-rule", "End")
    page.wait_for_selector("#new-rule-check .ok")
    people_tab.check("people-new-segment")
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{site.people}/segments/950")
    assert "Boot buyers" in page.inner_text("h1")


def test_a_data_engineer_reads_a_segments_trend_and_what_it_held(people_tab, site):
    page = people_tab.page
    page.goto(f"{site.people}/segments/900")
    page.wait_for_selector("figure.chart canvas")  # the population trend, drawn
    assert f"IDs on {datetime.now(UTC).date().isoformat()}" in page.inner_text("#trend-state")
    page.fill("#at", "2000-01-01T00:00:00")  # before the lake's first snapshot
    page.click("form[method=get] button[type=submit]")
    page.wait_for_selector(".problem")
    assert "no snapshot" in page.inner_text(".problem")
    page.fill("#at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    page.click("form[method=get] button[type=submit]")
    page.wait_for_selector("#then-state")
    size = int(re.search(r": ([\d,]+) IDs", page.inner_text("#then-state"))[1].replace(",", ""))
    people_tab.check("people-segment-then")
    with page.expect_download() as download:
        page.click("#then-state a[download]")
    ids = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert ids[0] == "id" and len(ids) == size + 1 and len(set(ids[1:])) == size > 0


def test_an_admin_looks_up_what_is_held_about_an_id(people_tab, site):
    with sqlite3.connect(site.workspace / "people.db") as connection:
        [(customer,)] = connection.execute(
            "SELECT external_id FROM people_users WHERE data_source_id = 7001 LIMIT 1"
        ).fetchall()
    page = people_tab.page
    page.goto(f"{site.people}/ids")
    page.select_option("#dpid", "7001")
    page.fill("#external-id", customer)
    page.click("form.card button[type=submit]")
    page.wait_for_selector("#id-record")
    assert customer in page.inner_text("h2")
    assert "Traits" in page.inner_text("main")
    people_tab.check("people-id-record")
    page.fill("#external-id", "nobody-at-all")
    page.click("form.card button[type=submit]")
    page.wait_for_selector(".problem")
    assert "holds nothing" in page.inner_text(".problem")


def test_an_admin_erases_an_id_after_confirming(people_tab, site):
    workspace = open_workspace(site.workspace)
    with workspace.people.begin() as connection:
        ensure_users(connection, 7001, ["erase-me"])  # in no segment: the demo stays as it is
    workspace.dispose()
    page = people_tab.page
    page.goto(f"{site.people}/ids?dpid=7001&id=erase-me")
    page.wait_for_selector("#id-record")
    page.click("button.danger")  # not confirmed: the browser asks for the box first
    assert page.locator("#erased").count() == 0
    page.check("#confirm-erase")
    page.click("button.danger")
    page.wait_for_selector("#erased")
    people_tab.check("people-id-erased")
    page.goto(f"{site.people}/ids?dpid=7001&id=erase-me")
    assert "holds nothing" in page.inner_text(".problem")


def test_a_data_engineer_adds_a_data_source_and_a_destination(people_tab, site, tmp_path):
    page = people_tab.page
    page.goto(f"{site.people}/datasources")
    page.fill("#s-id", "7200")
    page.fill("#s-name", "Loyalty app")
    page.select_option("#s-type", "customer")
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{site.people}/datasources")
    assert "Loyalty app" in page.inner_text("table")
    page.goto(f"{site.people}/destinations")
    page.fill("#d-id", "46400")
    page.fill("#d-name", "Loyalty drop")
    page.fill("#d-url", "relative/folder")
    page.click("form.card button[type=submit]")
    assert "absolute folder" in page.inner_text(".problem")
    people_tab.check("people-destination-refused")
    page.fill("#d-id", "46400")
    page.fill("#d-name", "Loyalty drop")
    page.fill("#d-url", str(tmp_path))
    page.check("#d-seg-900")
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{site.people}/destinations")
    row = page.locator("tr", has_text="Loyalty drop").inner_text()
    assert str(tmp_path) in row and "900" in row
    page.goto(f"{site.people}/audit?kind=changes")  # both changes, by the signed-in client
    created = page.locator("tr", has_text="destination created").first.inner_text()
    assert "destination id 46400" in created and "(demo data team)" in created
    assert page.locator("tr", has_text="data source id 7200").count() == 1
    assert page.locator("tr", has_text="id read").count() == 0
    people_tab.check("people-audit-changes")
