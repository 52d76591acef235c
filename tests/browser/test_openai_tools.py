"""OpenAI and Codex usage, synced from the fake servers, in Chromium: both tools show with
their own colour on Overview, Team, Usage and the person page, and Status puts OpenAI's bill
beside the estimate."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from abacus.extensions import db
from abacus.models import Account
from abacus.sync.accounts import add_account
from abacus.sync.engine import sync_account
from tests.browser.conftest import dev_sign_in as sign_in_as_admin
from tests.fakes.openai import ADMIN_KEY, CODEX_KEY, FakeCodexAnalytics, FakeOpenAI, days_ago

JANE = "jane@example.com"


def sync_both(app, openai: FakeOpenAI, codex: FakeCodexAnalytics) -> None:
    openai.add_user("user-jane", JANE, "Jane")
    openai.add_usage(days_ago(3), user_id="user-jane", input=2_000_000, cached=500_000,
                     output=100_000)
    openai.add_usage(days_ago(2), api_key_id="key_unknown", input=10_000, output=1000)
    openai.add_cost(days_ago(3), "2.4")
    codex.add_usage(days_ago(2), JANE, threads=3, turns=20,
                    models=[("gpt-5.4", "standard", 430000, 1720000, 61000, "60.5")])
    with app.app_context():
        add_account("openai", "acme", {"admin_key": ADMIN_KEY}, {"base_url": openai.base_url})
        add_account("codex", "ws", {"api_key": CODEX_KEY},
                    {"base_url": codex.base_url, "workspace_id": "ws_123"})
        db.session.commit()
        for account in db.session.execute(select(Account)).scalars().all():
            outcome = sync_account(account.id, first=days_ago(4), last=days_ago(1))
            assert outcome.status == "success", outcome.message


def tool_colours(page) -> dict[str, str]:
    """Background colour of each tool dot on the page, by tool."""
    return page.evaluate("""() => Object.fromEntries(
        ['openai', 'codex'].map(t => {
            const el = document.querySelector('.tool-dot.tool-' + t);
            return [t, el ? getComputedStyle(el).backgroundColor : null];
        }))""")


def test_openai_and_codex_show_on_every_tool_breakdown(app, live_server, page):
    with FakeOpenAI() as openai, FakeCodexAnalytics() as codex:
        sync_both(app, openai, codex)
    sign_in_as_admin(page, live_server)

    page.goto(live_server + "/?days=7")
    section = page.get_by_role("heading", name="By tool").locator("xpath=ancestor::section[1]")
    text = section.inner_text()
    assert "OpenAI" in text and "Codex" in text
    colours = tool_colours(page)
    assert colours["openai"] and colours["codex"] and colours["openai"] != colours["codex"]
    assert "$2.42" in text  # Codex: 60.5 credits × $0.04

    page.goto(live_server + "/team?days=7")
    team = page.locator("main").text_content()  # headers are upper-cased by CSS only
    assert JANE in team and "OpenAI" in team and "Codex" in team

    page.goto(live_server + "/usage?days=7&view=tools")
    usage = page.locator("main").text_content()
    assert "OpenAI" in usage and "Codex" in usage
    assert page.locator("svg .series-c6").count() > 0
    assert page.locator("svg .series-c3").count() > 0

    page.goto(live_server + f"/users/{JANE}?days=7")
    person = page.locator("main").text_content()
    assert "OpenAI" in person and "Codex" in person

    page.goto(live_server + "/status?days=7")
    card = page.locator("article", has_text="acme")
    assert card.locator(".bill-reported").inner_text() == "$2.40"
    # 1.5M uncached × 1.25 + 0.5M cached × 0.125 + 0.1M × 10, and 10k × 1.25 + 1k × 10 $/M
    estimated = (Decimal("1.875") + Decimal("0.0625") + 1 + Decimal("0.0125") + Decimal("0.01"))
    assert card.locator(".bill-estimated").inner_text() == f"${estimated:.2f}"
    assert card.locator(".bill-difference").inner_text() == "-$0.56"
    assert page.get_by_text("key_unknown").count() > 0  # unattributable usage: unmapped
    assert page.problems == []
