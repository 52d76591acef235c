"""The Overview page: cards with deltas, the daily chart, tool split, top people, projection."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from abacus.analytics import overview as analytics
from tests.test_web import record, seed, sign_in, text_of, today


def test_cards_show_deltas_against_the_previous_window(app, client):
    # Last 7 days: $30; the 7 days before: $20 (+50%). Tokens equal (no delta shown).
    seed(app, [
        record("a", 1, cost=Decimal("10"), input_tokens=1000),
        record("b", 2, cost=Decimal("20"), input_tokens=1000, actor="bob@example.com",
               email="bob@example.com"),
        record("c", 9, cost=Decimal("20"), input_tokens=2000),
    ])
    sign_in(client)
    page = text_of(client.get("/?days=7"))
    assert re.search(r"Cost \$30\.00 ▲ \+50%", page)
    assert re.search(r"Active people 2 ▲ \+100%", page)
    assert "Total tokens 2K ▲" not in page and "Total tokens 2K ▼" not in page
    assert "Avg per day $4.29" in page  # 30 / 7
    assert "previous 7 days" in page


def test_small_changes_are_not_shown_as_deltas(app, client):
    seed(app, [record("a", 1, cost=Decimal("100")), record("b", 9, cost=Decimal("98"))])
    sign_in(client)
    page = text_of(client.get("/?days=7"))
    assert "Cost $100.00 as reported" in page  # +2%: below the 3% threshold


def test_daily_chart_stacks_tools_and_has_a_data_table(app, client):
    seed(app, [
        record("a", 0, tool="cursor", input_tokens=300),
        record("b", 0, tool="claude_code", input_tokens=700, model="claude-opus-4-1"),
        record("c", 3, tool="cursor", input_tokens=50),
    ])
    sign_in(client)
    response = client.get("/?days=7")
    body = response.get_data(as_text=True)
    assert body.count('class="series-c1"') == 2
    assert body.count('class="series-c0"') == 1
    table = text_of(response)
    day0 = today()
    assert f"{day0:%b} {day0.day}, {day0.year} 700 300 1,000" in table  # claude, cursor, total
    assert "incomplete" in table  # today is never complete


def test_chart_metric_switch_returns_only_the_chart_for_htmx(app, client):
    seed(app, [record("a", 0, cost=Decimal("12.5"), input_tokens=10)])
    sign_in(client)
    response = client.get("/?days=7&metric=cost", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section class="card" id="daily-chart">')
    assert "Daily cost by tool" in body and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]
    boosted = client.get("/?days=7&metric=cost",
                         headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)


def test_top_people_show_tool_split_and_favourite_model(app, client):
    seed(app, [
        record("a", 1, tool="cursor", input_tokens=750, model="gpt-5"),
        record("b", 1, tool="claude_code", input_tokens=250, model="claude-opus-4-1"),
    ])
    sign_in(client)
    page = text_of(client.get("/"))
    assert "Cursor 75%" in page and "Claude Code 25%" in page
    assert re.search(r"alice@example\.com 1,000 .* GPT-5|alice@example\.com 1,000 .* gpt-5",
                     page)


def test_month_end_projection(ctx, app):
    day = today()
    seed(app, [record(f"p{i}", i, cost=Decimal("14")) for i in range(1, 15)]
         + [record("t", 0, cost=Decimal("3"))])
    p = analytics.month_projection(day)
    month_start = day.replace(day=1)
    days_before_today_this_month = (day - month_start).days
    mtd = Decimal(14) * min(days_before_today_this_month, 14) + 3
    days_left = (p.month_end - day).days + 1
    assert p.month_to_date == mtd
    assert p.daily_rate == Decimal(14)  # 14 complete days at $14
    # Today already cost $3, less than the rate: it counts at the rate.
    assert p.projected == mtd - 3 + 14 + 14 * (days_left - 1)


def test_custom_range_and_bad_range_input(app, client):
    seed(app, [record("a", 40, cost=Decimal("5"))])
    sign_in(client)
    start = (today() - timedelta(days=45)).isoformat()
    end = (today() - timedelta(days=35)).isoformat()
    page = text_of(client.get(f"/?start={start}&end={end}"))
    assert "$5.00" in page
    bad = text_of(client.get("/?start=2026-13-01&end=2026-01-01"))
    assert "Dates must look like 2026-05-31. Showing the last 30 days." in bad
    backwards = text_of(client.get(f"/?start={end}&end={start}"))
    assert "The end date is before the start date." in backwards


def test_links_keep_the_range(app, client):
    seed(app, [record("a", 1, cost=Decimal("5"))])
    sign_in(client)
    body = client.get("/?days=90").get_data(as_text=True)
    assert 'href="/?days=90&amp;metric=cost"' in body
    assert re.search(r'href="/users/alice@example\.com\?days=90"|people', body)


def test_security_headers(app, client):
    sign_in(client)
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    body = response.get_data(as_text=True)
    assert "<script>" not in body and ' style="' not in body and " onclick=" not in body


def test_incomplete_days_follow_the_sync_state(ctx, app):
    from abacus.web.dashboard import incomplete_from

    assert incomplete_from(date(2026, 5, 10)) == date(2026, 5, 10)


def test_members_see_only_their_own_row_when_visibility_is_self(app, client, monkeypatch):
    import dataclasses

    seed(app, [record("a", 1, cost=Decimal("5")),
               record("b", 1, cost=Decimal("7"), actor="bob@example.com",
                      email="bob@example.com")])
    monkeypatch.setitem(app.config, "ABACUS",
                        dataclasses.replace(app.config["ABACUS"], member_visibility="self",
                                            min_group_size=1))
    sign_in(client, "bob@example.com")
    page = text_of(client.get("/"))
    assert "Cost $12.00" in page  # team totals stay
    assert "bob@example.com" in page.split("Your usage")[1]
    assert "alice@example.com" not in page
