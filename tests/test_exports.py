"""Every CSV export (Team, Usage, Commits) against its page: the same rows and totals to the
cent, one header style, money at full precision, names as shown plus their ids, flags."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

from abacus.providers.base import UsageRecord
from abacus.usage.pricing import canonical_model, display_model
from abacus.web import exports
from tests.helpers import seed, sign_in
from tests.test_commits_pages import Seeder

SONNET = "claude-sonnet-4-5-20250929"
OPUS = "claude-opus-4-1"
UNKNOWN = "mystery-model-9"
ALICE, BOB, CAROL, DAVE, ERIN = (f"{n}@example.com" for n in
                                 ("alice", "bob", "carol", "dave", "erin"))
CI = "ci-key"
CENT = Decimal("0.01")
HEADER_ID = re.compile(r"[a-z][a-z0-9_]*")
FULL_PRECISION = re.compile(r"-?\d+\.\d{6}")


def today() -> date:
    return datetime.now(UTC).date()  # the test app's org time zone is UTC


def rec(key: str, days_ago: int, actor: str, *, email: str | None | bool = True,
        model: str = SONNET, tool: str = "cursor", inp: int = 1000, cost: str | None = None,
        at: time = time(12)) -> UsageRecord:
    return UsageRecord(event_key=key, tool=tool, actor=actor, raw_model=model,
                       occurred_at=datetime.combine(today() - timedelta(days=days_ago), at,
                                                    tzinfo=UTC),
                       email=actor if email is True else email or None, input_tokens=inp,
                       output_tokens=0, cache_write_tokens=0, cache_read_tokens=0,
                       cost_usd=None if cost is None else Decimal(cost))


# Amounts below a cent: rounding each row to the cent first would lose $0.01 of the total.
#   alice    3 × 0.333333           = 0.999999   $1.00
#   bob      0.004                               $0.00
#   carol    0.004                               $0.00
#   ci-key   1.234567 (unmapped)                 $1.23
#   dave     2.005 + one unpriced event          $2.01 +1 unpriced
#   erin     unpriced only                       unpriced
#   frank    Opus, no cost: estimated from the price table
#   total    4.247566 + frank's estimate, 2 unpriced events
@pytest.fixture
def usage(app) -> None:
    seed(app, [
        rec("a1", 1, ALICE, cost="0.333333"), rec("a2", 2, ALICE, cost="0.333333"),
        rec("a3", 3, ALICE, cost="0.333333"),
        rec("b1", 1, BOB, cost="0.004"), rec("c1", 2, CAROL, cost="0.004"),
        rec("k1", 4, CI, email=None, tool="claude_code", cost="1.234567"),
        rec("d1", 5, DAVE, cost="2.005"), rec("d2", 5, DAVE, model=UNKNOWN),
        rec("e1", 6, ERIN, model=UNKNOWN, inp=55),
        rec("f1", 7, "frank@example.com", model=OPUS, inp=1234),
    ])


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def header(response) -> list[str]:
    return next(csv.reader(io.StringIO(response.get_data(as_text=True))))


def visible(fragment: str) -> str:
    fragment = re.sub(r'<span class="(sort-mark|visually-hidden)".*?</span>', "", fragment,
                      flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def screen_table(response, cls: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(headers, body rows, footer) of the page's table with class `cls`, as read."""
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    match = re.search(rf'<table class="[^"]*\b{cls}\b[^"]*">(.*?)</table>', page, flags=re.S)
    assert match, f"no table.{cls}"

    def cells(part: str) -> list[str]:
        return [visible(c) for c in re.findall(r"<t[hd]\b.*?</t[hd]>", part, flags=re.S)]

    t = match.group(1)
    head = re.search(r"<thead>(.*?)</thead>", t, flags=re.S).group(1)
    body = re.search(r"<tbody>(.*?)</tbody>", t, flags=re.S).group(1)
    foot = re.search(r"<tfoot>(.*?)</tfoot>", t, flags=re.S)
    return (cells(head), [cells(tr) for tr in re.findall(r"<tr\b[^>]*>(.*?)</tr>", body,
                                                         flags=re.S)],
            cells(foot.group(1)) if foot else [])


def exact_tokens(response, cls: str) -> dict[int, int]:
    """Footer cells' exact token counts (the title behind "5.3K"), by column position."""
    page = response.get_data(as_text=True)
    t = re.search(rf'<table class="[^"]*\b{cls}\b[^"]*">.*?<tfoot>(.*?)</tfoot>', page,
                  flags=re.S).group(1)
    out = {}
    for i, c in enumerate(re.findall(r"<t[hd]\b.*?</t[hd]>", t, flags=re.S)):
        match = re.search(r'title="([\d,]+)(?: tokens)?"', c)
        if match:
            out[i] = int(match.group(1).replace(",", ""))
    return out


def dollars(cell: str) -> Decimal | None:
    """The amount a screen cell shows ("$1,234.57 +1 unpriced"), None for "unpriced"."""
    match = re.search(r"\$([\d,]+\.\d\d)", cell)
    return Decimal(match.group(1).replace(",", "")) if match else None


def cents(amounts: list[str]) -> Decimal:
    """The exported amounts added up, then rounded to the cent like the screen."""
    return sum((Decimal(a) for a in amounts if a), Decimal(0)).quantize(CENT, ROUND_HALF_UP)


def unpriced_note(cell: str) -> int:
    match = re.search(r"\+(\d+) unpriced", cell)
    return int(match.group(1)) if match else 0


def assert_shared_format(response) -> list[dict[str, str]]:
    """The rules every export follows (README "Exports")."""
    ids = header(response)
    assert all(HEADER_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    table = read_csv(response)
    for row in table:
        for key, value in row.items():
            if key.endswith("_usd") and value:
                assert FULL_PRECISION.fullmatch(value), (key, value)
            if exports.is_day(key) and value:
                assert date.fromisoformat(value).isoformat() == value
            if key.endswith("_at") and value:
                assert datetime.fromisoformat(value).tzinfo is not None
    assert ("timezone" in ids) == any(exports.is_day(i) for i in ids)
    return table


@pytest.fixture
def admin(client):
    sign_in(client, "admin@example.com")
    return client


# --- Team ----------------------------------------------------------------------------------

TEAM_ALL = ("/team?days=30&cols=tokens,cost,tool:cursor,tool:claude_code,input,output,"
            "cache_write,cache_read,days,avg_tokens,avg_cost,first,last")


def test_team_csv_totals_equal_the_screen_to_the_cent(usage, admin):
    page = admin.get(TEAM_ALL)
    headers, shown, foot = screen_table(page, "pivot")
    table = assert_shared_format(admin.get(TEAM_ALL.replace("/team?", "/team.csv?")))
    assert [r["person"] for r in table] == [r[0].removesuffix(" unmapped") for r in shown]

    cost = headers.index("Cost")
    assert dollars(foot[cost]) == TOTAL
    assert cents([r["cost_usd"] for r in table]) == dollars(foot[cost])
    # Per row too: the exported amount rounds to what the row shows.
    for row, line in zip(table, shown, strict=True):
        amount = dollars(line[cost])
        assert (Decimal(row["cost_usd"]).quantize(CENT, ROUND_HALF_UP) if row["cost_usd"]
                else None) == amount
    # Rounding each row first would have lost a cent: the export keeps full precision.
    assert sum(dollars(line[cost]) or 0 for line in shown) != dollars(foot[cost])
    by = {r["person"]: r for r in table}
    assert by[ALICE]["cost_usd"] == "0.999999"
    assert by[BOB]["cost_usd"] == "0.004000"
    assert sum(int(r["tokens"]) for r in table) == exact_tokens(page, "pivot")[
        headers.index("Total tokens")] == 8 * 1000 + 55 + 1234
    assert sum(int(r["unpriced_events"]) for r in table) == unpriced_note(foot[cost]) == 2


def test_team_csv_flags_unpriced_and_unmapped_rows_like_the_screen(usage, admin):
    _, shown, _ = screen_table(admin.get("/team?days=30"), "pivot")
    on_screen = {line[0].removesuffix(" unmapped"): line for line in shown}
    table = read_csv(admin.get("/team.csv?days=30"))
    by = {r["person"]: r for r in table}

    assert on_screen[CI][0] == f"{CI} unmapped"
    assert by[CI]["unmapped"] == "true"
    assert {r["unmapped"] for p, r in by.items() if p != CI} == {"false"}

    assert "unpriced" in on_screen[ERIN][2] and dollars(on_screen[ERIN][2]) is None
    assert by[ERIN]["cost_usd"] == "" and by[ERIN]["unpriced_events"] == "1"  # unknown, not 0
    assert on_screen[DAVE][2] == "$2.01 +1 unpriced"
    assert by[DAVE]["cost_usd"] == "2.005000" and by[DAVE]["unpriced_events"] == "1"
    assert by[ALICE]["unpriced_events"] == "0"


def test_team_csv_days_are_in_the_org_time_zone_and_say_which(app, make_app):
    # 02:00 UTC is still the day before in New York.
    other = make_app(ABACUS_TIMEZONE="America/New_York")
    seed(other, [rec("late", 1, ALICE, cost="1", at=time(2))])
    client = other.test_client()
    sign_in(client, "admin@example.com")
    table = read_csv(client.get("/team.csv?days=30&cols=first,last"))
    assert header(client.get("/team.csv?days=30&cols=first,last")) == [
        "person", "unmapped", "first_active_day", "last_active_day", "timezone"]
    day = (today() - timedelta(days=2)).isoformat()
    assert table == [{"person": ALICE, "unmapped": "false", "first_active_day": day,
                      "last_active_day": day, "timezone": "America/New_York"}]
    page = client.get("/team?days=30&cols=first,last").get_data(as_text=True)
    assert f'<time datetime="{day}">' in page


# --- Usage ---------------------------------------------------------------------------------

@pytest.mark.parametrize("view", ["models", "tools"])
def test_usage_csv_totals_equal_the_screen_to_the_cent(usage, admin, view):
    headers, shown, foot = screen_table(admin.get(f"/usage?days=30&view={view}"),
                                        "usage-breakdown")
    table = assert_shared_format(admin.get(f"/usage.csv?days=30&view={view}"))
    name = view.removesuffix("s")
    assert [r[name] for r in table] == [line[0] for line in shown]  # names as shown, in order
    cost = headers.index("Cost")
    assert cents([r["cost_usd"] for r in table]) == dollars(foot[cost]) == TOTAL
    assert sum(int(r["tokens"]) for r in table) == exact_tokens(
        admin.get(f"/usage?days=30&view={view}"), "usage-breakdown")[headers.index("Tokens")]
    assert sum(int(r["unpriced_events"]) for r in table) == unpriced_note(foot[cost]) == 2
    assert sum(int(r["events"]) for r in table) == int(foot[headers.index("Events")]) == 10
    for row, line in zip(table, shown, strict=True):
        amount = Decimal(row["cost_usd"]).quantize(CENT, ROUND_HALF_UP) if row["cost_usd"] \
            else None
        assert amount == dollars(line[cost])


def test_usage_csv_has_the_model_as_shown_and_its_canonical_id(usage, admin):
    table = read_csv(admin.get("/usage.csv?days=30"))
    by = {r["model_id"]: r for r in table}
    sonnet = by[canonical_model(SONNET)]
    assert sonnet["model"] == display_model(canonical_model(SONNET)) == "Sonnet 4.5"
    opus = by[canonical_model(OPUS)]
    assert opus["model"] == "Opus 4.1"
    # Estimated from the price table: the exact estimate, not the cents.
    assert Decimal(opus["cost_usd"]) == Decimal(opus["estimated_cost_usd"]) == (
        _estimate(OPUS, 1234).quantize(exports.MONEY_PLACES, ROUND_HALF_UP))
    mystery = by[canonical_model(UNKNOWN)]
    assert (mystery["cost_usd"], mystery["estimated_cost_usd"], mystery["unpriced_events"]) == (
        "", "", "2")


# --- Commits -------------------------------------------------------------------------------

def test_commits_csv_totals_equal_the_screen(app, admin):
    s = Seeder(app)
    s.commit("acme/api", "One", 0, tools=[("claude_code", None)], person=ALICE, lines=(10, 2))
    s.commit("acme/api", "Two", 1, tools=[("claude_code", None), ("cursor", None)], person=BOB,
             lines=(5, 5))
    s.commit("acme/web", "Three", 2, person=CAROL, lines=(100, 50))
    s.commit("acme/web", "Four", 3, person=CAROL, lines=None)
    headers, shown, foot = screen_table(admin.get("/commits?days=30"), "repo-table")
    table = assert_shared_format(admin.get("/commits/export.csv?days=30"))
    assert [r["repository"] for r in table] == [line[0].removesuffix(" ↗") for line in shown]
    for column, label in (("commits", "Commits"), ("ai_commits", "AI attributed"),
                          ("lines_added", "Additions"), ("lines_deleted", "Deletions")):
        shown_total = re.search(r"[\d,]+", foot[headers.index(label)]).group(0)
        assert sum(int(r[column] or 0) for r in table) == int(shown_total.replace(",", ""))
    assert sum(int(r["claude_code_commits"]) for r in table) == 2
    assert sum(int(r["cursor_commits"]) for r in table) == 1
    last = {r["repository"]: r["last_commit_at"] for r in table}
    assert last["acme/api"] == f"{today().isoformat()}T12:00:00+00:00"


def test_commits_csv_moments_carry_the_org_time_zone_offset(app, make_app):
    other = make_app(ABACUS_TIMEZONE="Asia/Kolkata")
    when = datetime.combine(today() - timedelta(days=1), time(12), tzinfo=UTC)
    Seeder(other).commit("acme/api", "One", when=when, person=ALICE)
    client = other.test_client()
    sign_in(client, "admin@example.com")
    table = read_csv(client.get("/commits/export.csv?days=30&cols=commits,last_commit"))
    assert list(table[0]) == ["repository", "commits", "last_commit_at"]
    assert table[0]["last_commit_at"] == when.astimezone(ZoneInfo("Asia/Kolkata")).isoformat()
    assert table[0]["last_commit_at"].endswith("+05:30")


# --- a person's Raw usage ------------------------------------------------------------------

def test_raw_usage_csv_is_every_record_the_tab_lists(app, usage, admin):
    # 55 more records for Alice: the tab shows 50 a page, the CSV every one.
    seed(app, [rec(f"m{i}", 8 + i % 20, ALICE, cost=f"0.00{i % 10}1", inp=i, at=time(i % 24))
               for i in range(55)])
    page = admin.get(f"/users/{ALICE}?days=30&tab=raw")
    headers, shown, _ = screen_table(page, "person-raw-table")
    assert "1–50 of 58 records" in visible(page.get_data(as_text=True))
    link = re.search(r'<a class="[^"]*raw-export[^"]*" href="([^"]+)"[^>]*>',
                     page.get_data(as_text=True))
    assert link and 'hx-boost="false"' in link.group(0)
    url = html.unescape(link.group(1))
    response = admin.get(url)
    assert f'filename="raw_usage_alice_example_com_{(today() - timedelta(days=29))}' in (
        response.headers["Content-Disposition"])
    table = assert_shared_format(response)
    assert len(table) == 58
    assert list(table[0]) == [
        "occurred_at", "day", "tool", "tool_id", "model", "model_id", "raw_model", "kind",
        "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd",
        "cost_source", "token_fee_usd", "would_have_cost_usd", "timezone"]
    cost, model, raw = headers.index("Cost"), headers.index("Model"), headers.index("Raw model")
    for row, line in zip(table, shown, strict=False):  # the first page, in the same order
        assert line[0] == row["occurred_at"][:16].replace("T", " ")
        assert row["day"] == row["occurred_at"][:10] and row["timezone"] == "UTC"
        assert (line[model], line[raw]) == (row["model"], row["raw_model"])
        assert dollars(line[cost]) == Decimal(row["cost_usd"]).quantize(CENT, ROUND_HALF_UP)
    assert {(r["model"], r["model_id"], r["raw_model"]) for r in table} == {
        ("Sonnet 4.5", canonical_model(SONNET), SONNET)}
    assert sum(Decimal(r["cost_usd"]) for r in table) == Decimal("0.999999") + sum(
        Decimal(f"0.00{i % 10}1") for i in range(55))


def test_raw_usage_csv_keeps_the_filters_and_flags_unpriced_records(usage, admin):
    url = f"/users/{DAVE}/raw.csv?days=30&model={canonical_model(UNKNOWN)}"
    table = read_csv(admin.get(url))
    assert [(r["model_id"], r["cost_usd"], r["cost_source"]) for r in table] == [
        (canonical_model(UNKNOWN), "", "unpriced")]
    every = read_csv(admin.get(f"/users/{DAVE}/raw.csv?days=30"))
    assert sorted(r["cost_source"] for r in every) == ["provider", "unpriced"]
    # Unmapped identities have their raw usage too.
    assert read_csv(admin.get(f"/users/{CI}/raw.csv?days=30"))[0]["cost_usd"] == "1.234567"


def test_raw_usage_csv_of_someone_else_is_refused_to_a_limited_member(usage, make_app):
    member = make_app(ABACUS_MEMBER_VISIBILITY="self").test_client()
    sign_in(member, ALICE)
    assert member.get(f"/users/{BOB}/raw.csv?days=30").status_code == 403
    assert len(read_csv(member.get(f"/users/{ALICE}/raw.csv?days=30"))) == 3


# --- the writer's rules --------------------------------------------------------------------

def test_money_is_full_precision_and_never_a_formula():
    assert exports.money(Decimal("8")) == "8.000000"
    assert exports.money(Decimal("2.6666666667")) == "2.666667"
    assert exports.money(None) == ""  # unknown, not $0
    # A refund is a number: never prefixed like text that would run as a formula.
    assert exports.cell("cost_usd", Decimal("-1.5")) == "-1.500000"
    assert exports.cell("tokens", -3) == "-3"
    assert exports.cell("person", "-cmd|' /C calc'!A0") == "'-cmd|' /C calc'!A0"
    assert exports.cell("model", "@SUM(1)") == "'@SUM(1)"
    assert exports.cell("unmapped", True) == "true"
    assert exports.column_id("Claude Code", "commits") == "claude_code_commits"


def test_writer_refuses_header_ids_outside_the_style():
    fields = [exports.Field("Total tokens", lambda row: row)]
    with pytest.raises(ValueError, match="snake_case"):
        exports.write_csv(fields, [1], "UTC")
    with pytest.raises(ValueError, match="naive"):
        exports.cell("last_commit_at", datetime(2026, 1, 1))


def _estimate(raw: str, inp: int) -> Decimal:
    from abacus.usage.pricing import load_shipped_prices

    return inp * load_shipped_prices()[canonical_model(raw)].input / 1_000_000


TOTAL = (Decimal("4.247566") + _estimate(OPUS, 1234)).quantize(CENT, ROUND_HALF_UP)
