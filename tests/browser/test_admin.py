"""The admin area in a real browser: add an account, assign an unmapped identity through the
assistant, filter the mappings, add a price override; screenshots for review."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from abacus.extensions import db
from abacus.models import Account, IdentityMapping, ModelPrice, UsageDaily, UsageEvent
from abacus.providers.base import UsageRecord
from abacus.sync.accounts import encrypt_credentials
from abacus.usage.ingest import ingest
from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, dev_sign_in, settled

CURSOR_KEY = "key_" + "B4dg3rS3cret" * 4

# (key, days ago, actor, email, raw model, input, output, provider cost or None)
ROWS = [
    ("a1", 1, "alice@example.com", "alice@example.com", "claude-sonnet-4-5-20250929",
     900_000, 120_000, "5.10"),
    ("a2", 2, "alice@example.com", "alice@example.com", "claude-opus-4-1", 300_000, 40_000, None),
    ("b1", 1, "bob@example.com", "bob@example.com", "gpt-5", 500_000, 60_000, "1.90"),
    ("c1", 3, "carol@example.com", "carol@example.com", "claude-sonnet-4-5-20250929",
     700_000, 90_000, None),
    ("k1", 1, "ci-alice-key", None, "claude-sonnet-4-5-20250929", 1_200_000, 80_000, "4.40"),
    ("k2", 2, "ci-alice-key", None, "claude-sonnet-4-5-20250929", 800_000, 50_000, "2.95"),
    ("k3", 4, "ci-alice-key", None, "claude-haiku-4-5-20251001", 200_000, 30_000, "0.35"),
    ("x1", 3, "key-7f3a", None, "mystery-model-9", 150_000, 20_000, None),
    ("x2", 5, "carol@example.com", "carol@example.com", "mystery-model-9", 90_000, 9_000, None),
]


def shot(page, name: str) -> None:
    """A full-page screenshot. The caret stays as it is: hiding it leaves `style=""` on every
    input, which htmx's settle step would copy to the next page (a CSP violation)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True, caret="initial")


def seed(app) -> None:
    today = datetime.now(UTC).date()
    records = [
        UsageRecord(event_key=key, tool="claude_code", actor=actor, email=email,
                    raw_model=model, input_tokens=inp, output_tokens=out,
                    occurred_at=datetime.combine(today - timedelta(days=ago), time(12),
                                                 tzinfo=UTC),
                    cost_usd=None if cost is None else Decimal(cost))
        for key, ago, actor, email, model, inp, out, cost in ROWS
    ]
    with app.app_context():
        secret = encrypt_credentials({"admin_key": "sk-ant-admin01-x"})
        account = Account(provider="anthropic", name="claude-org", credentials_encrypted=secret,
                          last_success_at=datetime.now(UTC) - timedelta(minutes=42))
        db.session.add(account)
        db.session.flush()
        ingest(account, records)
        db.session.commit()


def test_admin_adds_account_assigns_identity_and_sets_a_price(app, live_server, page):
    seed(app)
    dev_sign_in(page, live_server)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.wait_for_url(live_server + "/admin")
    assert "unmapped identities" in page.locator(".admin-cards").inner_text().lower()
    shot(page, "admin.png")

    # --- add an account: choosing the provider swaps in its credential fields (htmx) ---
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Accounts").click()
    page.wait_for_url(live_server + "/admin/accounts")
    settled(page)
    page.get_by_label("Provider").select_option(label="Cursor (team Admin API)")
    key_input = page.locator('input[name="credential_api_key"]')
    key_input.wait_for()
    assert key_input.get_attribute("type") == "password"
    page.get_by_label("Name").fill("cursor-team")
    key_input.fill(CURSOR_KEY)
    page.get_by_text("More settings: GitHub organization (Copilot), owner, proxy, base URL").click()
    page.get_by_label("Proxy URL").fill("http://egress:pr0xyPass@proxy.internal:3128")
    page.get_by_role("button", name="Add account").click()
    page.wait_for_url(re.compile(r".*/admin/accounts/\d+$"))
    page.get_by_text("Added Cursor (team Admin API) account “cursor-team”").wait_for()
    assert "B4dg3rS3cret" not in page.content() and "pr0xyPass" not in page.content()
    shot(page, "admin-account.png")
    page.get_by_role("link", name="← All accounts").click()
    row = page.locator("tr", has_text="cursor-team")
    assert "set" in row.inner_text() and "egress:••••@proxy.internal:3128" in row.inner_text()
    shot(page, "admin-accounts.png")

    # --- the identity mapping assistant: one click on the suggested person ---
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Identities").click()
    page.wait_for_url(live_server + "/admin/identities")
    item = page.locator("li.unmapped", has_text="ci-alice-key")
    assert "the name contains “alice”" in item.inner_text()
    shot(page, "admin-identities.png")
    item.get_by_role("button", name="Assign ci-alice-key to alice@example.com").click()
    page.get_by_text("ci-alice-key is now alice@example.com: 3 events re-attributed.").wait_for()
    assert page.locator("li.unmapped", has_text="ci-alice-key").count() == 0
    mapping_row = page.locator("#mapping-rows tr", has_text="ci-alice-key")
    assert "alice@example.com" in mapping_row.inner_text()
    assert "admin@example.com" in mapping_row.inner_text()

    # The other key gets a typed address.
    other = page.locator("li.unmapped", has_text="key-7f3a")
    other.get_by_label("E-mail of the person behind key-7f3a").fill("carol@example.com")
    other.get_by_role("button", name="Assign").click()
    page.get_by_text("key-7f3a is now carol@example.com").wait_for()
    page.get_by_text("Every identity has a person.").wait_for()
    settled(page)  # typing before the swapped content is live would be lost

    # Active search over the mappings swaps only the table and keeps the URL shareable.
    page.get_by_label("Filter mappings").fill("7f3a")
    page.wait_for_url(live_server + "/admin/identities?q=7f3a")
    page.locator("#mapping-rows", has_text="1 mapping matching “7f3a”").wait_for()
    assert page.locator("#mapping-rows tbody tr").count() == 1

    # --- pricing: set a price for the unpriced model from its row ---
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Pricing").click()
    page.wait_for_url(live_server + "/admin/pricing")
    model_row = page.locator("tr", has_text="mystery-model-9")
    assert "unpriced" in model_row.inner_text()
    model_row.get_by_role("link", name="Set price of mystery-model-9").click()
    page.wait_for_url(re.compile(r".*/admin/pricing\?model=mystery-model-9#price-form$"))
    assert page.get_by_label("Model", exact=True).input_value() == "mystery-model-9"
    # A mistake is explained next to the form (a 400 that htmx swaps in), values kept.
    page.get_by_label("Input USD / 1M tokens").fill("two")
    page.get_by_label("Output USD / 1M tokens").fill("8")
    page.get_by_label("Cache write USD / 1M tokens").fill("2.5")
    page.get_by_label("Cache read USD / 1M tokens").fill("0.2")
    page.get_by_role("button", name="Save price").click()
    page.get_by_text("Input: “two” is not a number; write it like 3 or 0.30.").wait_for()
    assert page.get_by_label("Output USD / 1M tokens").input_value() == "8"
    shot(page, "admin-pricing-error.png")
    # The browser and htmx both log the (intended) 400; nothing else may show up.
    expected = [p for p in page.problems if "400" in p or "htmx:responseError" in p]
    assert len(expected) == len(page.problems) == 2, page.problems
    page.problems.clear()
    page.get_by_label("Input USD / 1M tokens").fill("2")
    page.get_by_label("Output USD / 1M tokens").fill("8")
    page.get_by_label("Cache write USD / 1M tokens").fill("2.5")
    page.get_by_label("Cache read USD / 1M tokens").fill("0.2")
    page.get_by_label("Note optional").fill("Internal gateway rate")
    page.get_by_role("button", name="Save price").click()
    page.get_by_text("Added the price of mystery-model-9. 2 of 2 estimated or unpriced events "
                     "re-estimated").wait_for()
    overrides = page.locator("section", has=page.get_by_role("heading", name=re.compile(
        "^Overrides")))
    assert "mystery-model-9" in overrides.inner_text()
    assert "Internal gateway rate" in overrides.inner_text()
    shot(page, "admin-pricing.png")

    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="People").click()
    page.wait_for_url(live_server + "/admin/people")
    page.get_by_text("The only admin: make someone else an admin first.").wait_for()
    shot(page, "admin-people.png")

    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Overview").click()
    page.wait_for_url(live_server + "/admin")
    shot(page, "admin.png")
    page.set_viewport_size(PHONE)
    page.goto(live_server + "/admin/identities")
    shot(page, "admin-phone.png")
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="dark")
    page.goto(live_server + "/admin/pricing")
    shot(page, "admin-dark.png")

    with app.app_context():
        account = db.session.execute(
            select(Account).where(Account.name == "cursor-team")).scalar_one()
        assert CURSOR_KEY.encode() not in account.credentials_encrypted
        assert db.session.get(IdentityMapping, ("anthropic", "ci-alice-key")).assigned_by == (
            "admin@example.com")
        assert set(db.session.execute(select(UsageDaily.email).where(
            UsageDaily.actor == "ci-alice-key")).scalars()) == {"alice@example.com"}
        assert db.session.execute(select(ModelPrice.created_by).where(
            ModelPrice.model == "mystery-model-9")).scalar_one() == "admin@example.com"
        sources = set(db.session.execute(select(UsageEvent.cost_source).where(
            UsageEvent.model == "mystery-model-9")).scalars())
        assert sources == {"estimated"}

    assert page.problems == []
