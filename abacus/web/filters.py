"""Jinja filters every page uses to show numbers, money, models, tools and days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flask import Flask

from ..analytics.overview import lifetime
from ..github.attribution import TOOLS as COMMIT_TOOLS
from ..usage.pricing import display_model
from .charts import colour_slots

# Usage providers' tools, and every tool commits are attributed to (one id for both).
TOOL_LABELS = {**COMMIT_TOOLS, "openai": "OpenAI", "openrouter": "OpenRouter",
               "copilot": COMMIT_TOOLS.get("github_copilot", "GitHub Copilot")}

_FILTERS: dict[str, Callable] = {}


def _filter(name: str) -> Callable[[Callable], Callable]:
    def register(func: Callable) -> Callable:
        _FILTERS[name] = func
        return func

    return register


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(_FILTERS)
    app.jinja_env.globals["usage_stored"] = usage_stored


def usage_stored() -> bool:
    """Whether any usage is stored at all (an empty range then offers no first steps)."""
    return lifetime().first_day is not None


@_filter("series_colours")
def series_colours(keys: list[str]) -> dict[str, str]:
    """Colour class suffix per key, distinct within one bar or legend (charts.colour_slots)."""
    return colour_slots(list(keys))


@_filter("number")
def number(value: int | Decimal | None) -> str:
    """Exact count with thousands separators: 1234567 -> "1,234,567"."""
    return f"{int(value or 0):,}"


@_filter("compact")
def compact(value: int | Decimal | None) -> str:
    """Short count for cards: 1234 -> "1.2K", 1234567 -> "1.2M", 999 -> "999"."""
    n = int(value or 0)
    sign, n = ("-", -n) if n < 0 else ("", n)
    if n < 1000:
        return f"{sign}{n}"
    for exponent, suffix in ((3, "K"), (6, "M"), (9, "B"), (12, "T")):
        scaled = Decimal(n) / Decimal(10) ** exponent
        places = Decimal("1") if scaled >= 100 else Decimal("0.1")
        rounded = scaled.quantize(places, rounding=ROUND_HALF_UP)
        if rounded < 1000 or suffix == "T":  # 999,950 rounds to 1000.0K: say 1M instead
            text = f"{rounded:f}".removesuffix(".0")
            return f"{sign}{text}{suffix}"
    raise AssertionError("unreachable")


@_filter("usd")
def usd(value: Decimal | int | None) -> str:
    """Money to the cent, half-up like an invoice: Decimal("1234.565") -> "$1,234.57"."""
    amount = Decimal(value or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


@_filter("credits")
def credits(value: Decimal | int | None) -> str:
    """AI credits as reported, with separators: Decimal("1250.50") -> "1,250.5"."""
    amount = Decimal(value or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{amount:,.2f}".rstrip("0").rstrip(".")
    return text


@_filter("percent")
def percent(part: int | Decimal, whole: int | Decimal) -> str:
    """Share as a whole percent, "<1%" for a sliver so it never reads as nothing."""
    if not whole:
        return "0%"
    share = Decimal(part) * 100 / Decimal(whole)
    if 0 < share < 1:
        return "<1%"
    return f"{share.quantize(Decimal('1'), rounding=ROUND_HALF_UP)}%"


@_filter("share")
def share(part: int | Decimal, whole: int | Decimal) -> int:
    """0-100 integer for a <progress> bar (no inline styles: a strict CSP is coming)."""
    if not whole:
        return 0
    return int((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("1"),
                                                               rounding=ROUND_HALF_UP))


@_filter("tool_label")
def tool_label(tool: str | None) -> str:
    if not tool:
        return "—"
    return TOOL_LABELS.get(tool, tool.replace("_", " ").title())


@_filter("model_label")
def model_label(model: str) -> str:
    return display_model(model)


@_filter("day")
def day(value: date) -> str:
    """"Mar 4, 2026"; the day number without a leading zero on every platform."""
    return f"{value:%b} {value.day}, {value.year}"


@_filter("day_range")
def day_range(start: date, end: date) -> str:
    """"Mar 4 – Apr 2, 2026", the year said once when both ends share it."""
    if start.year == end.year:
        return f"{start:%b} {start.day} – {day(end)}"
    return f"{day(start)} – {day(end)}"


@_filter("usd_short")
def usd_short(value: Decimal | int | None) -> str:
    """Axis money: "$0", "$12", "$1.2K"."""
    amount = Decimal(value or 0)
    if abs(amount) >= 1000:
        return "$" + compact(amount)
    return f"${amount.quantize(Decimal('1'), rounding=ROUND_HALF_UP)}"


@_filter("delta")
def delta(current: int | Decimal, previous: int | Decimal) -> dict | None:
    """Change against the previous window, shown only when |Δ| ≥ 3% (noise otherwise).

    Returns {"pct": "+12%", "direction": "up"|"down"} or None.
    """
    if not previous:
        return None
    change = (Decimal(current) - Decimal(previous)) * 100 / Decimal(previous)
    if abs(change) < 3:
        return None
    pct = change.quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    return {"pct": f"{'+' if pct > 0 else ''}{pct}%", "direction": "up" if pct > 0 else "down"}


@_filter("merge")
def merge(first: dict, *others: dict, **updates) -> dict:
    """Dicts combined left to right (templates can pass only one **kwargs to a call)."""
    out = dict(first)
    for other in others:
        out.update(other)
    out.update(updates)
    return out
