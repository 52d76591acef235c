"""The Seats page and the usage/seats/total toggle in Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect

from abacus.extensions import db
from abacus.models import Account
from abacus.providers.base import UsageRecord
from abacus.usage.ingest import ingest
from tests.browser.conftest import shoot_views, sign_in_from

HEADER = "email,tool,plan,monthly_usd,from,to\n"


def test_seats_page_upload_idle_list_and_toggle(app, live_server, page, tmp_path):
    today = datetime.now(UTC).date()
    with app.app_context():
        account = Account(provider="cursor", name="c")
        db.session.add(account)
        db.session.flush()
        ingest(account, [UsageRecord(
            event_key="b1", occurred_at=datetime.combine(today - timedelta(days=1), time(9),
                                                         tzinfo=UTC),
            tool="claude_code", actor="busy@example.com", email="busy@example.com",
            raw_model="claude-sonnet-4-5", input_tokens=10, cost_usd=Decimal("4.00"))])
        db.session.commit()
    start = (today - timedelta(days=90)).isoformat()
    csv_file = tmp_path / "seats.csv"
    csv_file.write_text(HEADER + f"busy@example.com,claude,team,,{start},\n"
                                 f"idle@example.com,claude,team,,{start},\n")

    sign_in_from(page, live_server, "/seats")
    page.get_by_label("Seat CSV").set_input_files(str(csv_file))
    page.get_by_role("button", name="Import seats").click()
    expect(page.locator("p.notice-ok")).to_contain_text("2 rows, 2 added")

    hygiene = page.locator("table.seat-hygiene tbody tr")
    expect(hygiene).to_have_count(1)
    expect(hygiene.first.locator("td")).to_have_text(["claude", "2", "1", "1", "1"])
    idle = page.locator("table.idle-table tbody tr")
    expect(idle).to_have_count(1)
    expect(idle.first).to_contain_text("idle@example.com")
    expect(idle.first).to_contain_text("never")
    expect(page.locator("#idle-savings")).to_have_text("$30.00")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert "idle@example.com,claude,team" in Path(download.value.path()).read_text()
    shoot_views(page, "seats")

    # The same file again changes nothing.
    page.get_by_label("Seat CSV").set_input_files(str(csv_file))
    page.get_by_role("button", name="Import seats").click()
    expect(page.locator("p.notice-ok")).to_contain_text("0 added, 0 changed, 2 unchanged")

    # Team: one figure, toggled between total, usage and seats.
    day = (today - timedelta(days=1)).isoformat()
    page.goto(f"{live_server}/team?start={day}&end={day}")
    value = page.locator("#cost-split-value")
    toggle = page.get_by_role("navigation", name="Figure shown")
    toggle.get_by_role("link", name="Usage").click()
    expect(value).to_have_text("$4.00")
    expect(toggle.get_by_role("link", name="Usage")).to_have_attribute("aria-current", "true")
    toggle.get_by_role("link", name="Seats").click()
    expect(toggle.get_by_role("link", name="Seats")).to_have_attribute("aria-current", "true")
    seats_text = value.inner_text()
    assert seats_text not in ("$0.00", "$4.00")
    toggle.get_by_role("link", name="Total").click()
    expect(toggle.get_by_role("link", name="Total")).to_have_attribute("aria-current", "true")
    total = Decimal(value.inner_text().lstrip("$")) - Decimal(seats_text.lstrip("$"))
    assert total == Decimal("4.00")
    expect(page.locator(".cost-per-active")).to_contain_text("(1 active)")

    # Overview: the same card and toggle, for the same range and the same figures.
    page.goto(f"{live_server}/?start={day}&end={day}")
    toggle = page.get_by_role("navigation", name="Figure shown")
    toggle.get_by_role("link", name="Seats").click()
    expect(toggle.get_by_role("link", name="Seats")).to_have_attribute("aria-current", "true")
    expect(page.locator("#cost-split-value")).to_have_text(seats_text)
    toggle.get_by_role("link", name="Usage").click()
    expect(page.locator("#cost-split-value")).to_have_text("$4.00")
    expect(page.locator(".cost-per-active")).to_contain_text("(1 active)")
