"""The team selector (choose a team → the page and its links keep ?team=) and the chargeback
CSV export, in Chromium."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect

from abacus.extensions import db
from abacus.models import Account
from abacus.providers.base import UsageRecord
from abacus.teams import tree
from abacus.usage.ingest import ingest
from tests.browser.conftest import settled, shoot_views, sign_in_from


def _seed(app) -> int:
    today = datetime.now(UTC).date()
    with app.app_context():
        account = Account(provider="cursor", name="c")
        db.session.add(account)
        db.session.flush()
        ingest(account, [UsageRecord(
            event_key=f"{who}{n}", occurred_at=datetime.combine(today - timedelta(days=n),
                                                                 time(9), tzinfo=UTC),
            tool="cursor", actor=f"{who}@example.com", email=f"{who}@example.com",
            raw_model="claude-sonnet-4-5", input_tokens=10, cost_usd=Decimal("2.00"))
            for who in ("ann", "bob") for n in range(3)])
        platform = tree.create_team("Platform", cost_centre="CC-7")
        tree.add_membership(platform, "ann@example.com", today - timedelta(days=30))
        db.session.commit()
        return platform.id


def test_team_selector_keeps_the_scope_in_the_page_and_its_links(app, live_server, page):
    team_id = _seed(app)
    sign_in_from(page, live_server, "/team?days=7")
    expect(page.locator("table")).to_contain_text("bob@example.com")
    page.get_by_label("Team", exact=True).select_option(label="Platform")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**/team?days=7&team={team_id}")
    settled(page)
    expect(page.locator("#team-results")).to_contain_text("ann@example.com")
    expect(page.locator("#team-results")).not_to_contain_text("bob@example.com")
    expect(page.get_by_label("Team", exact=True)).to_have_value(str(team_id))
    # The navigation and the range picker keep the scope; so does the next page.
    overview = page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview")
    expect(overview).to_have_attribute("href", f"/?days=7&team={team_id}")
    expect(page.locator(".range-picker").get_by_role("link", name="30d")).to_have_attribute(
        "href", f"/team?team={team_id}&days=30")
    overview.click()
    page.wait_for_url(f"**/?days=7&team={team_id}")
    settled(page)
    expect(page.get_by_label("Team", exact=True)).to_have_value(str(team_id))
    expect(page.locator("main")).to_contain_text("$6.00")
    shoot_views(page, "team-scope", dark=False)
    # Back to everyone.
    page.get_by_label("Team", exact=True).select_option(label="Everyone")
    page.get_by_role("button", name="Show").click()
    settled(page)
    expect(page.locator("main")).to_contain_text("$12.00")
    assert not page.problems  # type: ignore[attr-defined]


def test_chargeback_page_and_csv_download(app, live_server, page):
    _seed(app)
    month = datetime.now(UTC).date().strftime("%Y-%m")
    sign_in_from(page, live_server, "/chargeback")
    expect(page.locator("#provisional")).to_contain_text("Provisional")
    expect(page.locator("table.chargeback")).to_contain_text("CC-7")
    expect(page.locator("table.chargeback")).to_contain_text("unassigned")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == f"chargeback_{month}.csv"
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0] == "month,cost_centre,tool,usage_usd,seats_usd,total_usd"
    rows = list(csv.DictReader(io.StringIO(text)))
    in_month = sum(1 for n in range(3)
                   if (datetime.now(UTC).date() - timedelta(days=n)).strftime("%Y-%m") == month)
    assert sum(Decimal(r["total_usd"]) for r in rows) == Decimal(4 * in_month)
    assert {r["cost_centre"] for r in rows} == {"CC-7", "unassigned"}
    shoot_views(page, "chargeback", dark=False)
    assert not page.problems  # type: ignore[attr-defined]
