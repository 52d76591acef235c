"""The Person page `/users/<person>`: what a reader sees, against the real database and ingest."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from abacus.providers.base import UsageRecord
from abacus.usage.pricing import canonical_model, load_shipped_prices
from abacus.web.filters import usd
from tests.helpers import seed, sign_in  # noqa: F401

SONNET = "claude-sonnet-4-5-20250929"
OPUS = "claude-opus-4-1"
UNKNOWN = "mystery-model-9"


# --- helpers (shared with test_usage_page) -------------------------------------------------

def today() -> date:
    return datetime.now(UTC).date()  # the test app's org time zone is UTC


def record(key: str, days_ago: int, *, tool: str = "cursor", actor: str = "alice@example.com",
           email: str | None = "alice@example.com", model: str = SONNET, input_tokens: int = 0,
           output_tokens: int = 0, cache_write: int = 0, cache_read: int = 0,
           cost: Decimal | str | None = None, at: time = time(12),
           day: date | None = None) -> UsageRecord:
    occurred = datetime.combine(day or today() - timedelta(days=days_ago), at, tzinfo=UTC)
    return UsageRecord(event_key=key, occurred_at=occurred, tool=tool, actor=actor, email=email,
                       raw_model=model, input_tokens=input_tokens, output_tokens=output_tokens,
                       cache_write_tokens=cache_write, cache_read_tokens=cache_read,
                       cost_usd=None if cost is None else Decimal(cost))




def visible(fragment: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    fragment = re.sub(r"<(script|style)\b.*?</\1>", " ", fragment, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def visit(client, url: str):
    """Alice signs in and opens `url`, which must be found."""
    sign_in(client)
    response = client.get(url)
    assert response.status_code == 200
    return response


def text_of(response) -> str:
    return visible(response.get_data(as_text=True))


def rows(response, table_class: str | None = None) -> list[str]:
    """Visible text of every body row (of the table with `table_class`, if given)."""
    body = response.get_data(as_text=True)
    if table_class:
        match = re.search(rf'<table class="{table_class}".*?</table>', body, flags=re.S)
        assert match, f"no table.{table_class}"
        body = match.group(0)
    body = re.sub(r"<thead>.*?</thead>", "", body, flags=re.S)
    return [visible(r) for r in re.findall(r"<tr\b[^>]*>.*?</tr>", body, flags=re.S)]


def row_with(response, needle: str, table_class: str | None = None) -> str:
    for r in rows(response, table_class):
        if needle in r:
            return r
    raise AssertionError(f"no row mentions {needle!r}")


def estimate(raw_model: str, input_tokens: int, output_tokens: int) -> Decimal:
    price = load_shipped_prices()[canonical_model(raw_model)]
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000



# --- the overview tab ----------------------------------------------------------------------

@pytest.fixture
def alice(app) -> None:
    seed(app, [
        # This 7-day window: 1,100,000 tokens on two days, two tools, two models.
        record("a1", 0, input_tokens=500_000, output_tokens=100_000, cost="10.00"),
        record("a2", 2, tool="claude_code", model=OPUS, input_tokens=400_000,
               output_tokens=50_000, cache_read=50_000, cost="20.00"),
        # The previous 7 days: 1,000,000 tokens.
        record("p1", 9, input_tokens=1_000_000, cost="5.00"),
        # Long ago: counts for the lifetime only.
        record("old", 200, input_tokens=3_000_000, cost="1.00"),
        # Somebody else, same days: never on Alice's page.
        record("b1", 0, actor="bob@example.com", email="bob@example.com",
               input_tokens=9_999_999, cost="99.00"),
    ])


def test_person_page_shows_what_was_ingested(client, alice):
    response = visit(client, "/users/alice@example.com?days=7")
    text = text_of(response)
    # Lifetime strip: 1,100,000 + 1,000,000 + 3,000,000 tokens, $36 in all, four active days.
    assert "5.1M tokens all time" in text
    assert "$36.00 spend all time" in text
    first = today() - timedelta(days=200)
    assert f"{first:%b} {first.day}, {first.year} first seen" in text
    assert "4 days active" in text
    assert "Cursor preferred tool" in text
    # Cards for the 7 days.
    assert "Tokens 1.1M" in text
    assert "1,100,000 tokens" in response.get_data(as_text=True)
    assert "Cost $30.00" in text
    assert "$15.00 per active day" in text
    assert "Days active 2" in text
    assert "Avg per active day 550K" in text
    # Tool usage and models.
    assert "600K" in row_with(response, "Cursor")
    assert "$10.00" in row_with(response, "Cursor")
    assert "$20.00" in row_with(response, "Claude Code")
    assert "bob" not in text
    assert "9,999,999" not in response.get_data(as_text=True)


def test_models_used_and_tool_usage_tables(client, alice):
    sign_in(client)
    response = client.get("/users/alice@example.com?days=7")
    sonnet = row_with(response, "Sonnet 4.5")
    assert "600K" in sonnet and "55%" in sonnet and "$10.00" in sonnet
    opus = row_with(response, "Opus 4.1")
    assert "500K" in opus and "45%" in opus and "$20.00" in opus


def test_deltas_against_the_previous_window(client, alice):
    sign_in(client)
    text = text_of(client.get("/users/alice@example.com?days=7"))
    # 1,100,000 vs 1,000,000 tokens: +10%; $30 vs $5: +500%; 2 days vs 1: +100%.
    assert "Tokens 1.1M ▲ +10%" in text
    assert "Cost $30.00 ▲ +500%" in text
    assert "Days active 2 ▲ +100%" in text
    # 550,000 per active day vs 1,000,000: −45%.
    assert "Avg per active day 550K ▼ -45%" in text


def test_small_changes_show_no_delta(app, client):
    seed(app, [record("c", 0, input_tokens=1_020_000), record("p", 8, input_tokens=1_000_000)])
    sign_in(client)
    text = text_of(client.get("/users/alice@example.com?days=7"))
    assert "Tokens 1M" in text
    assert "▲" not in text.split("Avg per active day")[0].split("Tokens 1M")[1]


def test_daily_chart_stacks_tools_and_marks_today_incomplete(client, alice):
    sign_in(client)
    body = client.get("/users/alice@example.com?days=7").get_data(as_text=True)
    assert "Daily tokens by tool" in body
    assert 'class="series-c1"' in body and 'class="series-c0"' in body
    assert "incomplete (providers still reporting)" in body  # no account synced: today is
    table = body[body.index('id="person-daily-title"'):]
    # Series most tokens first: Cursor (600K), then Claude Code (500K), then the day's total.
    day = today() - timedelta(days=2)
    assert (f'{day:%b} {day.day}, {day.year}</td><td class="num">0</td>'
            '<td class="num">500,000</td><td class="num">500,000</td>') in table


def test_weekday_pattern_sums_each_weekday(app, client):
    # Four weeks back from a fixed Monday so every weekday is inside a 30-day window.
    monday = today() - timedelta(days=today().weekday() + 7)
    seed(app, [
        record("m1", 0, day=monday, input_tokens=100_000),
        record("m2", 0, day=monday - timedelta(days=7), input_tokens=50_000),
        record("w1", 0, day=monday + timedelta(days=2), input_tokens=30_000),
        record("s1", 0, day=monday + timedelta(days=6), tool="claude_code", input_tokens=20_000),
    ])
    sign_in(client)
    response = client.get("/users/alice@example.com?days=30")
    weekdays = rows(response, "person-weekdays")
    assert [r.split()[0] for r in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert weekdays[0] == "Mon 150K 75% 2"  # two Mondays, 150,000 of 200,000 tokens
    assert weekdays[1] == "Tue 0 0% 0"
    assert weekdays[2] == "Wed 30K 15% 1"
    assert weekdays[6] == "Sun 20K 10% 1"
    assert 'class="weekend"' in response.get_data(as_text=True)


def test_weekday_follows_the_org_time_zone(app, make_app):
    # 03:00 UTC on a Tuesday is still Monday evening in Los Angeles.
    la = make_app(ABACUS_TIMEZONE="America/Los_Angeles")
    tuesday = today() - timedelta(days=today().weekday() + 6)
    seed(la, [record("tz", 0, day=tuesday, at=time(3, 30), input_tokens=42_000)])
    client = la.test_client()
    sign_in(client)
    response = client.get("/users/alice@example.com?days=30")
    assert row_with(response, "Mon", "person-weekdays") == "Mon 42K 100% 1"
    raw = client.get("/users/alice@example.com?days=30&tab=raw")
    local = datetime.combine(tuesday, time(3, 30), UTC).astimezone(ZoneInfo("America/Los_Angeles"))
    assert local.date() == tuesday - timedelta(days=1)
    assert f"{local:%Y-%m-%d %H:%M}" in row_with(raw, "42,000")
    assert "times in America/Los_Angeles" in text_of(raw)


def test_empty_range_says_where_the_usage_is(app, client):
    seed(app, [record("old", 100, input_tokens=1_000)])
    response = visit(client, "/users/alice@example.com?days=7")
    text = text_of(response)
    assert "No usage by alice@example.com in the last 7 days" in text
    last = today() - timedelta(days=100)
    assert f"Their last recorded usage was on {last:%b} {last.day}, {last.year}" in text
    assert f"end={last.isoformat()}" in response.get_data(as_text=True)


def test_links_keep_the_range(client, alice):
    sign_in(client)
    body = client.get("/users/alice@example.com?start=2020-01-01&end=2020-01-31"
                      ).get_data(as_text=True)
    raw_tab = re.search(r'href="([^"]*tab=raw[^"]*)"', body).group(1)
    query = parse_qs(urlsplit(html.unescape(raw_tab)).query)
    assert query["start"] == ["2020-01-01"] and query["end"] == ["2020-01-31"]


# --- raw records ---------------------------------------------------------------------------

@pytest.fixture
def many(app) -> None:
    """120 Cursor events over 6 days (20 a day, one a minute from 09:00), then 5 Claude Code."""
    records = [record(f"e{d}-{m}", d, input_tokens=1_000 + d * 100 + m,
                      at=time(9, m), cost="0.10") for d in range(6) for m in range(20)]
    records += [record(f"cc{d}", d, tool="claude_code", model=OPUS, input_tokens=10_000,
                       output_tokens=2_000) for d in range(5)]
    records.append(record("u", 1, model=UNKNOWN, input_tokens=5, at=time(23, 59)))
    seed(app, records)


def test_raw_tab_pages_newest_first(client, many):
    first = visit(client, "/users/alice@example.com?days=7&tab=raw")
    text = text_of(first)
    assert "1–50 of 126 records, newest first" in text
    assert "Page 1 of 3" in text
    listed = rows(first, "person-raw-table")
    assert len(listed) == 50
    assert listed[0].startswith(f"{today().isoformat()} 12:00")  # Claude Code at noon
    assert listed[1].startswith(f"{today().isoformat()} 09:19")
    third = client.get("/users/alice@example.com?days=7&tab=raw&page=3")
    assert "101–126 of 126 records" in text_of(third)
    assert "Page 3 of 3" in text_of(third)
    oldest = rows(third, "person-raw-table")
    assert len(oldest) == 26
    assert oldest[-1].startswith(f"{(today() - timedelta(days=5)).isoformat()} 09:00")
    # The pages together are every record once, newest first, across day boundaries.
    listed = [r for p in (1, 2, 3) for r in rows(
        client.get(f"/users/alice@example.com?days=7&tab=raw&page={p}"), "person-raw-table")]
    assert len(listed) == len(set(listed)) == 126
    stamps = [r[:16] for r in listed]
    assert stamps == sorted(stamps, reverse=True)
    # Past the end shows the last page rather than nothing.
    assert "Page 3 of 3" in text_of(client.get("/users/alice@example.com?days=7&tab=raw&page=9"))


def test_raw_rows_show_split_cost_and_source(client, many):
    sign_in(client)
    response = client.get("/users/alice@example.com?days=7&tab=raw&tool=claude_code")
    row = rows(response, "person-raw-table")[0]
    assert "Claude Code" in row and "Opus 4.1" in row and OPUS in row
    assert "10,000 2,000 0 0" in row
    assert usd(estimate(OPUS, 10_000, 2_000)) in row
    assert row.endswith("estimated")
    response = client.get(f"/users/alice@example.com?days=7&tab=raw&model={UNKNOWN}")
    assert rows(response, "person-raw-table")[0].endswith("— unpriced")
    response = client.get("/users/alice@example.com?days=7&tab=raw&tool=cursor&model="
                          + canonical_model(SONNET))
    assert rows(response, "person-raw-table")[0].endswith("$0.10 reported")


def test_raw_filters_narrow_and_count(client, many):
    sign_in(client)
    response = client.get("/users/alice@example.com?days=7&tab=raw&tool=claude_code")
    assert "1–5 of 5 records" in text_of(response)
    assert all("Claude Code" in r for r in rows(response, "person-raw-table"))
    response = client.get(f"/users/alice@example.com?days=7&tab=raw&model={UNKNOWN}")
    assert "1–1 of 1 record," in text_of(response)
    body = response.get_data(as_text=True)
    assert f'<option value="{UNKNOWN}" selected>' in body
    assert '<option value="claude_code">' in body  # choices stay: the person's tools in range
    # Page links keep the filters and the range.
    response = client.get("/users/alice@example.com?days=7&tab=raw&tool=cursor")
    assert "1–50 of 121 records" in text_of(response)
    next_link = re.search(r'href="([^"]*page=2[^"]*)"', response.get_data(as_text=True))
    query = parse_qs(urlsplit(html.unescape(next_link.group(1))).query)
    assert query == {"days": ["7"], "tab": ["raw"], "tool": ["cursor"], "page": ["2"]}
    # Nothing matches: say so and offer to clear.
    response = client.get("/users/alice@example.com?days=7&tab=raw&tool=codex")
    assert "No records for these filters" in text_of(response)
    assert "Clear the filters" in text_of(response)


def test_raw_tab_htmx_request_gets_the_panel_only(client, many):
    sign_in(client)
    response = client.get("/users/alice@example.com?days=7&tab=raw&page=2",
                          headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith("<div id=\"person-panel\"")
    assert "<html" not in body and "tokens all time" not in body
    assert "Page 2 of 3" in visible(body)
    assert "HX-Request" in response.headers["Vary"]
    # A boosted navigation or a history restore gets the whole page.
    for header in ("HX-Boosted", "HX-History-Restore-Request"):
        whole = client.get("/users/alice@example.com?days=7&tab=raw",
                           headers={"HX-Request": "true", header: "true"})
        assert "<html" in whole.get_data(as_text=True)


# --- who and what ------------------------------------------------------------------------

def test_unmapped_identity_has_a_page(app, client):
    seed(app, [record("k1", 1, tool="claude_code", actor="ci-deploy-key", email=None,
                      model=OPUS, input_tokens=300_000, output_tokens=40_000, cost="1.50")])
    response = visit(client, "/users/ci-deploy-key")
    text = text_of(response)
    assert "ci-deploy-key unmapped" in text
    assert "Tokens 340K" in text and "Cost $1.50" in text
    raw = client.get("/users/ci-deploy-key?tab=raw")
    assert "1–1 of 1 record" in text_of(raw)
    assert "300,000 40,000" in rows(raw, "person-raw-table")[0]


def test_identity_with_a_slash_works(app, client):
    seed(app, [record("s", 0, actor="team/seat 7", email=None, input_tokens=5_000)])
    sign_in(client)
    assert client.get("/users/team/seat%207").status_code == 200


def test_unknown_person_is_404_with_a_way_back(client):
    sign_in(client)
    response = client.get("/users/nobody@example.com")
    assert response.status_code == 404
    assert "No usage for nobody@example.com" in text_of(response)
    assert 'href="/' in response.get_data(as_text=True)  # back to the team or overview


def test_local_part_redirects_to_the_one_matching_email(client, alice):
    sign_in(client)
    response = client.get("/users/alice?days=7")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/users/alice@example.com?days=7")
    assert client.get("/users/al").status_code == 404


def test_member_visibility_self_limits_person_pages(app, make_app, alice):
    limited = make_app(ABACUS_MEMBER_VISIBILITY="self")
    bob = limited.test_client()
    sign_in(bob, "bob@example.com")
    assert bob.get("/users/alice@example.com").status_code == 403
    assert bob.get("/users/alice@example.com?tab=raw").status_code == 403
    assert bob.get("/users/nobody@example.com").status_code == 403  # reveals nobody exists
    assert bob.get("/users/bob@example.com").status_code == 200
    admin = limited.test_client()
    sign_in(admin, "admin@example.com")
    assert admin.get("/users/alice@example.com").status_code == 200
    # With the default (all), members see everyone.
    member = limited.test_client()
    sign_in(member, "carol@example.com")
    assert member.get("/users/alice@example.com").status_code == 403
    everyone = make_app(ABACUS_MEMBER_VISIBILITY="all").test_client()
    sign_in(everyone, "carol@example.com")
    assert everyone.get("/users/alice@example.com").status_code == 200


def test_signed_out_is_sent_to_sign_in(client, alice):
    response = client.get("/users/alice@example.com")
    assert response.status_code == 302
    assert "/auth/sign-in" in response.headers["Location"]
