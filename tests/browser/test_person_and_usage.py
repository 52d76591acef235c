"""The Person and Usage pages in a real browser: tabs, paging, filters and view switches
through htmx, with the strict CSP on and no console errors."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from abacus.analytics import overview as analytics
from abacus.demo.seed import seed_demo
from tests.browser.conftest import DESKTOP, PHONE, dev_sign_in, settled, shoot


def seed(app) -> str:
    """Demo data; returns the person with the most records in the last 30 days."""
    with app.app_context():
        seed_demo(people=12, days=60)
        today = datetime.now(UTC).date()
        top = analytics.overview(today - timedelta(days=29), today).by_person
        return max((p for p in top if p.mapped), key=lambda p: p.events).person


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_person_page_tabs_and_raw_paging(app, live_server, page):
    person = seed(app)
    dev_sign_in(page, live_server)

    page.goto(f"{live_server}/users/{person}?days=30")
    page.get_by_role("heading", name=person).wait_for()
    assert "tokens all time" in page.locator(".person-lifetime").inner_text()
    assert page.locator(".person-stats .stat").count() == 4
    assert page.get_by_text("Weekday pattern").is_visible()
    assert page.locator("table.person-weekdays tbody tr").count() == 7
    shoot(page, "person")

    # Raw tab: a boosted link, then paging and filtering swap only the panel.
    page.get_by_role("link", name="Raw usage").click()
    page.wait_for_url(re.compile(r"tab=raw"))
    counter = page.locator(".person-count")
    counter.wait_for()
    assert re.match(r"1–50 of [\d,]+ records", counter.inner_text())
    assert page.locator("table.person-raw-table tbody tr").count() == 50
    first_row = page.locator("table.person-raw-table tbody tr").first.inner_text()
    page.locator("body").evaluate("b => b.dataset.marker = 'kept'")  # survives partial swaps

    page.get_by_role("link", name="Next ›").click()
    page.get_by_text(re.compile(r"Page 2 of \d+")).wait_for()
    settled(page)  # the swapped panel's links and filters are live
    assert query(page)["page"] == ["2"]
    assert counter.inner_text().startswith("51–")
    assert page.locator("table.person-raw-table tbody tr").first.inner_text() != first_row
    page.get_by_role("link", name="‹ Previous").click()
    page.get_by_text(re.compile(r"Page 1 of \d+")).wait_for()
    settled(page)  # the swapped panel's links and filters are live

    page.get_by_label("Tool").select_option("claude_code")
    page.wait_for_url(re.compile(r"tool=claude_code"))
    page.locator("table.person-raw-table tbody tr").first.wait_for()
    tools = page.locator("table.person-raw-table tbody tr td:nth-child(2)").all_inner_texts()
    assert tools and set(tools) == {"Claude Code"}
    assert page.locator("body").evaluate("b => b.dataset.marker") == "kept"
    shoot(page, "person-raw")

    # The CSV is every record of the filter (all pages), a plain download.
    total = int(re.search(r"of ([\d,]+) record", counter.inner_text()).group(1).replace(",", ""))
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(exported) == total and {r["tool_id"] for r in exported} == {"claude_code"}

    # The range picker in the swapped panel keeps the tab and the filter.
    page.get_by_role("link", name="7d").click()
    page.wait_for_url(re.compile(r"days=7"))
    assert query(page)["tab"] == ["raw"] and query(page)["tool"] == ["claude_code"]

    page.set_viewport_size(PHONE)
    page.goto(f"{live_server}/users/{person}?days=30")
    shoot(page, "person-phone")
    assert page.problems == []


def test_usage_page_switches_views(app, live_server, page):
    seed(app)
    dev_sign_in(page, live_server)

    page.goto(live_server + "/usage?days=30")
    page.get_by_role("heading", name="Usage", exact=True).wait_for()
    assert page.get_by_text("Model breakdown").is_visible()
    assert page.locator("table.usage-breakdown tbody tr").count() >= 5
    page.locator("body").evaluate("b => b.dataset.marker = 'kept'")

    page.get_by_role("navigation", name="Break down by").get_by_role("link", name="Tools").click()
    page.get_by_text("Tool breakdown").wait_for()
    assert query(page)["view"] == ["tools"]
    assert page.locator("table.usage-breakdown tbody tr").count() == 2
    assert "Claude Code" in page.locator("table.usage-breakdown").inner_text()

    page.get_by_role("navigation", name="Chart metric").get_by_role("link", name="Cost").click()
    page.get_by_text("Daily cost by tool").wait_for()
    assert query(page) == {"days": ["30"], "view": ["tools"], "metric": ["cost"]}
    assert page.locator("body").evaluate("b => b.dataset.marker") == "kept"  # no reload
    shoot(page, "usage-tools")

    page.get_by_role("navigation", name="Break down by").get_by_role("link", name="Models").click()
    page.get_by_text("Daily cost by model").wait_for()
    page.get_by_role("link", name="90d").click()
    page.wait_for_url(re.compile(r"days=90"))
    assert query(page)["metric"] == ["cost"]
    page.get_by_text("Active people per week").wait_for()
    page.get_by_role("link", name="30d").click()
    page.wait_for_url(re.compile(r"days=30"))
    page.get_by_role("navigation", name="Chart metric").get_by_role("link",
                                                                     name="Tokens").click()
    page.get_by_text("Daily tokens by model").wait_for()
    shoot(page, "usage")

    # The export is a plain download, not an htmx swap.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.startswith("usage_models_")

    page.set_viewport_size(PHONE)
    page.reload()
    shoot(page, "usage-phone")
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size(DESKTOP)
    shoot(page, "usage-dark")
    assert page.problems == []
