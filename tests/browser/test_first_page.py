"""First page in a real browser: redirect to sign-in, dev sign-in, the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from abacus.providers.base import UsageRecord
from tests.browser.conftest import shoot_views
from tests.helpers import seed as seed_records

# (days ago, tool, actor, email, raw model, input, output, provider cost or None)
ROWS = [
    (0, "cursor", "alice@example.com", "alice@example.com", "claude-sonnet-4-5-20250929",
     2_400_000, 310_000, "41.20"),
    (1, "claude_code", "alice@example.com", "alice@example.com", "claude-opus-4-1",
     820_000, 95_000, "19.45"),
    (3, "cursor", "bob@example.com", "bob@example.com", "gpt-5", 1_150_000, 140_000, "6.80"),
    (4, "claude_code", "carol@example.com", "carol@example.com", "claude-sonnet-4-5-20250929",
     1_900_000, 260_000, "12.75"),
    (8, "cursor", "dan@example.com", "dan@example.com", "auto", 640_000, 75_000, "2.10"),
    (12, "claude_code", "ci-deploy-key", None, "claude-sonnet-4-5-20250929",
     300_000, 40_000, "1.50"),
    (20, "cursor", "erin@example.com", "erin@example.com", "mystery-model-9",
     120_000, 9_000, None),
]
TOTAL_COST = "$83.80"  # 41.20 + 19.45 + 6.80 + 12.75 + 2.10 + 1.50; the unknown model is unpriced


def seed(app) -> None:
    today = datetime.now(UTC).date()
    records = [
        UsageRecord(event_key=f"r{i}", tool=tool, actor=actor, email=email, raw_model=model,
                    occurred_at=datetime.combine(today - timedelta(days=ago), time(12),
                                                 tzinfo=UTC),
                    input_tokens=inp, output_tokens=out,
                    cost_usd=None if cost is None else Decimal(cost))
        for i, (ago, tool, actor, email, model, inp, out, cost) in enumerate(ROWS)
    ]
    seed_records(app, records, name="browser")


def test_sign_in_and_see_the_first_page(app, live_server, page):
    seed(app)

    page.goto(live_server + "/")
    assert urlsplit(page.url).path == "/auth/sign-in"

    page.get_by_role("link", name="Continue with development sign-in").click()
    page.get_by_label("E-mail").fill("alice@example.com")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/")

    cost_card = page.locator(".stat:not(.cost-split)", has_text="Cost")  # usage cost card
    assert TOTAL_COST in cost_card.inner_text()
    assert "1 event unpriced" in cost_card.inner_text()
    assert page.get_by_text("Development sign-in — not for production").is_visible()
    assert page.get_by_role("button", name="Sign out").is_visible()

    # A boosted navigation (range picker) keeps working without errors.
    page.get_by_role("link", name="7d").click()
    page.wait_for_url(live_server + "/?days=7")
    page.get_by_text("Last 7 days").wait_for()
    page.get_by_role("link", name="30d").click()
    page.get_by_text("Last 30 days").wait_for()

    shoot_views(page, "first-page")

    assert page.problems == []
