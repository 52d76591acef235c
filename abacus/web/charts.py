"""Chart geometry for server-rendered SVG (macros/charts.html draws it; no JavaScript).

Charts are computed here as plain numbers so templates only place rectangles, and every
chart comes with the table of its data for screen readers and exact values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

WIDTH, HEIGHT = 720, 220  # viewBox units; the SVG scales to its container
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 48, 22, 8


@dataclass(frozen=True)
class Series:
    key: str  # CSS class suffix: `series-<key>` (tools use their id: claude_code, cursor)
    label: str
    values: Sequence[int | Decimal]


@dataclass(frozen=True)
class Segment:
    key: str
    y: float
    height: float
    value: int | Decimal


@dataclass(frozen=True)
class Column:
    day: date
    x: float
    width: float
    total: int | Decimal
    incomplete: bool
    segments: list[Segment]


@dataclass
class StackedChart:
    title: str
    unit: str  # "tokens" | "usd" | "people"…, for labels
    series: list[Series]
    days: list[date]
    columns: list[Column] = field(default_factory=list)
    ticks: list[tuple[float, int | Decimal]] = field(default_factory=list)  # (y, value)
    x_labels: list[tuple[float, date]] = field(default_factory=list)
    incomplete_x: float | None = None  # where the not-yet-complete days begin
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PAD_LEFT
    plot_bottom: int = HEIGHT - PAD_BOTTOM

    @property
    def is_empty(self) -> bool:
        return not any(c.total for c in self.columns)

    def rows(self) -> list[tuple[date, list[int | Decimal], int | Decimal]]:
        """(day, value per series, total) for the data table."""
        return [(c.day, [s.values[i] for s in self.series], c.total)
                for i, c in enumerate(self.columns)]


def _nice_max(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 × 10^n."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def stacked_columns(title: str, days: Sequence[date], series: Sequence[Series], *,
                    unit: str = "tokens", incomplete_from: date | None = None) -> StackedChart:
    """One column per day, one stacked segment per series (bottom to top in order)."""
    chart = StackedChart(title, unit, list(series), list(days))
    n = len(days)
    if n == 0:
        return chart
    totals = [sum((s.values[i] for s in series), start=0) for i in range(n)]
    top = _nice_max(float(max(totals, default=0)))
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / n
    bar_w = max(1.0, slot * (0.72 if n <= 60 else 0.9))
    for i, day in enumerate(days):
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        y = HEIGHT - PAD_BOTTOM
        segments = []
        for s in series:
            v = s.values[i]
            h = float(v) / top * plot_h if top else 0
            if h > 0:
                y -= h
                segments.append(Segment(s.key, round(y, 2), round(h, 2), v))
        chart.columns.append(Column(day, round(x, 2), round(bar_w, 2), totals[i],
                                    bool(incomplete_from and day >= incomplete_from), segments))
        if incomplete_from and day == incomplete_from:
            chart.incomplete_x = round(PAD_LEFT + i * slot, 2)
    chart.ticks = [(round(HEIGHT - PAD_BOTTOM - plot_h * f, 2), _tick_value(top * f, unit))
                   for f in (0, 0.5, 1)]
    every = max(1, round(n / 6))
    chart.x_labels = [(round(PAD_LEFT + i * slot + slot / 2, 2), d)
                      for i, d in enumerate(days) if i % every == 0]
    return chart


def _tick_value(value: float, unit: str) -> int | Decimal:
    return Decimal(str(round(value, 2))) if unit == "usd" else int(value)
