"""The Team pivot in Chromium: sort by a column, filter, choose columns, export, go back."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from abacus.demo.seed import seed_demo
from abacus.extensions import db
from abacus.models import Account
from abacus.providers.base import UsageRecord
from abacus.usage.ingest import ingest
from tests.browser.conftest import settled, shoot_views, sign_in_from

# Header shown -> the export's column ids (a tool's column is `<tool>_tokens`).
EXPORT_IDS = {"PERSON": ["person", "unmapped"], "TOTAL TOKENS": ["tokens"],
              # After the usage cost: the seats and usage + seats (README "Seats").
              "COST": ["cost_usd", "unpriced_events", "seats_usd", "unpriced_seats",
                       "total_usd"], "CACHE READ": ["cache_read_tokens"],
              "DAYS ACTIVE": ["days_active"], "AVG TOKENS/DAY": ["avg_daily_tokens"],
              "LAST ACTIVE": ["last_active_day"]}


def seed(app) -> None:
    """Demo data, plus an API key nobody mapped to a person yet."""
    with app.app_context():
        seed_demo(people=12, days=30)
        account = Account(provider="anthropic", name="ci")
        db.session.add(account)
        db.session.flush()
        now = datetime.now(UTC)
        ingest(account, [UsageRecord(
            event_key="ci-1", occurred_at=datetime.combine(now.date() - timedelta(days=2),
                                                           time(9), tzinfo=UTC),
            tool="claude_code", actor="ci-deploy-key", raw_model="claude-sonnet-4-5-20250929",
            input_tokens=400_000, output_tokens=50_000, cost_usd=Decimal("2.10"))])
        db.session.commit()


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def column_figures(page, index: int) -> list[int]:
    """Exact token figures (the title of each cell) of one column, top to bottom."""
    titles = page.locator(f"table.pivot tbody tr td:nth-child({index + 1}) span[title]")
    return [int(t.split()[0].replace(",", "")) for t in
            titles.evaluate_all("els => els.map(e => e.title)")]


def test_team_pivot_in_the_browser(app, live_server, page):
    seed(app)
    sign_in_from(page, live_server, "/team")

    rows = page.locator("table.pivot tbody tr")
    people = int(re.search(r"(\d+) people", page.locator(".team-count").inner_text()).group(1))
    assert people >= 13 and rows.count() == people  # 12 demo people, the key, demo's own
    assert page.locator("tr", has_text="ci-deploy-key").get_by_text("unmapped").is_visible()
    headers = page.locator("table.pivot thead th").all_inner_texts()
    assert [h.rstrip("↕▲▼ \n") for h in headers][:3] == ["PERSON", "TOTAL TOKENS", "COST"]

    # Sort by total tokens: one click biggest first, a second smallest first.
    tokens_header = page.locator("table.pivot thead th", has_text="Total tokens")
    tokens_header.get_by_role("link").click()
    page.wait_for_url(re.compile(r"sort=tokens&dir=desc"))
    tokens_header = page.locator("table.pivot thead th", has_text="Total tokens")
    assert tokens_header.get_attribute("aria-sort") == "descending"
    figures = column_figures(page, 1)
    assert len(figures) == people and figures == sorted(figures, reverse=True)

    tokens_header.get_by_role("link").click()
    page.wait_for_url(re.compile(r"sort=tokens&dir=asc"))
    page.locator('table.pivot th[aria-sort="ascending"]').wait_for()
    assert column_figures(page, 1) == sorted(figures)
    settled(page)  # typing before the swap has settled would be lost

    # Active search: typing filters the table and updates the URL; the sort stays.
    first_name = page.locator("table.pivot tbody .person-name").first.inner_text()[:3]
    page.get_by_placeholder("Filter by e-mail or identity").press_sequentially(first_name, delay=40)
    page.wait_for_url(re.compile(rf"q={first_name}"))
    assert query(page)["sort"] == ["tokens"] and query(page)["dir"] == ["asc"]
    names = page.locator("table.pivot tbody .person-name").all_inner_texts()
    assert names and all(first_name in n for n in names)
    assert page.locator("table.pivot tfoot").inner_text().startswith("Total")

    # The range picker's links followed the filter (swapped out of band).
    seven = page.get_by_role("link", name="7d").get_attribute("href")
    assert parse_qs(urlsplit(seven).query)["q"] == [first_name]

    # Column chooser: ticking "Cache read" adds the column and puts it in the URL.
    page.get_by_text("Columns", exact=True).click()
    page.get_by_label("Cache read").check()
    page.wait_for_url(re.compile(r"cols=.*cache_read"))
    page.locator("table.pivot thead th", has_text="Cache read").wait_for()
    page.get_by_text("Columns", exact=True).click()
    shown = [h.rstrip("↕▲▼ \n") for h in
             page.locator("table.pivot thead th").all_inner_texts()]

    # The CSV has the same columns, in the same order, as export ids (the person's unmapped
    # flag and the unpriced count beside the cost, the time zone of the days last), and the
    # rows shown.
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    table = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text())))
    assert "CACHE READ" in shown
    assert table[0] == [i for h in shown for i in EXPORT_IDS.get(
        h, [h.lower().replace(" ", "_") + "_tokens"])] + ["timezone"]
    assert [r[0] for r in table[1:]] == names

    # Back restores the previous state from the server (the filter without the column).
    page.go_back()
    page.wait_for_url(lambda url: f"q={first_name}" in url and "cols" not in url)
    expect(page.locator("table.pivot thead th", has_text="Cache read")).to_have_count(0)
    expect(page.get_by_label("Cache read")).not_to_be_checked()

    # A clean, full view for the screenshots.
    page.goto(live_server + "/team?days=30")
    shoot_views(page, "team")

    assert page.problems == []
