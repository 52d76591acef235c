"""The Team pivot `/team` and its CSV `/team.csv`, against the real database and ingest."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from abacus.analytics.team import escape_like, team_pivot
from abacus.providers.base import UsageRecord
from tests.helpers import csrf_token, sign_in  # noqa: F401
from tests.helpers import seed as _seed

# --- helpers -------------------------------------------------------------------------------


def today() -> date:
    return datetime.now(UTC).date()  # the test app's org time zone is UTC


def ago(days: int) -> date:
    return today() - timedelta(days=days)


def record(key: str, days_ago: int, actor: str, *, tool: str = "cursor",
           email: str | None | bool = True, model: str = "claude-sonnet-4-5-20250929",
           inp: int = 0, out: int = 0, cw: int = 0, cr: int = 0,
           cost: str | None = "0") -> UsageRecord:
    occurred = datetime.combine(ago(days_ago), time(12), tzinfo=UTC)
    return UsageRecord(event_key=key, occurred_at=occurred, tool=tool, actor=actor,
                       email=actor if email is True else email or None, raw_model=model,
                       input_tokens=inp, output_tokens=out, cache_write_tokens=cw,
                       cache_read_tokens=cr, cost_usd=None if cost is None else Decimal(cost))





def seed(app, records: list[UsageRecord], name: str = "team") -> None:
    _seed(app, records, name)


def visible(fragment: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", fragment))
    return re.sub(r"\s+", " ", text).strip()


def people(response) -> list[str]:
    """The person column, top to bottom, of the pivot's body."""
    body = response.get_data(as_text=True)
    tbody = re.search(r"<tbody>(.*?)</tbody>", body, flags=re.S)
    assert tbody, "no table on the page"
    return [html.unescape(p) for p in
            re.findall(r'class="person-name"[^>]*>([^<]+)<', tbody.group(1))]


def headers(response) -> list[str]:
    thead = re.search(r"<thead>(.*?)</thead>", response.get_data(as_text=True), flags=re.S)
    assert thead
    return [visible(re.sub(r'<span class="sort-mark".*?</span>', "", th)) for th in
            re.findall(r"<th\b.*?</th>", thead.group(1), flags=re.S)]


def rows(response) -> list[list[str]]:
    """Every body row's cells as a reader sees them."""
    tbody = re.search(r"<tbody>(.*?)</tbody>", response.get_data(as_text=True), flags=re.S)
    assert tbody
    return [[visible(c) for c in re.findall(r"<t[hd]\b.*?</t[hd]>", tr, flags=re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", tbody.group(1), flags=re.S)]


def footer(response) -> list[str]:
    tfoot = re.search(r"<tfoot>(.*?)</tfoot>", response.get_data(as_text=True), flags=re.S)
    assert tfoot, "no totals footer"
    return [visible(c) for c in re.findall(r"<t[hd]\b.*?</t[hd]>", tfoot.group(1), flags=re.S)]


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def titles(response, person: str) -> list[str]:
    """Exact figures (title attributes) in a person's row."""
    body = response.get_data(as_text=True)
    for tr in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S):
        if f">{person}<" in tr:
            return re.findall(r'title="([\d,]+) tokens"', tr)
    raise AssertionError(f"no row for {person}")



# --- the team ------------------------------------------------------------------------------
#
#   person              tokens  cost    days  first  last  cursor  claude_code
#   alice@example.com    4,860   8.00     3   d-2    d-0   3,300   1,560
#   bob@example.com     11,000   3.00     1   d-5    d-5       0   11,000
#   carol@example.com    3,100  20.50     2   d-4    d-3   3,100       0
#   ci-key (unmapped)    6,000   0.25     1   d-10   d-10      0   6,000
#   erin@example.com        55   unpriced 1   d-1    d-1      55       0
#   dave@example.com   outside the 30-day window (40 days ago)

ALICE, BOB, CAROL, ERIN = ("alice@example.com", "bob@example.com", "carol@example.com",
                           "erin@example.com")
CI = "ci-key"


@pytest.fixture
def team(app) -> None:
    seed(app, [
        record("a0", 0, ALICE, inp=1000, out=100, cost="5.00"),
        record("a1", 1, ALICE, inp=2000, out=200, cost="1.00"),
        record("a2", 2, ALICE, tool="claude_code", inp=500, out=50, cw=10, cr=1000, cost="2.00"),
        record("b5", 5, BOB, tool="claude_code", inp=10_000, out=1000, cost="3.00"),
        record("c3", 3, CAROL, inp=3000, cost="20.00"),
        record("c4", 4, CAROL, out=100, cost="0.50"),
        record("k10", 10, CI, tool="claude_code", email=None, inp=6000, cost="0.25"),
        record("e1", 1, ERIN, model="mystery-model-9", inp=50, out=5, cost=None),
        record("d40", 40, "dave@example.com", inp=9_999_999, cost="100"),
    ])


@pytest.fixture
def signed_in(client, team):
    sign_in(client)
    return client


def test_page_shows_one_row_per_person_sorted_by_cost(signed_in):
    response = signed_in.get("/team")
    assert response.status_code == 200
    assert "<h1>Team</h1>" in response.get_data(as_text=True)
    assert people(response) == [CAROL, ALICE, BOB, CI, ERIN]
    assert headers(response) == ["Person", "Total tokens", "Cost", "Claude Code", "Cursor",
                                 "Days active", "Avg tokens/day", "Last active"]
    by_person = {r[0].split()[0]: r for r in rows(response)}
    assert by_person[ALICE][1:] == ["4.9K", "$8.00", "1.6K", "3.3K", "3", "1.6K",
                                    ago(0).strftime("%b %-d, %Y")]
    assert titles(response, ALICE) == ["4,860", "1,560", "3,300", "1,620"]
    assert by_person[CAROL][1:6] == ["3.1K", "$20.50", "0", "3.1K", "2"]
    assert "dave@example.com" not in response.get_data(as_text=True)  # outside the range


def test_unmapped_identity_is_marked_and_unpriced_cost_is_not_zero(signed_in):
    by_person = {r[0].split()[0]: r for r in rows(signed_in.get("/team"))}
    assert by_person[CI][0] == "ci-key unmapped"
    assert by_person[ALICE][0] == ALICE
    assert "unpriced" in by_person[ERIN][2]
    assert "$0.00" not in by_person[ERIN][2]


SORTS = [
    ("tokens", "desc", [BOB, CI, ALICE, CAROL, ERIN]),
    ("tokens", "asc", [ERIN, CAROL, ALICE, CI, BOB]),
    ("cost", "asc", [ERIN, CI, BOB, ALICE, CAROL]),
    ("cost", "desc", [CAROL, ALICE, BOB, CI, ERIN]),
    ("person", "asc", [ALICE, BOB, CAROL, CI, ERIN]),
    ("person", "desc", [ERIN, CI, CAROL, BOB, ALICE]),
    # Ties (one day each) break by person A→Z in both directions.
    ("days", "desc", [ALICE, CAROL, BOB, CI, ERIN]),
    ("days", "asc", [BOB, CI, ERIN, CAROL, ALICE]),
    ("last", "desc", [ALICE, ERIN, CAROL, BOB, CI]),
    ("last", "asc", [CI, BOB, CAROL, ERIN, ALICE]),
    ("first", "asc", [CI, BOB, CAROL, ALICE, ERIN]),
    ("avg_tokens", "desc", [BOB, CI, ALICE, CAROL, ERIN]),
    ("avg_cost", "desc", [CAROL, BOB, ALICE, CI, ERIN]),
    ("tool:cursor", "desc", [ALICE, CAROL, ERIN, BOB, CI]),
    ("tool:claude_code", "asc", [CAROL, ERIN, ALICE, CI, BOB]),
    ("cache_read", "desc", [ALICE, BOB, CAROL, CI, ERIN]),
    ("input", "asc", [ERIN, CAROL, ALICE, CI, BOB]),
]


@pytest.mark.parametrize(("sort", "direction", "expected"), SORTS)
def test_sort_by_any_column_either_way(signed_in, sort, direction, expected):
    response = signed_in.get(f"/team?sort={sort}&dir={direction}")
    assert people(response) == expected


def test_sorted_header_has_aria_sort_and_its_link_flips_direction(signed_in):
    body = signed_in.get("/team?sort=tokens&dir=desc").get_data(as_text=True)
    tokens_th = re.search(r'<th[^>]*aria-sort="descending"[^>]*>(.*?)</th>', body, flags=re.S)
    assert tokens_th and "Total tokens" in tokens_th.group(1)
    assert body.count("aria-sort=") == 1
    assert 'href="/team?days=30&amp;sort=tokens&amp;dir=asc"' in tokens_th.group(1)
    # Another column starts in its natural direction: biggest first; people A→Z.
    assert 'href="/team?days=30&amp;sort=days&amp;dir=desc"' in body
    assert 'href="/team?days=30&amp;sort=person&amp;dir=asc"' in body
    # Sort links swap only the results and push the URL.
    assert 'hx-target="#team-results" hx-push-url="true"' in tokens_th.group(1)


def test_default_and_unknown_sort(signed_in):
    assert people(signed_in.get("/team?sort=nonsense&dir=asc")) == [CAROL, ALICE, BOB, CI, ERIN]
    # Without ?dir= a column sorts its natural way.
    assert people(signed_in.get("/team?sort=person")) == [ALICE, BOB, CAROL, CI, ERIN]
    assert people(signed_in.get("/team?sort=tokens")) == [BOB, CI, ALICE, CAROL, ERIN]


@pytest.mark.parametrize(("q", "expected"), [
    ("car", [CAROL]),
    ("EXAMPLE.COM", [CAROL, ALICE, BOB, ERIN]),  # case-insensitive
    ("ci-", [CI]),  # unmapped identities are searchable too
])
def test_filter_keeps_matching_people(signed_in, q, expected):
    assert people(signed_in.get("/team", query_string={"q": q})) == expected


@pytest.mark.parametrize("q", ["%", "_", "\\"])
def test_filter_wildcards_are_literal(signed_in, q):
    response = signed_in.get("/team", query_string={"q": q})
    assert response.status_code == 200
    assert f"No one matches “{q}”" in visible(response.get_data(as_text=True))
    assert "Clear the filter" in response.get_data(as_text=True)


def test_escape_like():
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_totals_footer_covers_every_matching_row(signed_in):
    foot = footer(signed_in.get("/team"))
    assert foot[0] == "Total 5 people"
    assert foot[1] == "25K"  # 4,860 + 11,000 + 3,100 + 6,000 + 55
    assert foot[2].startswith("$31.75")  # 8 + 3 + 20.50 + 0.25; erin's event is unpriced
    assert "+1 unpriced" in foot[2]
    assert foot[3:6] == ["18.6K", "6.5K", "8"]  # claude code 18,560; cursor 6,455; person-days
    assert foot[6] == "3.1K"  # 25,015 tokens over 8 person-days = 3,127
    assert 'title="25,015 tokens"' in signed_in.get("/team").get_data(as_text=True)

    filtered = footer(signed_in.get("/team?q=example.com"))
    assert filtered[0] == "Total 4 people"
    assert filtered[1] == "19K"  # ci-key's 6,000 are filtered out
    assert filtered[2].startswith("$31.50")


def test_totals_cover_all_pages_and_pages_are_50_rows(client, app):
    seed(app, [record(f"p{i}", i % 20, f"user{i:02d}@example.com", inp=1000 + i,
                      cost=f"{i}.00") for i in range(60)])
    sign_in(client)
    first = client.get("/team")
    assert len(people(first)) == 50
    assert people(first)[0] == "user59@example.com"  # most expensive first
    text = visible(first.get_data(as_text=True))
    assert "1–50 of 60 people" in text
    assert "Page 1 of 2" in text
    assert footer(first)[0] == "Total 60 people"
    assert footer(first)[2] == "$1,770.00"  # 0 + 1 + … + 59, all pages

    second = client.get("/team?page=2")
    assert people(second) == [f"user{i:02d}@example.com" for i in range(9, -1, -1)]
    assert footer(second)[2] == "$1,770.00"
    assert "51–60 of 60 people" in visible(second.get_data(as_text=True))
    # Past the end: the last page.
    assert people(client.get("/team?page=9")) == people(second)

    # The CSV has every row, not only a page; the button says so.
    assert len(read_csv(client.get("/team.csv"))) == 61
    assert "all 60 rows" in visible(first.get_data(as_text=True))


def no_seat(usage: str) -> list[str]:
    """The seat columns of a row without a seat: $0 seats, the usage as the total."""
    return ["0.000000", "0", f"{Decimal(usage):.6f}"]


def test_csv_has_exactly_the_rows_and_columns_shown(signed_in):
    page = signed_in.get("/team?sort=tokens&dir=desc&q=example")
    export_link = re.search(r'<a [^>]*href="(/team\.csv[^"]*)"[^>]*>', page.get_data(as_text=True))
    assert export_link and 'hx-boost="false"' in export_link.group(0)
    url = html.unescape(export_link.group(1))
    assert parse_qs(urlsplit(url).query) == {"days": ["30"], "q": ["example"],
                                             "sort": ["tokens"], "dir": ["desc"]}

    response = signed_in.get(url)
    assert 'filename="team_' in response.headers["Content-Disposition"]
    assert response.headers["Content-Disposition"].startswith("attachment")
    table = read_csv(response)
    # The columns shown, in their order, as export ids; each flag beside what it qualifies.
    assert headers(page) == ["Person", "Total tokens", "Cost", "Claude Code", "Cursor",
                             "Days active", "Avg tokens/day", "Last active"]
    # Seats (none here) and usage + seats sit beside the usage cost.
    assert table[0] == ["person", "unmapped", "tokens", "cost_usd", "unpriced_events",
                        "seats_usd", "unpriced_seats", "total_usd", "claude_code_tokens",
                        "cursor_tokens", "days_active",
                        "avg_daily_tokens", "last_active_day", "timezone"]
    assert [r[0] for r in table[1:]] == people(page) == [BOB, ALICE, CAROL, ERIN]
    assert table[1:] == [
        [BOB, "false", "11000", "3.000000", "0", *no_seat("3"), "11000", "0", "1", "11000",
         ago(5).isoformat(), "UTC"],
        [ALICE, "false", "4860", "8.000000", "0", *no_seat("8"), "1560", "3300", "3", "1620",
         ago(0).isoformat(), "UTC"],
        [CAROL, "false", "3100", "20.500000", "0", *no_seat("20.5"), "0", "3100", "2", "1550",
         ago(3).isoformat(), "UTC"],
        # Unpriced: the cost is unknown (empty, not 0) and flagged.
        [ERIN, "false", "55", "", "1", *no_seat("0"), "0", "55", "1", "55",
         ago(1).isoformat(), "UTC"],
    ]


def test_column_chooser_changes_table_and_csv(signed_in):
    response = signed_in.get("/team?cols=cache_read,tokens,first,avg_cost,tool:cursor")
    # Table order, whatever the URL order; the person column is always there.
    expected = ["Person", "Total tokens", "Cursor", "Cache read", "Avg cost/day",
                "First active"]
    assert headers(response) == expected
    body = response.get_data(as_text=True)
    assert re.search(r'value="cache_read" checked', body)
    assert not re.search(r'value="days" checked', body)
    table = read_csv(signed_in.get("/team.csv?cols=cache_read,tokens,first,avg_cost,"
                                   "tool:cursor"))
    assert table[0] == ["person", "unmapped", "tokens", "cursor_tokens", "cache_read_tokens",
                        "avg_daily_cost_usd", "unpriced_events", "first_active_day",
                        "timezone"]
    assert table[1] == [CAROL, "false", "3100", "3100", "0", "10.250000", "0",
                        ago(4).isoformat(), "UTC"]
    # $8.00 over 3 days at full precision; the page shows $2.67.
    assert table[2] == [ALICE, "false", "4860", "3300", "1000", "2.666667", "0",
                        ago(2).isoformat(), "UTC"]
    # Links keep the columns.
    assert "cols=tokens,tool:cursor,cache_read,avg_cost,first" in html.unescape(body)


def test_column_chooser_form_submission(signed_in):
    # The <details> form sends one `cols` per ticked box plus an empty marker.
    response = signed_in.get("/team?days=30&cols=&cols=tokens&cols=last")
    assert headers(response) == ["Person", "Total tokens", "Last active"]
    # Nothing ticked: the person alone (not the defaults).
    assert headers(signed_in.get("/team?cols=")) == ["Person"]
    assert read_csv(signed_in.get("/team.csv?cols="))[0] == ["person", "unmapped"]


def test_range_picker_keeps_filter_sort_and_columns(signed_in):
    body = html.unescape(signed_in.get("/team?q=example&sort=days&dir=asc&cols=tokens,days")
                         .get_data(as_text=True))
    seven = re.search(r'href="(/team\?[^"]*days=7[^"]*)"', body).group(1)
    assert parse_qs(urlsplit(seven).query) == {"days": ["7"], "q": ["example"], "sort": ["days"],
                                                "dir": ["asc"], "cols": ["tokens,days"]}
    assert people(signed_in.get("/team?days=7")) == [CAROL, ALICE, BOB, ERIN]  # ci-key: d-10


def test_custom_range(signed_in):
    response = signed_in.get(f"/team?start={ago(5).isoformat()}&end={ago(3).isoformat()}")
    assert people(response) == [CAROL, BOB]


def test_htmx_request_gets_the_fragment_and_the_url_to_push(signed_in):
    response = signed_in.get("/team?q=car&cols=&cols=tokens&sort=cost&dir=desc",
                             headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<table" in body
    assert 'id="team-range" hx-swap-oob="true"' in body  # range links keep the new filter
    assert people(response) == [CAROL]
    assert "HX-Request" in response.headers["Vary"]
    assert response.headers["HX-Push-Url"] == "/team?days=30&q=car&cols=tokens"


def test_boosted_navigation_and_history_restore_get_the_full_page(signed_in):
    for sent in ({"HX-Request": "true", "HX-Boosted": "true"},
                 {"HX-Request": "true", "HX-History-Restore-Request": "true"}, {}):
        response = signed_in.get("/team?sort=tokens", headers=sent)
        body = response.get_data(as_text=True)
        assert "<html" in body and 'id="team-form"' in body
        assert people(response) == [BOB, CI, ALICE, CAROL, ERIN]
        assert "HX-Request" in response.headers["Vary"]


def test_search_box_is_active_search(signed_in):
    body = signed_in.get("/team").get_data(as_text=True)
    search = re.search(r'<input type="search"[^>]*>', body, flags=re.S).group(0)
    assert 'name="q"' in search
    assert 'hx-trigger="input changed delay:300ms, search"' in search  # typing and pasting
    assert 'hx-push-url="true"' in search and 'hx-target="#team-results"' in search


@pytest.mark.parametrize("path", ["/team", "/team.csv"])
def test_signed_out_is_sent_to_sign_in(client, path):
    assert client.get(path).status_code == 302


def test_empty_state_says_what_to_do(client):
    sign_in(client)
    text = visible(client.get("/team").get_data(as_text=True))
    assert "No usage in the last 30 days" in text
    assert "flask abacus demo" in text
    assert read_csv(client.get("/team.csv")) == [["person", "unmapped", "tokens", "cost_usd",
                                                  "unpriced_events", "seats_usd",
                                                  "unpriced_seats", "total_usd", "days_active",
                                                  "avg_daily_tokens", "last_active_day",
                                                  "timezone"]]


def test_member_visibility_self_shows_own_row_and_team_totals(team, make_app):
    other = make_app(ABACUS_MEMBER_VISIBILITY="self")
    member = other.test_client()
    sign_in(member, ALICE)
    response = member.get("/team")
    assert people(response) == [ALICE]
    foot = footer(response)
    assert foot[0] == "Team total 5 people"
    assert foot[2].startswith("$31.75")
    assert "You see your own row only" in visible(response.get_data(as_text=True))
    assert [r[0] for r in read_csv(member.get("/team.csv"))[1:]] == [ALICE]
    assert people(member.get("/team?sort=tokens&dir=asc&page=3")) == [ALICE]

    # A member without usage sees no rows but still the team's totals.
    nobody = other.test_client()
    sign_in(nobody, "zed@example.com")
    response = nobody.get("/team")
    assert people(response) == []
    assert "You have no usage" in visible(response.get_data(as_text=True))
    assert footer(response)[0] == "Team total 5 people"
    assert read_csv(nobody.get("/team.csv"))[1:] == []

    # Admins see everyone.
    admin = other.test_client()
    sign_in(admin, "admin@example.com")
    assert len(people(admin.get("/team"))) == 5


def test_csv_cells_never_run_as_formulas(client, app):
    seed(app, [record("x", 0, "=HYPERLINK(\"http://evil\")", email=None, inp=5)])
    sign_in(client)
    assert read_csv(client.get("/team.csv"))[1][0] == "'=HYPERLINK(\"http://evil\")"


def test_person_links_to_the_person_page_when_it_exists(signed_in, app):
    body = signed_in.get("/team").get_data(as_text=True)
    if "people.person" in app.view_functions:
        assert 'href="/users/alice@example.com?days=30"' in body
    else:
        assert "/users/" not in body


def test_pivot_function_directly(ctx, team):
    pivot = team_pivot(ago(29), today(), sort="tokens", descending=False, per_page=2, page=2)
    assert [r.person for r in pivot.rows] == [ALICE, CI]
    assert (pivot.visible, pivot.pages, pivot.first_index, pivot.last_index) == (5, 3, 3, 4)
    assert pivot.tools == ["claude_code", "cursor"]
    alice = pivot.rows[0]
    assert (alice.days_active, alice.first_active, alice.last_active) == (3, ago(2), ago(0))
    assert alice.cost_usd == Decimal("8.00")
    assert alice.by_tool == {"claude_code": 1560, "cursor": 3300}
    assert pivot.totals.tokens == 25_015


def test_sort_by_a_tool_nobody_used_here_sorts_everyone_as_zero(signed_in):
    response = signed_in.get("/team?sort=tool:codex&dir=desc")
    assert response.status_code == 200
    assert people(response) == [ALICE, BOB, CAROL, CI, ERIN]  # all 0: by person
    assert "Codex" not in headers(response)


def test_tool_columns_follow_the_people_matching_the_filter(signed_in):
    assert headers(signed_in.get("/team?q=carol")) == [
        "Person", "Total tokens", "Cost", "Cursor", "Days active", "Avg tokens/day",
        "Last active"]


def test_identity_spelled_like_an_email_counts_as_that_person(ctx, app):
    seed(app, [record("m", 0, ALICE, inp=100, cost="1"),
               record("u", 1, ALICE, tool="claude_code", email=None, inp=50, cost="2")])
    pivot = team_pivot(ago(29), today())
    assert len(pivot.rows) == 1
    row = pivot.rows[0]
    assert (row.person, row.mapped, row.tokens, row.cost_usd, row.days_active) == (
        ALICE, True, 150, Decimal("3"), 2)
    assert row.by_tool == {"claude_code": 50, "cursor": 100}
