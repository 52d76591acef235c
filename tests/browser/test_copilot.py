"""GitHub Copilot in a real browser: synced from the fake Copilot API through the sync engine,
then seen on Overview, Team, Usage and the person page (strict CSP, no console errors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from abacus.extensions import db
from abacus.people.identities import assign
from abacus.sync import accounts as accounts_service
from abacus.sync.engine import sync_account
from tests.browser.conftest import dev_sign_in as sign_in
from tests.fakes.copilot import FakeCopilot, credit_item, user_line
from tests.fakes.github import DEFAULT_TOKEN

DAY = datetime.now(UTC).date() - timedelta(days=4)


def seed(app) -> None:
    with FakeCopilot(org="acme") as fake, app.app_context():
        fake.users[DAY] = [
            user_line(DAY, "octocat", 583231, generations=80, acceptances=20, loc_added=321,
                      credits="1234.5", ide="vscode"),
            user_line(DAY, "hubot", 2, generations=10, acceptances=5, credits="10",
                      ide="jetbrains")]
        fake.billing[(DAY, None)] = [credit_item("Claude Sonnet 4.6", "1244.5",
                                                 net_credits="44.5")]
        fake.billing[(DAY, "octocat")] = [credit_item("Claude Sonnet 4.6", "1234.5",
                                                      net_credits="44.5")]
        fake.billing[(DAY, "hubot")] = [credit_item("Claude Sonnet 4.6", "10")]
        account = accounts_service.add_account("copilot", "gh", {"token": DEFAULT_TOKEN},
                                               {"org": "acme", "base_url": fake.url})
        db.session.commit()
        outcome = sync_account(account.id, first=DAY, last=DAY)
        assert outcome.status == "success", outcome.message
        assign("copilot", "octocat", "octo@example.com", "test")
        db.session.commit()


def test_copilot_shows_on_overview_team_usage_and_person(app, live_server, page):
    seed(app)
    sign_in(page, live_server)
    rng = f"start={DAY}&end={DAY}"

    page.goto(f"{live_server}/?{rng}")
    row = page.locator("tr", has_text="GitHub Copilot").first
    assert "$12.45" in row.inner_text() and "usage value" in row.inner_text()

    page.goto(f"{live_server}/team?{rng}")
    assert page.get_by_role("columnheader", name="GitHub Copilot").count() >= 1
    assert page.locator("tr", has_text="octo@example.com").first.is_visible()

    page.goto(f"{live_server}/usage?{rng}")
    section = page.locator("#copilot")
    section.wait_for()
    text = section.inner_text()
    assert "Active Copilot users per day" in text and "jetbrains" in text
    assert "billed $0.45 after included credits" in text
    day_row = section.locator("table.copilot-days tbody tr").first.inner_text()
    assert "2" in day_row.split("\t")[1]  # two active users that day

    page.goto(f"{live_server}/users/octo@example.com?{rng}")
    copilot = page.locator("#copilot")
    copilot.wait_for()
    text = copilot.inner_text()
    assert "GitHub Copilot activity" in text and "25%" in text and "321" in text
    assert "vscode" in text and "code_completion" in text
