"""The Usage page `/usage` and its CSV export, against the real database and ingest."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from abacus.analytics import usage as analytics
from abacus.usage.pricing import canonical_model
from tests.test_person_page import (
    OPUS,
    SONNET,
    UNKNOWN,
    estimate,
    record,
    row_with,
    rows,
    seed,
    sign_in,
    text_of,
    today,
)

GPT = "gpt-5"


@pytest.fixture
def mixed(app) -> None:
    seed(app, [
        # This week (days=7): three people, three models, two tools.
        record("a1", 0, input_tokens=1_000_000, output_tokens=200_000, cache_write=50_000,
               cache_read=750_000, cost="12.50"),
        record("a2", 1, tool="claude_code", model=OPUS, input_tokens=100_000,
               output_tokens=10_000),
        record("b1", 1, actor="bob@example.com", email="bob@example.com", model=GPT,
               input_tokens=400_000, cost="3.00"),
        record("b2", 2, actor="bob@example.com", email="bob@example.com",
               input_tokens=200_000, cost="1.00"),
        record("k1", 3, tool="claude_code", actor="ci-key", email=None, model=UNKNOWN,
               input_tokens=50_000),
        # The previous week.
        record("p1", 9, input_tokens=1_000_000, cost="10.00"),
    ])


def test_models_breakdown_equals_what_was_ingested(client, mixed):
    sign_in(client)
    response = client.get("/usage?days=7")
    assert response.status_code == 200
    sonnet = row_with(response, "Sonnet 4.5", "usage-breakdown")
    # Alice's 2,000,000 + Bob's 200,000 tokens; input 1.2M, output 200K, cache 50K / 750K.
    assert sonnet == "Sonnet 4.5 80% 2.2M 1.2M 200K 50K 750K $13.50 2 2"
    opus = row_with(response, "Opus 4.1", "usage-breakdown")
    assert opus == f"Opus 4.1 4% 110K 100K 10K 0 0 {_usd(estimate(OPUS, 100_000, 10_000))} 1 1"
    assert row_with(response, UNKNOWN, "usage-breakdown").endswith("unpriced 1 1")
    order = [r.split()[0] for r in rows(response, "usage-breakdown")]
    assert order == ["Sonnet", GPT, "Opus", UNKNOWN, "Total"]
    total = rows(response, "usage-breakdown")[-1]
    cost = Decimal("16.50") + estimate(OPUS, 100_000, 10_000)
    assert total == f"Total 2.8M 1.8M 210K 50K 750K {_usd(cost)} +1 unpriced 5 3"


def test_tools_breakdown(client, mixed):
    sign_in(client)
    response = client.get("/usage?days=7&view=tools")
    assert "Tool breakdown" in text_of(response)
    cursor = row_with(response, "Cursor", "usage-breakdown")
    assert cursor.startswith("Cursor 94% 2.6M 1.6M 200K 50K 750K") and cursor.endswith("$16.50 3 2")
    claude = row_with(response, "Claude Code", "usage-breakdown")
    assert claude.endswith("2 2")  # Alice and the unmapped key


def test_stat_cards_and_deltas(client, mixed):
    sign_in(client)
    text = text_of(client.get("/usage?days=7"))
    # 2,760,000 tokens vs 1,000,000 before: +176%; $16.50 (+ an estimate) vs $10.
    assert "Total tokens 2.8M ▲ +176%" in text
    cost = Decimal("16.50") + estimate(OPUS, 100_000, 10_000)
    assert f"Cost {_usd(cost)} ▲ +{round((cost - 10) * 10)}%" in text
    assert "Active people 3 ▲ +200%" in text
    assert "Top model Sonnet 4.5" in text and "2.2M tokens · 80%" in text
    assert "Changes compare with the previous 7 days" in text


def test_chart_keeps_top_seven_models_and_sums_the_rest(app, client):
    models = ["m-a", "m-b", "m-c", "m-d", "m-e", "m-f", "m-g", "m-h", "m-i"]
    seed(app, [record(f"r{i}", 0, model=m, input_tokens=(10 - i) * 1_000, cost="1")
               for i, m in enumerate(models)])
    sign_in(client)
    body = client.get("/usage?days=7").get_data(as_text=True)
    legend = re.search(r'<ul class="legend".*?</ul>', body, flags=re.S).group(0)
    labels = re.findall(r"</span>([^<]+)</li>", legend)
    assert labels[:8] == [*models[:7], "Other models"]
    assert 'class="series-c0"' in body and 'class="series-other"' in body
    # The data table: today's column has 10K … 4K for the top seven, 3K + 2K as "other".
    day = today()
    data = body[body.index('id="usage-trend-title"'):]
    assert (f'{day:%b} {day.day}, {day.year}</td>' + "".join(
        f'<td class="num">{n:,}</td>' for n in (10_000, 9_000, 8_000, 7_000, 6_000, 5_000,
                                                  4_000, 5_000, 54_000))) in data


def test_trend_ranks_by_the_chosen_metric(app, ctx):
    seed(app, [record("a", 0, model="m-cheap", input_tokens=9_000, cost="1"),
               record("b", 1, model="m-dear", input_tokens=1_000, cost="50"),
               record("c", 1, model="m-mid", input_tokens=2_000, cost="2")])
    start, end = today() - timedelta(days=6), today()
    by_tokens = analytics.trend("models", "tokens", start, end, top=1)
    assert by_tokens.keys == ["m-cheap", None]
    assert by_tokens.values[None][-2] == 3_000  # m-mid and m-dear yesterday
    by_cost = analytics.trend("models", "cost", start, end, top=1)
    assert by_cost.keys == ["m-dear", None]
    assert by_cost.values["m-dear"][-2] == Decimal("50")
    assert by_cost.values[None] == [0, 0, 0, 0, 0, Decimal("2"), Decimal("1")]
    assert len(by_cost.days) == 7
    # An "other" of one key would say less than the key itself: it is shown instead.
    assert analytics.trend("models", "tokens", start, end, top=2).keys == [
        "m-cheap", "m-mid", "m-dear"]


def test_cost_metric_draws_money(client, mixed):
    sign_in(client)
    body = client.get("/usage?days=7&metric=cost").get_data(as_text=True)
    assert "Daily cost by model" in body
    assert "$12.50" in body  # today's Sonnet cost in the data table


def test_active_people_per_day_and_tool(client, mixed):
    sign_in(client)
    response = client.get("/usage?days=7")
    assert row_with(response, "Cursor") and "Active people by tool" in text_of(response)
    text = text_of(response)
    assert "Active people per day" in text
    day1 = today() - timedelta(days=1)
    # Yesterday: Alice on Claude Code, Bob on Cursor: one each, two in all.
    body = response.get_data(as_text=True)
    periods = body[body.index("usage-periods"):]
    row = next(r for r in re.findall(r"<tr>.*?</tr>", periods, flags=re.S)
               if f"{day1:%b} {day1.day}, {day1.year}" in r)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["1", "1", "2"]


def test_active_people_weekly_for_long_ranges(app, ctx, mixed):
    active = analytics.active_people(today() - timedelta(days=89), today())
    assert active.grain == "week"
    assert all(p.start.weekday() == 0 for p in active.periods)
    assert active.people == 3
    assert {t.tool: t.people for t in active.by_tool} == {"cursor": 2, "claude_code": 2}
    assert [p.start for p in active.periods] == sorted((p.start for p in active.periods),
                                                       reverse=True)


def test_csv_export_is_the_breakdown(client, mixed):
    sign_in(client)
    response = client.get("/usage.csv?days=7")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    start = today() - timedelta(days=6)
    assert (f'filename="usage_models_{start.isoformat()}_to_{today().isoformat()}.csv"'
            in response.headers["Content-Disposition"])
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    # The breakdown's columns in its order, each name as shown and by its id.
    assert table[0] == ["model", "model_id", "share_of_tokens_pct", "tokens", "input_tokens",
                        "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd",
                        "estimated_cost_usd", "unpriced_events", "events", "people"]
    by_model = {r[1]: r for r in table[1:]}
    sonnet = by_model[canonical_model(SONNET)]
    assert sonnet[0] == "Sonnet 4.5"
    assert sonnet[2:8] == ["79.71", "2200000", "1200000", "200000", "50000", "750000"]
    assert sonnet[8:10] == ["13.500000", "0.000000"]
    assert sonnet[10:] == ["0", "2", "2"]
    opus = by_model[canonical_model(OPUS)]
    assert opus[0] == "Opus 4.1"
    assert Decimal(opus[8]) == Decimal(opus[9]) == estimate(OPUS, 100_000, 10_000)
    # Unpriced: no amount (not $0), flagged.
    assert by_model[canonical_model(UNKNOWN)][8:12] == ["", "", "1", "1"]
    assert len(table) == 5

    tools = list(csv.reader(io.StringIO(client.get("/usage.csv?days=7&view=tools")
                                        .get_data(as_text=True))))
    assert tools[0][:2] == ["tool", "tool_id"]
    assert [r[:2] for r in tools[1:]] == [["Cursor", "cursor"], ["Claude Code", "claude_code"]]


def test_csv_never_starts_a_formula(app, client):
    seed(app, [record("x", 0, model="=HYPERLINK(1)", input_tokens=10)])
    sign_in(client)
    body = client.get("/usage.csv?days=7").get_data(as_text=True)
    assert "\r\n'=" in body


def test_csv_link_is_not_boosted_and_keeps_arguments(client, mixed):
    sign_in(client)
    body = client.get("/usage?start=2020-01-01&end=2020-02-01&view=tools").get_data(as_text=True)
    link = re.search(r'<a [^>]*usage-export[^>]*>', body).group(0)
    assert 'hx-boost="false"' in link and "download" in link
    assert "/usage.csv?" in link and "view=tools" in link and "start=2020-01-01" in link


def test_view_switch_htmx_gets_the_panel(client, mixed):
    sign_in(client)
    response = client.get("/usage?days=7&view=tools", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="usage-panel"')
    assert "<html" not in body
    assert "Tool breakdown" in text_of(response)
    # The range picker inside the panel keeps the view.
    assert re.search(r'href="/usage\?[^"]*days=30[^"]*view=tools', body) or \
        re.search(r'href="/usage\?[^"]*view=tools[^"]*days=30', body)


def test_bad_arguments_fall_back(client, mixed):
    sign_in(client)
    response = client.get("/usage?days=7&view=bogus&metric=nope")
    assert response.status_code == 200
    assert "Model breakdown" in text_of(response) and "Daily tokens by model" in text_of(response)


def test_empty_state(client):
    sign_in(client)
    text = text_of(client.get("/usage?days=7"))
    assert "No usage in the last 7 days" in text
    assert "flask abacus demo" in text
    assert "look at the last year" in text


def test_invalid_view_in_analytics_is_refused(app, ctx):
    with pytest.raises(ValueError):
        analytics.breakdown("people", today(), today())


def _usd(value: Decimal) -> str:
    from abacus.web.filters import usd

    return usd(value)
