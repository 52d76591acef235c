"""OpenRouter usage, synced from the fake management API, on every page with a tool
breakdown: Overview, Team, Usage and the person page, in a real browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from abacus.extensions import db
from abacus.sync.accounts import add_account
from abacus.sync.engine import sync_account
from tests.browser.conftest import dev_sign_in as sign_in
from tests.fakes.openrouter import MANAGEMENT_KEY, FakeOpenRouter


def test_openrouter_shows_on_overview_team_usage_and_person_pages(app, live_server, page):
    day = datetime.now(UTC).date() - timedelta(days=2)
    with FakeOpenRouter() as fake, app.app_context():
        fake.add_member("user_Jane", "jane@example.com", "Jane")
        fake.add_activity(day, "anthropic/claude-sonnet-4.5", user_id="user_Jane",
                          usage=Decimal("12.34"), prompt=40000, completion=2000, cached=30000)
        account = add_account("openrouter", "org", {"management_key": MANAGEMENT_KEY},
                              {"base_url": fake.base_url})
        db.session.commit()
        assert sync_account(account.id, first=day, last=day).status == "success"
    sign_in(page, live_server)

    page.goto(f"{live_server}/?days=7")
    by_tool = page.locator("section.card",
                           has=page.get_by_role("heading", name="By tool", exact=True))
    assert "OpenRouter" in by_tool.inner_text() and "$12.34" in by_tool.inner_text()
    assert page.locator(".tool-dot.tool-openrouter").first.evaluate(
        "e => getComputedStyle(e).backgroundColor") == "rgb(219, 39, 119)"  # palette slot 5

    page.goto(f"{live_server}/team?days=7")
    header = page.locator("table thead").text_content()  # shown upper-cased by CSS
    assert "OpenRouter" in header
    assert "jane@example.com" in page.locator("table tbody").inner_text()

    page.goto(f"{live_server}/usage?days=7&view=tools")
    assert "OpenRouter" in page.locator("main").inner_text()

    page.goto(f"{live_server}/users/jane@example.com?days=7")
    page.get_by_role("heading", name="jane@example.com").wait_for()
    assert "OpenRouter" in page.locator("main").inner_text()
    assert page.problems == []
