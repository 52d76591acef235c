"""Chart colours stay apart (CIEDE2000, computed here from app.css for light and dark), every
chart gives its series distinct colours, and chart text is never inside a stretched SVG."""

from __future__ import annotations

import itertools
import math
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from abacus.web.charts import (
    MIN_DELTA_E,
    PALETTE_SIZE,
    TOOL_SLOTS,
    Series,
    colour_slots,
    stacked_columns,
)

CSS = (Path(__file__).resolve().parent.parent / "abacus" / "static" / "app.css").read_text()


def _lab(hex_colour: str) -> tuple[float, float, float]:
    """sRGB hex -> CIELAB (D65)."""
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    xyz = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
           0.2126 * r + 0.7152 * g + 0.0722 * b,
           (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
    fx, fy, fz = (t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e2000(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """CIEDE2000 (Sharma, Wu, Dalal 2005)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar ** 7 / (c_bar ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360
    h2p = math.degrees(math.atan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = 0.0
    if c1p * c2p:
        dh = h2p - h1p
        dh = dh - 360 if dh > 180 else dh + 360 if dh < -180 else dh
    d_big_h = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    if not c1p * c2p:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_bar - 30)) + 0.24 * math.cos(math.radians(2 * h_bar))
         + 0.32 * math.cos(math.radians(3 * h_bar + 6))
         - 0.20 * math.cos(math.radians(4 * h_bar - 63)))
    d_theta = 30 * math.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25 ** 7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (d_big_h / s_h) ** 2
                     + r_t * (dc / s_c) * (d_big_h / s_h))


def _palette(block: str) -> dict[str, str]:
    return dict(re.findall(r"--(c\d|c-other|c-human):\s*(#[0-9a-fA-F]{6})", block))


def _themes() -> dict[str, dict[str, str]]:
    light = _palette(CSS[CSS.index("--c0:"):])
    dark_at = CSS.index("--c0:", CSS.index("--c0:") + 1)
    dark_block = CSS[CSS.rindex("@media (prefers-color-scheme: dark)", 0, dark_at):]
    return {"light": light, "dark": _palette(dark_block[:dark_block.index("}\n}") + 1])}


def test_delta_e2000_matches_published_values():
    # Sharma et al. test data, pairs 1 and 17.
    assert delta_e2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, 1e-4)
    assert delta_e2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, 1e-4)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_pair_of_chart_colours_is_far_apart(theme):
    palette = _themes()[theme]
    names = {f"c{i}" for i in range(PALETTE_SIZE)} | {"c-other", "c-human"}
    assert set(palette) == names, f"{theme}: palette incomplete in app.css"
    labs = {name: _lab(value) for name, value in palette.items()}
    closest = min((delta_e2000(labs[a], labs[b]), a, b)
                  for a, b in itertools.combinations(sorted(labs), 2))
    assert closest[0] >= MIN_DELTA_E, f"{theme}: {closest[1]} and {closest[2]} too close"


def test_tool_colours_in_css_are_their_chart_slots():
    for tool, slot in TOOL_SLOTS.items():
        if tool == "copilot":
            continue  # drawn as github_copilot's colour (.tool-copilot)
        assert re.search(rf"--tool-{tool}: var\(--c{slot}\)", CSS), tool


def test_series_in_one_chart_never_share_a_colour():
    # openai and windsurf prefer the same slot; models take their rank; neutrals stay grey
    slots = colour_slots(["openai", "windsurf", "claude_code", "other", "human", "mystery"])
    assert slots["openai"] == "c6" and slots["claude_code"] == "c0"
    assert slots["other"] == "other" and slots["human"] == "human"
    coloured = [slots[k] for k in ("openai", "windsurf", "claude_code", "mystery")]
    assert len(set(coloured)) == 4
    everything = list(TOOL_SLOTS)[:PALETTE_SIZE]
    assert len(set(colour_slots(everything).values())) == PALETTE_SIZE
    assert colour_slots([str(i) for i in range(PALETTE_SIZE)]) == {
        str(i): f"c{i}" for i in range(PALETTE_SIZE)}


def test_chart_text_is_outside_the_stretched_plot(app, client):
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(30)]
    chart = stacked_columns("Daily tokens", days, [
        Series("cursor", "Cursor", [i * 10 for i in range(30)]),
        Series("claude_code", "Claude Code", [5] * 30)])
    assert [s.colour for s in chart.series] == ["c1", "c0"]
    assert chart.x_labels[0].anchor == "start" and chart.x_labels[0].pct == 0
    assert [t.pct for t in chart.ticks] == [100.0, 52.0, 4.0]
    with app.test_request_context():
        html = app.jinja_env.from_string(
            '{% from "macros/charts.html" import stacked_chart %}{{ stacked_chart(c, "x") }}'
        ).render(c=chart)
    plot = re.search(r'<svg class="chart-svg".*?</svg>', html, re.S).group(0)
    assert 'preserveAspectRatio="none"' in plot and "<text" not in plot
    for axis in ("chart-y", "chart-x"):
        svg = re.search(rf'<svg class="{axis}".*?</svg>', html, re.S).group(0)
        assert "viewBox" not in svg and "<text" in svg
    assert 'class="series-c1"' in html and 'class="swatch series-c0"' in html


def test_a_year_is_drawn_week_by_week_with_the_same_totals(app):
    # 2026-01-01 is a Thursday: the first week is Thu-Sun, then Monday-to-Sunday weeks.
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    cost = [Decimal(i % 7) + Decimal("0.01") for i in range(365)]
    chart = stacked_columns("Daily cost by tool", days, [Series("cursor", "Cursor", cost)],
                            unit="usd", incomplete_from=date(2026, 12, 30))
    assert chart.weekly and chart.title == "Weekly cost by tool"
    assert chart.days[:3] == [date(2026, 1, 1), date(2026, 1, 5), date(2026, 1, 12)]
    assert all(d.weekday() == 0 for d in chart.days[1:]) and len(chart.columns) == 53
    assert chart.columns[0].total == sum(cost[:4])  # Thursday to Sunday
    assert sum(c.total for c in chart.columns) == sum(cost)  # exact, to the cent
    # The week holding the first incomplete day is marked, and only the weeks from it.
    assert [c.day for c in chart.columns if c.incomplete] == [date(2026, 12, 28)]
    with app.test_request_context():
        html = app.jinja_env.from_string(
            '{% from "macros/charts.html" import stacked_chart %}{{ stacked_chart(c, "x") }}'
        ).render(c=chart)
    assert "<th scope=\"col\">Week of</th>" in html and "Week of" in html.split("<title>")[1]
    assert "first and last weeks may be partial" in html
    # Up to MAX_DAILY_COLUMNS days stay one column per day.
    short = stacked_columns("Daily cost by tool", days[:92], [Series("cursor", "C", cost[:92])])
    assert not short.weekly and len(short.columns) == 92 and short.title.startswith("Daily")
