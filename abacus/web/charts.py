"""Chart geometry for server-rendered SVG (macros/charts.html draws it; no JavaScript).

Charts are computed here as plain numbers so templates only place rectangles, and every
chart comes with the table of its data for screen readers and exact values.

The plot (bars, grid) is an SVG stretched to its box; axis labels are NOT in it: they sit in
their own SVGs without a viewBox, placed by percentages, so text is drawn at 1:1 and keeps
its proportions at every width (a stretched viewBox would widen text ~1.5× on desktop and
squash it on phones).

Series colours come from one palette of `PALETTE_SIZE` slots (`series-c0`…, defined for light
and dark in app.css) plus two neutrals (`series-other`, `series-human`). Every pair of them is
at least `MIN_DELTA_E` apart (CIEDE2000) in each theme; tests/test_chart_palette.py checks it.
A chart gives each series its own slot: a tool keeps its preferred slot (the same colour
on every page) unless another series in the same chart already holds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

WIDTH, HEIGHT = 720, 200  # the plot's viewBox units; it is stretched to its box
PAD_TOP = 8  # room above the top grid line

# Past this many days a chart draws one column per week (Monday to Sunday): a year of daily
# columns is 365 bars of two pixels, unreadable on a laptop and a page of ~1,500 SVG nodes.
MAX_DAILY_COLUMNS = 92

PALETTE_SIZE = 8
MIN_DELTA_E = 15.0  # CIEDE2000 between any two chart colours of one theme
NEUTRAL = ("other", "human")  # greys outside the palette: "Other tools", human commits
# A tool's own colour slot, the same on every page (see the palette in app.css).
TOOL_SLOTS = {"claude_code": 0, "cursor": 1, "copilot": 2, "github_copilot": 2, "codex": 3,
              "gemini": 4, "openrouter": 5, "openai": 6, "windsurf": 6, "amp": 7,
              "jules": 7, "devin": 4, "aider": 3, "opencode": 6, "openhands": 2}


def colour_slots(keys: Sequence[str]) -> dict[str, str]:
    """The colour class suffix per series key, distinct within one chart: neutrals stay
    grey, a tool takes its preferred slot when free, a palette index ("0"…) its own, anything
    else (or a taken slot) the first free one; past the palette, slots repeat."""
    taken: set[int] = set()
    out: dict[str, str] = {}
    wanted = [(k, TOOL_SLOTS.get(k, int(k) % PALETTE_SIZE if k.isdigit() else None))
              for k in keys if k not in NEUTRAL]
    for key, slot in wanted:  # preferred slots first, in series order
        if slot is not None and slot not in taken:
            taken.add(slot)
            out[key] = f"c{slot}"
    free = (i for i in range(PALETTE_SIZE) if i not in taken)
    for key, _ in wanted:
        if key not in out:
            out[key] = f"c{next(free, len(out) % PALETTE_SIZE)}"
    return {k: out.get(k, k) for k in keys}


@dataclass(frozen=True)
class Series:
    key: str  # CSS class suffix: `series-<key>` (tools use their id: claude_code, cursor)
    label: str
    values: Sequence[int | Decimal]
    colour: str = ""  # palette class suffix (c0…, other, human), set by stacked_columns


@dataclass(frozen=True)
class Segment:
    colour: str
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


@dataclass(frozen=True)
class Tick:
    y: float  # plot units, for the grid line
    pct: float  # the same height in % of the plot, for the label
    value: int | Decimal


@dataclass(frozen=True)
class XLabel:
    pct: float  # % of the plot's width
    anchor: str  # start | middle | end: the edge labels stay inside the plot
    day: date


@dataclass
class StackedChart:
    title: str
    unit: str  # "tokens" | "usd" | "people"…, for labels
    series: list[Series]
    days: list[date]  # each column's first day
    weekly: bool = False  # a column per week (its first day in range), else per day
    columns: list[Column] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)  # bottom to top
    x_labels: list[XLabel] = field(default_factory=list)
    incomplete_x: float | None = None  # where the not-yet-complete days begin
    width: int = WIDTH
    height: int = HEIGHT

    def colour(self, key: str) -> str:
        """The colour class suffix of a series key in this chart."""
        return next((s.colour for s in self.series if s.key == key), "other")

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
    """One column per day, one stacked segment per series (bottom to top in order); past
    MAX_DAILY_COLUMNS days, one column per week holding its days' sums (the title's "Daily"
    becomes "Weekly"), a week being incomplete when any of its days is."""
    colours = colour_slots([s.key for s in series])
    series = [dataclasses.replace(s, colour=colours[s.key]) for s in series]
    weekly = len(days) > MAX_DAILY_COLUMNS
    if weekly:
        days, series = _by_week(days, series)
        title = title.replace("Daily", "Weekly", 1)
        if incomplete_from:  # the week holding it is the first incomplete column
            incomplete_from = max((d for d in days if d <= incomplete_from),
                                  default=incomplete_from)
    chart = StackedChart(title, unit, series, list(days), weekly)
    n = len(days)
    if n == 0:
        return chart
    totals = [sum((s.values[i] for s in series), start=0) for i in range(n)]
    top = _nice_max(float(max(totals, default=0)))
    plot_h = HEIGHT - PAD_TOP
    slot = WIDTH / n
    bar_w = max(1.0, slot * (0.72 if n <= 60 else 0.9))
    for i, day in enumerate(days):
        x = i * slot + (slot - bar_w) / 2
        y: float = HEIGHT
        segments = []
        for s in series:
            v = s.values[i]
            h = float(v) / top * plot_h if top else 0
            if h > 0:
                y -= h
                segments.append(Segment(s.colour, round(y, 2), round(h, 2), v))
        chart.columns.append(Column(day, round(x, 2), round(bar_w, 2), totals[i],
                                    bool(incomplete_from and day >= incomplete_from), segments))
        if incomplete_from and day == incomplete_from:
            chart.incomplete_x = round(i * slot, 2)
    for f in (0, 0.5, 1):
        y = HEIGHT - plot_h * f
        chart.ticks.append(Tick(round(y, 2), round(y / HEIGHT * 100, 2),
                                _tick_value(top * f, unit)))
    every = max(1, round(n / 6))
    for i, d in enumerate(days):
        if i % every:
            continue
        pct = (i + 0.5) / n * 100
        anchor = "start" if pct < 4 else "end" if pct > 96 else "middle"
        edge = {"start": i / n * 100, "end": (i + 1) / n * 100}.get(anchor, pct)
        chart.x_labels.append(XLabel(round(edge, 2), anchor, d))
    return chart


def _by_week(days: Sequence[date], series: Sequence[Series]
             ) -> tuple[list[date], list[Series]]:
    """Consecutive days folded into Monday-to-Sunday weeks (the first and last may be
    partial), each week named by its first day in the range."""
    starts: list[date] = []
    index: list[int] = []  # day i -> its week
    for d in days:
        if not starts or d - timedelta(days=d.weekday()) > starts[-1]:
            starts.append(d)
        index.append(len(starts) - 1)
    folded = []
    for s in series:
        sums: list = [0] * len(starts)
        for i, v in enumerate(s.values):
            sums[index[i]] += v
        folded.append(dataclasses.replace(s, values=sums))
    return starts, folded


def _tick_value(value: float, unit: str) -> int | Decimal:
    return Decimal(str(round(value, 2))) if unit == "usd" else int(value)
