"""Commits `/commits`, repository pages, the Overview's commit card and person commits: what a
reader sees, against the real database (commits seeded through the ORM)."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from abacus.extensions import db
from abacus.models import Commit, CommitAttribution, Repository
from abacus.providers.base import UsageRecord
from tests.helpers import seed, sign_in

ALICE, BOB, CAROL, ERIN = ("alice@example.com", "bob@example.com", "carol@example.com",
                           "erin@example.com")
API, WEB, TOOLS, OLD = "acme/api", "acme/web", "acme/tools", "acme/old"


# --- helpers -------------------------------------------------------------------------------

def today() -> date:
    return datetime.now(UTC).date()  # the test app's org time zone is UTC


class Seeder:
    """Repositories and commits written straight through the ORM."""

    def __init__(self, app):
        self.app = app
        self.repos: dict[str, int] = {}
        self.n = 0

    def repo(self, full_name: str) -> int:
        if full_name not in self.repos:
            with self.app.app_context():
                r = Repository(full_name=full_name, html_url=f"https://github.com/{full_name}")
                db.session.add(r)
                db.session.commit()
                self.repos[full_name] = r.id
        return self.repos[full_name]

    def commit(self, repo: str, title: str, days_ago: int = 0, *,
               tools: Sequence[tuple[str, str | None]] = (), person: str | None = None,
               login: str | None = None, lines: tuple[int, int] | None = (1, 1),
               at: time = time(12), when: datetime | None = None, body: str = "") -> str:
        """One commit; `tools` lists (tool, model), the first being the primary one."""
        repo_id = self.repo(repo)
        self.n += 1
        sha = f"{self.n:04x}" + "0" * 36
        committed = when or datetime.combine(today() - timedelta(days=days_ago), at, tzinfo=UTC)
        with self.app.app_context():
            c = Commit(repository_id=repo_id, sha=sha, committed_at=committed,
                       message=title + (f"\n\n{body}" if body else ""),
                       author_email=person, author_login=login, person=person,
                       author_name=(person or login or "someone").split("@")[0].title(),
                       additions=lines[0] if lines else None,
                       deletions=lines[1] if lines else None,
                       ai_tool=tools[0][0] if tools else None,
                       ai_model=tools[0][1] if tools else None,
                       source="api", html_url=f"https://github.com/{repo}/commit/{sha}")
            db.session.add(c)
            db.session.flush()
            for tool, model in tools:
                db.session.add(CommitAttribution(commit_id=c.id, tool=tool, model=model,
                                                 signal="co_author"))
            db.session.commit()
        return sha


def visible(fragment: str) -> str:
    fragment = re.sub(r"<(script|style|title)\b.*?</\1>", " ", fragment, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def body(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def cards(response) -> dict[str, str]:
    """Stat cards: label -> everything else the card says."""
    out = {}
    for card in re.findall(r'<section class="card stat">(.*?)</section>', body(response),
                           flags=re.S):
        label = visible(re.search(r"<h2[^>]*>(.*?)</h2>", card, flags=re.S).group(1))
        out[label] = visible(re.sub(r"<h2[^>]*>.*?</h2>", "", card, flags=re.S))
    return out


def table(response, cls: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(headers, body rows, footer) of the table with class `cls`, as a reader sees them."""
    match = re.search(rf'<table class="[^"]*\b{cls}\b[^"]*">(.*?)</table>', body(response),
                      flags=re.S)
    assert match, f"no table.{cls}"
    t = match.group(1)

    def cells(fragment: str) -> list[str]:
        fragment = re.sub(r'<span class="(sort-mark|visually-hidden)".*?</span>', "", fragment,
                          flags=re.S)
        return [visible(c) for c in re.findall(r"<t[hd]\b.*?</t[hd]>", fragment, flags=re.S)]

    head = re.search(r"<thead>(.*?)</thead>", t, flags=re.S)
    rows = re.search(r"<tbody>(.*?)</tbody>", t, flags=re.S)
    foot = re.search(r"<tfoot>(.*?)</tfoot>", t, flags=re.S)
    return (cells(head.group(1)) if head else [],
            [cells(tr) for tr in re.findall(r"<tr\b[^>]*>(.*?)</tr>", rows.group(1), flags=re.S)]
            if rows else [],
            cells(foot.group(1)) if foot else [])


def repo_names(response) -> list[str]:
    return re.findall(r'class="repo-name"[^>]*>([^<]+)<', body(response))


def commit_titles(response) -> list[str]:
    return [html.unescape(t) for t in
            re.findall(r'class="commit-title">([^<]*)<', body(response))]


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def chart_rows(response) -> dict[str, dict[str, str]]:
    """The daily chart's data table: day -> {series: value}."""
    data = re.search(r'<details class="chart-data">(.*?)</details>', body(response), flags=re.S)
    assert data, "no chart data table"
    head, rest = data.group(1).split("</thead>")
    headers = [visible(c) for c in re.findall(r"<th\b.*?</th>", head, flags=re.S)]
    rows = [[visible(c) for c in re.findall(r"<t[hd]\b.*?</t[hd]>", tr, flags=re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", rest, flags=re.S)]
    return {r[0]: dict(zip(headers[1:], r[1:], strict=True)) for r in rows}


# --- the data ------------------------------------------------------------------------------
#
# In the last 30 days (days ago; lines +/-):
#   acme/api   d0 12:00 alice  Claude Code (opus-4.5)        +10/-2
#              d1       bob    Claude Code + Cursor          +5/-5   (two tools)
#              d2       alice  Codex                          +1/-1
#              d3       carol  human                          +100/-50
#              d3       bob    human, line stats unknown
#   acme/web   d0 09:00 carol  Cursor                         +20/-0
#              d5       dave-gh (no person) human             +3/-3
#              d6       dave-gh human                         +1/-1
#              d7       carol  human                          +1/-1
#   acme/tools d10      erin   Aider (x2)                     +500/-400, +1/-1
# In the 30 days before: acme/api d31 human, d35 Claude Code; acme/old d40 human.

@pytest.fixture
def data(app) -> Seeder:
    s = Seeder(app)
    s.commit(API, "Add the billing endpoint", 0, tools=[("claude_code", "opus-4.5")],
             person=ALICE, lines=(10, 2), body="Co-authored-by: Claude <noreply@anthropic.com>")
    s.commit(API, "Refactor the invoice model", 1,
             tools=[("claude_code", "sonnet-4.5"), ("cursor", None)], person=BOB, lines=(5, 5))
    s.commit(API, "Fix a flaky test", 2, tools=[("codex", None)], person=ALICE, lines=(1, 1))
    s.commit(API, "Write the migration by hand", 3, person=CAROL, lines=(100, 50))
    s.commit(API, "Bump the version", 3, person=BOB, lines=None, at=time(15))
    s.commit(WEB, "Restyle the header", 0, tools=[("cursor", None)], person=CAROL, lines=(20, 0),
             at=time(9))
    s.commit(WEB, "Fix a typo", 5, login="dave-gh", lines=(3, 3))
    s.commit(WEB, "Update the footer", 6, login="dave-gh")
    s.commit(WEB, "Tidy the styles", 7, person=CAROL)
    s.commit(TOOLS, "Generate the fixtures", 10, tools=[("aider", "gpt-5")], person=ERIN,
             lines=(500, 400))
    s.commit(TOOLS, "Regenerate the fixtures", 10, tools=[("aider", None)], person=ERIN,
             at=time(13))
    s.commit(API, "Old human commit", 31, person=ALICE)
    s.commit(API, "Old Claude commit", 35, tools=[("claude_code", None)], person=ALICE)
    s.commit(OLD, "Ancient history", 40, person=BOB)
    return s


@pytest.fixture
def admin(client):
    sign_in(client, "admin@example.com")
    return client


# --- /commits: cards and tools -------------------------------------------------------------

def test_cards_show_totals_with_deltas_against_the_previous_window(data, admin):
    c = cards(admin.get("/commits?days=30"))
    assert c["Total commits"] == "11 ▲ +267% across 3 repos"  # 3 in the 30 days before
    assert c["AI attributed"] == "55% ▲ +21 pts 6 commits"  # 33.3% before
    assert c["Repositories"] == "3 ▲ +50% with commits in period"  # 2 before
    # One commit's line stats are unknown: not counted as 0, and said so.
    assert c["Lines changed"] == ("1.1K ▲ +18333% +642 / −464 10 of 11 commits have line "
                                  "stats")  # 6 lines before


def test_attributed_commits_by_tool_counts_a_two_tool_commit_for_both(data, admin):
    page = body(admin.get("/commits?days=30"))
    card = visible(re.search(r'<section class="card commit-tools">(.*?)</section>', page,
                             flags=re.S).group(1))
    assert card.startswith("Attributed commits by tool 6 AI-attributed commits")
    # Most first; ties in the attribution table's order. Shares are of the 6 AI commits.
    assert re.findall(r"(Claude Code|Cursor|Aider|Codex) (\d+) \((\d+%)\)", card) == [
        ("Claude Code", "2", "33%"), ("Cursor", "2", "33%"), ("Aider", "2", "33%"),
        ("Codex", "1", "17%")]
    assert "counts for both" in card


# --- /commits: the repository table --------------------------------------------------------

def test_repository_table_rows_and_totals(data, admin):
    headers, rows, foot = table(admin.get("/commits?days=30"), "repo-table")
    assert headers == ["Repository", "Commits", "AI attributed", "AI %", "Tool split",
                       "Authors", "Additions", "Deletions", "Last commit"]
    day = today()
    assert [r[:4] + r[5:] for r in rows] == [
        [f"{API} ↗", "5", "3", "60%", "3", "+116*", "−58*", f"{day:%b} {day.day}, {day.year}"],
        [f"{WEB} ↗", "4", "1", "25%", "2", "+25", "−5", f"{day:%b} {day.day}, {day.year}"],
        [f"{TOOLS} ↗", "2", "2", "100%", "1", "+501", "−401",
         _day(day - timedelta(days=10))],
    ]
    # Distinct authors over every repository, not the sum of the rows (carol is in two).
    assert foot[:4] + foot[5:] == ["Total 3 repos", "11", "6", "55%", "5", "+642*", "−464*",
                                   _day(day)]
    page = body(admin.get("/commits?days=30"))
    assert "Line stats are known for 10 of 11 commits" in visible(page)
    # The tool split names each tool's commits (read by screen readers and hover titles).
    assert "Claude Code 2, Cursor 1, Codex 1" in page
    assert 'href="/repositories/github/acme/api?days=30"' in page
    assert 'href="https://github.com/acme/api"' in page


def _day(d: date) -> str:
    return f"{d:%b} {d.day}, {d.year}"


@pytest.mark.parametrize(("sort", "descending"), [
    ("commits", [API, WEB, TOOLS]),
    ("ai_commits", [API, TOOLS, WEB]),
    ("ai_rate", [TOOLS, API, WEB]),
    ("authors", [API, WEB, TOOLS]),
    ("additions", [TOOLS, API, WEB]),
    ("deletions", [TOOLS, API, WEB]),
    ("last_commit", [API, WEB, TOOLS]),
    ("repo", [WEB, TOOLS, API]),
])
def test_every_column_but_the_tool_split_sorts_both_ways(data, admin, sort, descending):
    assert repo_names(admin.get(f"/commits?days=30&sort={sort}&dir=desc")) == descending
    assert repo_names(admin.get(f"/commits?days=30&sort={sort}&dir=asc")) == descending[::-1]
    page = body(admin.get("/commits?days=30"))
    assert "sort=tool_split" not in page


def test_default_sort_and_natural_directions(data, admin):
    page = admin.get("/commits?days=30")
    assert repo_names(page) == [API, WEB, TOOLS]  # most commits first
    links = re.findall(r'<a class="sort" href="([^"]+)"', body(page))
    assert "/commits?days=30&amp;sort=repo&amp;dir=asc" in links  # names A→Z first
    assert "/commits?days=30&amp;sort=commits&amp;dir=asc" in links  # the current one flips
    assert "/commits?days=30&amp;sort=authors&amp;dir=desc" in links
    # An unknown sort falls back to the default.
    assert repo_names(admin.get("/commits?days=30&sort=tool_split")) == [API, WEB, TOOLS]


def test_sorting_through_htmx_returns_the_table_and_pushes_the_tidy_url(data, admin):
    response = admin.get("/commits?days=30&sort=ai_rate&dir=desc",
                         headers={"HX-Request": "true"})
    page = body(response)
    assert "<html" not in page and 'class="card stat"' not in page
    assert repo_names(response) == [TOOLS, API, WEB]
    assert response.headers["HX-Push-Url"] == "/commits?days=30&sort=ai_rate&dir=desc"
    # The range picker, swapped out of band, keeps the sort.
    assert 'hx-swap-oob="true"' in page
    assert "/commits?sort=ai_rate&amp;dir=desc&amp;days=7" in page


def test_column_chooser_shows_the_chosen_columns_in_table_order(data, admin):
    response = admin.get("/commits?days=30&cols=authors,commits")
    headers, rows, foot = table(response, "repo-table")
    assert headers == ["Repository", "Commits", "Authors"]
    assert rows[0] == [f"{API} ↗", "5", "3"]
    assert foot == ["Total 3 repos", "11", "5"]
    assert headers == table(admin.get("/commits?days=30&cols=commits,authors"), "repo-table")[0]
    # Every box unticked: the repository alone.
    assert table(admin.get("/commits?days=30&cols="), "repo-table")[0] == ["Repository"]


def test_csv_holds_exactly_the_rows_and_columns_shown(data, admin):
    args = "days=30&sort=additions&dir=asc&cols=commits,ai_rate,tool_split,additions"
    headers, rows, _ = table(admin.get(f"/commits?{args}"), "repo-table")
    exported = read_csv(admin.get(f"/commits/export.csv?{args}"))
    assert headers == ["Repository", "Commits", "AI %", "Tool split", "Additions"]
    # The tool split becomes one column per tool found in the range.
    assert exported[0] == ["repository", "commits", "ai_rate_pct", "claude_code_commits",
                           "cursor_commits", "codex_commits", "aider_commits", "lines_added"]
    assert [r[0] for r in exported[1:]] == [r[0].removesuffix(" ↗") for r in rows]
    assert exported[1:] == [
        [WEB, "4", "25.0", "0", "1", "0", "0", "25"],
        [API, "5", "60.0", "2", "1", "1", "0", "116"],
        [TOOLS, "2", "100.0", "0", "0", "0", "2", "501"],
    ]
    every = read_csv(admin.get("/commits/export.csv?days=30"))
    assert every[0][-4:] == ["authors", "lines_added", "lines_deleted", "last_commit_at"]
    assert every[1][-1].startswith(today().isoformat() + "T12:00:00")


def test_unknown_line_stats_are_blank_in_the_csv_not_zero(app, admin):
    s = Seeder(app)
    s.commit(API, "Pushed, not enriched yet", 0, tools=[("cursor", None)], lines=None)
    headers, rows, foot = table(admin.get("/commits?days=30"), "repo-table")
    assert rows[0][6:8] == ["—", "—"]
    assert foot[6:8] == ["—", "—"]
    assert read_csv(admin.get("/commits/export.csv?days=30"))[1][6:8] == ["", ""]
    assert cards(admin.get("/commits?days=30"))["Lines changed"] == (
        "— no commit here has line stats yet")


def test_repository_table_pages_keep_the_totals(app, admin):
    s = Seeder(app)
    for i in range(52):
        s.commit(f"acme/r{i:02d}", f"Commit {i}", 1)
    first = admin.get("/commits?days=30&sort=repo&dir=asc")
    assert len(repo_names(first)) == 50
    assert "1–50 of 52 repositories with commits" in visible(body(first))
    second = admin.get("/commits?days=30&sort=repo&dir=asc&page=2")
    assert repo_names(second) == ["acme/r50", "acme/r51"]
    assert table(second, "repo-table")[2][:2] == ["Total 52 repos", "52"]
    assert repo_names(admin.get("/commits?days=30&sort=repo&dir=asc&page=9")) == [
        "acme/r50", "acme/r51"]  # past the end: the last page
    assert len(read_csv(admin.get("/commits/export.csv?days=30"))) == 53  # every row


def test_the_range_is_respected(data, admin):
    assert repo_names(admin.get("/commits?days=7")) == [API, WEB]  # acme/tools is 10 days old
    assert cards(admin.get("/commits?days=7"))["Total commits"].startswith("8 ")
    custom = admin.get(f"/commits?start={today() - timedelta(days=35)}"
                       f"&end={today() - timedelta(days=31)}")
    assert repo_names(custom) == [API]
    assert table(custom, "repo-table")[1][0][1:3] == ["2", "1"]


def test_days_follow_the_org_time_zone(app, make_app):
    s = Seeder(app)
    # 03:00 UTC on March 10 is still March 9 in New York.
    s.commit(API, "Late evening in New York", when=datetime(2026, 3, 10, 3, tzinfo=UTC))
    other = make_app(ABACUS_TIMEZONE="America/New_York")
    client = other.test_client()
    sign_in(client, "admin@example.com")
    assert repo_names(client.get("/commits?start=2026-03-09&end=2026-03-09")) == [API]
    assert repo_names(client.get("/commits?start=2026-03-10&end=2026-03-10")) == []
    page = client.get("/repositories/github/acme/api?start=2026-03-09&end=2026-03-09")
    assert "Mar 9, 2026 23:00" in visible(body(page))
    assert chart_rows(page)["Mar 9, 2026"]["Human"] == "1"


def test_empty_state_tells_admins_how_to_connect_github(app, client):
    sign_in(client, "admin@example.com")
    page = visible(body(client.get("/commits")))
    assert "No commit data yet" in page
    assert "POST /webhooks/github" in page and "GITHUB_WEBHOOK_SECRET" in page
    assert "flask abacus github backfill --org ORG --from YYYY-MM-DD" in page

    member = app.test_client()
    sign_in(member, ALICE)
    page = visible(body(member.get("/commits")))
    assert "An admin connects GitHub" in page and "GITHUB_WEBHOOK_SECRET" not in page


def test_commits_outside_the_range_point_to_a_longer_one(app, admin):
    Seeder(app).commit(API, "Long ago", 100)
    page = body(admin.get("/commits?days=30"))
    assert "No commits in the last 30 days" in visible(page)
    assert 'href="/commits?days=365"' in page


# --- repository pages ----------------------------------------------------------------------

def test_repository_page_cards_tools_and_span(data, admin):
    response = admin.get("/repositories/github/acme/api?days=30")
    page = visible(body(response))
    assert f"Data from {_day(today() - timedelta(days=35))} to {_day(today())}" in page
    assert "7 commits stored" in page
    c = cards(response)
    assert c["Commits"] == "5 ▲ +150% 2 without an AI tool"  # 2 in the window before
    assert c["AI attributed"] == "60% ▲ +10 pts 3 commits"  # 50% before
    assert c["Contributors"] == "3 ▲ +200% distinct authors"  # alice alone before
    assert c["Lines changed"] == "174 ▲ +4250% +116 / −58 4 of 5 commits have line stats"
    tools = visible(re.search(r'<section class="card commit-tools">(.*?)</section>',
                              body(response), flags=re.S).group(1))
    assert re.findall(r"(Claude Code|Cursor|Codex) (\d+) \((\d+%)\)", tools) == [
        ("Claude Code", "2", "67%"), ("Cursor", "1", "33%"), ("Codex", "1", "33%")]


def test_daily_chart_never_counts_an_attributed_commit_as_human(data, admin):
    rows = chart_rows(admin.get("/repositories/github/acme/api?days=30"))
    d = [_day(today() - timedelta(days=n)) for n in range(4)]
    assert rows[d[0]] == {"Human": "0", "Claude Code": "1", "Codex": "0", "Total": "1"}
    # The two-tool commit stacks once, under its primary tool: the day still totals 1.
    assert rows[d[1]] == {"Human": "0", "Claude Code": "1", "Codex": "0", "Total": "1"}
    assert rows[d[2]] == {"Human": "0", "Claude Code": "0", "Codex": "1", "Total": "1"}
    assert rows[d[3]] == {"Human": "2", "Claude Code": "0", "Codex": "0", "Total": "2"}
    assert sum(int(r["Total"]) for r in rows.values()) == 5


def test_commit_list_filters_all_ai_and_human(data, admin):
    url = "/repositories/github/acme/api?days=30"
    assert commit_titles(admin.get(url)) == [
        "Add the billing endpoint", "Refactor the invoice model", "Fix a flaky test",
        "Bump the version", "Write the migration by hand"]
    assert commit_titles(admin.get(url + "&filter=ai")) == [
        "Add the billing endpoint", "Refactor the invoice model", "Fix a flaky test"]
    # Codex is a tool without a usage provider: still never Human.
    assert commit_titles(admin.get(url + "&filter=human")) == [
        "Bump the version", "Write the migration by hand"]
    page = body(admin.get(url + "&filter=human"))
    assert 'aria-current="true">Human</a>' in page
    assert "1–2 of 2" in visible(page)


def test_commit_rows_show_what_a_reader_needs(data, admin):
    response = admin.get("/repositories/github/acme/api?days=30")
    headers, rows, _ = table(response, "commits-table")
    assert headers == ["Commit", "SHA", "Author", "When", "Lines", "AI tools"]
    first, second, _, unknown, _ = rows
    # The title expands to the whole message.
    assert first[0].startswith("Add the billing endpoint Add the billing endpoint Co-authored-by:")
    assert first[1] == "0001000"
    assert first[2] == ALICE
    assert first[3] == f"{_day(today())} 12:00"
    assert first[4] == "+10 −2"
    assert first[5] == "Claude Code · Opus 4.5"
    assert second[5] == "Claude Code · Sonnet 4.5 Cursor"  # primary first, every tool shown
    assert unknown[4] == "—" and unknown[5] == "Human"
    page = body(response)
    assert '<details class="commit-details">' in page
    assert 'href="https://github.com/acme/api/commit/0001' in page
    assert f'href="/users/{ALICE}?days=30"' in page  # the author's person page

    # An author nobody mapped shows by login, without a link.
    web = admin.get("/repositories/github/acme/web?days=30")
    assert [r[2] for r in table(web, "commits-table")[1]] == [CAROL, "dave-gh", "dave-gh",
                                                               CAROL]
    assert "/users/dave-gh" not in body(web)


def test_links_from_stored_data_are_only_web_addresses(app, admin):
    s = Seeder(app)
    s.commit(API, "Innocent", 0)
    with app.app_context():
        db.session.execute(text("UPDATE commits SET html_url = 'javascript:alert(1)'"))
        db.session.execute(text("UPDATE repositories SET html_url = 'javascript:alert(2)'"))
        db.session.commit()
    for url in ("/commits", "/repositories/github/acme/api"):
        page = body(admin.get(url))
        assert "javascript:" not in page
    headers, rows, _ = table(admin.get("/repositories/github/acme/api"), "commits-table")
    assert rows[0][1] == "0001000"  # the SHA, shown without a link


def test_commit_list_pages_through_htmx(app, admin):
    s = Seeder(app)
    start = datetime.combine(today(), time(0), tzinfo=UTC)
    for i in range(120):
        s.commit(API, f"Commit {i:03d}", when=start + timedelta(minutes=i),
                 tools=[("cursor", None)] if i % 2 else ())
    url = "/repositories/github/acme/api?days=30"
    first = admin.get(url)
    titles = commit_titles(first)
    assert len(titles) == 50 and titles[0] == "Commit 119"
    assert "1–50 of 120" in visible(body(first))
    assert 'href="/repositories/github/acme/api?days=30&amp;page=2"' in body(first)

    third = admin.get(url + "&page=3", headers={"HX-Request": "true"})
    page = body(third)
    assert "<html" not in page and page.lstrip().startswith('<section class="card commit-list"')
    assert commit_titles(third) == [f"Commit {i:03d}" for i in range(19, -1, -1)]
    assert "101–120 of 120" in visible(page)
    assert 'hx-swap-oob="true"' in page  # the range picker keeps the page's filter

    ai = admin.get(url + "&filter=ai&page=2")
    assert "51–60 of 60" in visible(body(ai))
    assert all(int(t.split()[1]) % 2 for t in commit_titles(ai))
    # Past the end: the last page.
    assert commit_titles(admin.get(url + "&filter=ai&page=7")) == commit_titles(ai)


def test_unknown_repository_is_a_404_and_letter_case_redirects(data, admin):
    response = admin.get("/repositories/github/acme/nope")
    assert response.status_code == 404
    assert "No repository acme/nope" in visible(response.get_data(as_text=True))
    moved = admin.get("/repositories/github/ACME/Api?days=7")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "/repositories/github/acme/api?days=7"


def test_member_visibility_self_lists_only_own_commits(data, make_app):
    other = make_app(ABACUS_MEMBER_VISIBILITY="self")
    member = other.test_client()
    sign_in(member, ALICE)
    response = member.get("/repositories/github/acme/api?days=30")
    assert commit_titles(response) == ["Add the billing endpoint", "Fix a flaky test"]
    assert cards(response)["Commits"].startswith("5 ")  # the figures cover everyone
    assert "You see your own commits only" in visible(body(response))
    # The Commits page lists repositories, not people: all of it.
    assert repo_names(member.get("/commits?days=30")) == [API, WEB, TOOLS]
    assert member.get(f"/users/{BOB}?tab=commits").status_code == 403
    assert commit_titles(member.get(f"/users/{ALICE}?tab=commits&days=30")) == [
        "Add the billing endpoint", "Fix a flaky test"]

    admin = other.test_client()
    sign_in(admin, "admin@example.com")
    assert len(commit_titles(admin.get("/repositories/github/acme/api?days=30"))) == 5


# --- Overview and person pages -------------------------------------------------------------

def usage(app) -> None:
    seed(app, [UsageRecord(
        event_key="u1", occurred_at=datetime.combine(today(), time(10), tzinfo=UTC),
        tool="claude_code", actor=ALICE, email=ALICE, raw_model="claude-sonnet-4-5-20250929",
        input_tokens=1000, output_tokens=100, cost_usd=Decimal("1.00"))])


def test_overview_shows_ai_commits_only_once_commits_exist(app, admin):
    usage(app)
    page = body(admin.get("/?days=30"))
    assert "AI-attributed commits" not in page
    assert "Total tokens" in cards(admin.get("/?days=30"))

    s = Seeder(app)
    s.commit(API, "One", 1, tools=[("claude_code", None), ("cursor", None)])
    s.commit(API, "Two", 2, tools=[("github_copilot", None)])
    s.commit(API, "Three", 3)
    s.commit(API, "Four", 4)
    s.commit(API, "Before", 40, tools=[("claude_code", None)])
    response = admin.get("/?days=30")
    assert cards(response)["AI-attributed commits"] == "2 ▲ +100% 50% of 4 commits"
    page = visible(body(response))
    assert "3 AI-attributed commits" in page  # the all-time strip
    # The tool table gains commits; a tool seen only in commits gets a row of its own.
    assert "Claude Code 1 AI commit 100% 1,100 $1.00 1" in page
    assert "GitHub Copilot 1 AI commit — — —" in page


def test_person_page_lists_their_commits(data, app, admin):
    usage(app)
    overview = body(admin.get(f"/users/{ALICE}?days=30"))
    assert f'href="/users/{ALICE}?tab=commits&amp;days=30"' in overview
    response = admin.get(f"/users/{ALICE}?tab=commits&days=30")
    assert commit_titles(response) == ["Add the billing endpoint", "Fix a flaky test"]
    c = cards(response)
    assert c["Commits"] == "2 across 1 repo"  # the 2 before: no change
    assert c["AI attributed"] == "100% ▲ +50 pts 2 commits"
    headers, rows, _ = table(response, "commits-table")
    assert headers == ["Commit", "SHA", "Repository", "When", "Lines", "AI tools"]
    assert rows[0][2] == API
    # The list's links stay on the person's page and swap its panel.
    page = body(response)
    assert f'href="/users/{ALICE}?days=30&amp;tab=commits&amp;filter=human"' in page
    assert 'hx-target="#person-panel"' in page
    assert commit_titles(admin.get(f"/users/{ALICE}?tab=commits&days=30&filter=human")) == []


def test_a_person_with_commits_but_no_usage_has_a_page(data, admin):
    response = admin.get(f"/users/{CAROL}?days=30")
    assert response.status_code == 200
    assert commit_titles(response) == ["Restyle the header", "Write the migration by hand",
                                       "Tidy the styles"]
    page = body(response)
    assert "Raw usage" not in page and "tokens all time" not in page
    assert admin.get("/users/nobody@example.com").status_code == 404
