"""Commits and repository pages in Chromium: sort the repository table, open a repository,
filter its commits, expand one, page on; screenshots of each page go to tests/artifacts/."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from abacus.demo.seed import seed_demo
from abacus.extensions import db
from abacus.models import Commit, CommitAttribution, Repository
from tests.browser.conftest import DESKTOP, PHONE, shoot, sign_in_from

PEOPLE = ["alice@example.com", "bob@example.com", "carol@example.com", "dan@example.com",
          None]  # None: an author nobody mapped (shown by GitHub login)
TOOLS = [(), (), (), (("claude_code", "opus-4.5"),), (("claude_code", "sonnet-4.5"),),
         (("cursor", None),), (("github_copilot", None),), (("codex", None),),
         (("claude_code", "opus-4.5"), ("cursor", None))]
SUBJECTS = ["Add retry to the webhook client", "Fix the timezone in daily rollups",
            "Refactor the pricing table loader", "Bump dependencies",
            "Document the backfill command", "Speed up the team pivot query",
            "Handle empty CSV uploads", "Rename the sync state columns"]


def seed(app) -> None:
    """Usage for the person pages, and 30 days of commits on four repositories."""
    rnd = random.Random(11)
    today = datetime.now(UTC).date()
    with app.app_context():
        seed_demo(people=4, days=30)
        n = 0
        for name, per_day in (("acme/api", 4), ("acme/web", 2), ("acme/infra", 1),
                              ("acme/docs", 1)):
            repo = Repository(full_name=name, html_url=f"https://github.com/{name}")
            db.session.add(repo)
            db.session.flush()
            for days_ago in range(30):
                for _ in range(rnd.randint(0, per_day)):
                    n += 1
                    person = rnd.choice(PEOPLE)
                    tools = rnd.choice(TOOLS)
                    at = datetime.combine(today - timedelta(days=days_ago),
                                          time(rnd.randint(0, 23), rnd.randint(0, 59)),
                                          tzinfo=UTC)
                    message = rnd.choice(SUBJECTS)
                    message += f"\n\nWhy: keep the numbers right (change {n}).\n"
                    if tools and tools[0][0] == "claude_code":
                        message += "\nCo-authored-by: Claude <noreply@anthropic.com>"
                    known = rnd.random() > 0.1
                    sha = f"{n:07x}" + "ab" * 16 + "0"
                    commit = Commit(
                        repository_id=repo.id, sha=sha, committed_at=at, message=message,
                        author_name=(person or "octo").split("@")[0].title(),
                        author_email=person, author_login=None if person else "octo-dev",
                        person=person, additions=rnd.randint(1, 400) if known else None,
                        deletions=rnd.randint(0, 200) if known else None,
                        ai_tool=tools[0][0] if tools else None,
                        ai_model=tools[0][1] if tools else None, source="api",
                        html_url=f"https://github.com/{name}/commit/{sha}")
                    db.session.add(commit)
                    db.session.flush()
                    for tool, model in tools:
                        db.session.add(CommitAttribution(commit_id=commit.id, tool=tool,
                                                         model=model, signal="co_author"))
        db.session.commit()


def test_commits_and_repository_pages_in_the_browser(app, live_server, page):
    seed(app)
    sign_in_from(page, live_server, "/commits")

    expect(page.get_by_role("heading", name="Commits", exact=True)).to_be_visible()
    for label in ("Total commits", "AI attributed", "Repositories", "Lines changed"):
        expect(page.locator(".stat-label", has_text=label)).to_be_visible()
    expect(page.locator(".commit-tools .tool-legend li")).to_have_count(4)
    rows = page.locator("table.repo-table tbody tr")
    expect(rows).to_have_count(4)
    shoot(page, "commits")

    # Sort by AI %: an htmx swap of the table; the address bar follows.
    page.locator("table.repo-table thead th", has_text="AI %").get_by_role("link").click()
    page.wait_for_url(re.compile(r"sort=ai_rate&dir=desc"))
    page.locator('table.repo-table th[aria-sort="descending"]', has_text="AI %").wait_for()
    rates = [float(t.rstrip("%")) for t in page.locator(
        "table.repo-table tbody tr td:nth-child(4) span").evaluate_all(
        "els => els.map(e => e.title)")]
    assert len(rates) == 4 and rates == sorted(rates, reverse=True)
    assert parse_qs(urlsplit(page.get_by_role("link", name="7d").get_attribute("href")).query)[
        "sort"] == ["ai_rate"]

    # Open the repository with the most commits.
    page.goto(live_server + "/commits?days=30")
    page.locator("table.repo-table tbody tr").first.locator(".repo-name").click()
    page.wait_for_url(re.compile(r"/repositories/github/acme/api\?days=30$"))
    expect(page.get_by_role("heading", name="acme/api")).to_be_visible()
    expect(page.get_by_text("Daily commits")).to_be_visible()
    expect(page.locator(".commit-list tbody tr")).to_have_count(50)
    shoot(page, "repository")

    # Filter: AI attributed, then Human (htmx swaps of the list only).
    page.locator(".commit-list").get_by_role("link", name="AI attributed").click()
    page.wait_for_url(re.compile(r"filter=ai"))
    page.locator('.commit-list a[aria-current="true"]', has_text="AI attributed").wait_for()
    tools = page.locator(".commit-list tbody td.commit-tools-cell").all_inner_texts()
    assert tools and all("Human" not in t and t.strip() for t in tools)
    page.locator(".commit-list").get_by_role("link", name="Human").click()
    page.wait_for_url(re.compile(r"filter=human"))
    page.locator('.commit-list a[aria-current="true"]', has_text="Human").wait_for()
    tools = page.locator(".commit-list tbody td.commit-tools-cell").all_inner_texts()
    assert tools and all(t.strip() == "Human" for t in tools)

    # Expand a commit: its whole message shows.
    first = page.locator(".commit-list tbody tr").first
    body = first.locator(".commit-message pre")
    expect(body).to_be_hidden()
    first.locator("summary").click()
    expect(body).to_be_visible()
    expect(body).to_contain_text("Why: keep the numbers right")
    shoot(page, "repository-human-expanded")

    # Page on through all commits.
    page.locator(".commit-list").get_by_role("link", name="All commits").click()
    page.wait_for_url(lambda url: "filter" not in url)
    page.locator(".commit-list").get_by_role("link", name="Next ›").click()
    page.wait_for_url(re.compile(r"page=2"))
    expect(page.locator(".commit-count")).to_contain_text("51–")

    # A person's commits tab.
    page.goto(live_server + "/users/alice@example.com?tab=commits&days=30")
    expect(page.get_by_role("link", name="Commits", exact=True).last).to_have_attribute(
        "aria-current", "page")
    expect(page.locator(".commit-list tbody tr").first).to_be_visible()
    shoot(page, "person-commits")

    page.goto(live_server + "/commits?days=30")
    page.set_viewport_size(PHONE)
    shoot(page, "commits-phone")
    page.goto(live_server + "/repositories/github/acme/api?days=30")
    shoot(page, "repository-phone")
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="dark")
    shoot(page, "repository-dark")
    page.goto(live_server + "/?days=30")
    shoot(page, "overview-with-commits")

    assert page.problems == []
