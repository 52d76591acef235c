"""Usage page `/usage`: models and tools over time, the breakdown, active people, CSV."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from ..analytics import copilot, usage
from . import exports, htmx, params
from .charts import Series, StackedChart, stacked_columns
from .filters import model_label, tool_label
from .people import CHART_TOOLS, incomplete_from
from .ranges import current_range, org_today
from .teamscope import team_ids

bp = Blueprint("usage", __name__)

PALETTE = 7  # top models drawn in series-0 … series-6 (series-7 for an 8th); the rest "other"


def _choice(name: str, choices: tuple[str, ...]) -> str:
    return params.choice(name, choices)


@bp.get("/usage")
def index() -> ResponseReturnValue:
    rng = current_range()
    view = _choice("view", usage.VIEWS)
    metric = _choice("metric", usage.METRICS)
    prev = rng.previous()
    team = team_ids()
    trend = usage.trend(view, metric, rng.start, rng.end, top=PALETTE, team=team)
    series_keys = _series_keys(trend)
    return htmx.render(
        "usage/index.html", "usage/_panel.html",
        rng=rng, view=view, metric=metric, prev=prev,
        breakdown=usage.breakdown(view, rng.start, rng.end, team),
        previous=usage.totals(prev.start, prev.end, team),
        chart=_chart(trend, series_keys), series_keys=series_keys,
        active=usage.active_people(rng.start, rng.end, team=team),
        copilot=copilot.activity(rng.start, rng.end),
        timezone=current_app.config["ABACUS"].timezone)


@bp.get("/usage.csv")
def export() -> Response:
    """The breakdown table of the same view and range, one row per model (or tool), in the
    shared export format: the name as shown and its id, the table's figures in its order."""
    rng = current_range()
    view = _choice("view", usage.VIEWS)
    data = usage.breakdown(view, rng.start, rng.end, team_ids())
    return exports.csv_response(f"usage_{view}", rng, breakdown_fields(view, data), data.rows,
                                current_app.config["ABACUS"].timezone)


def breakdown_fields(view: str, data: usage.Breakdown) -> list[exports.Field]:
    name = "model" if view == "models" else "tool"
    label = model_label if view == "models" else tool_label
    whole = data.total.tokens

    def share(row: usage.BreakdownRow) -> Decimal:
        return (Decimal(row.tokens) * 100 / whole if whole else Decimal(0)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP)

    def priced(amount: Callable[[usage.BreakdownRow], Decimal]
               ) -> Callable[[usage.BreakdownRow], Decimal | None]:
        # Nothing in the row has a price: the amount is unknown (the page says "unpriced").
        return lambda row: None if row.fully_unpriced else amount(row)

    F = exports.Field
    return [
        F(name, lambda row: label(row.key)), F(f"{name}_id", lambda row: row.key),
        F("share_of_tokens_pct", share), F("tokens", lambda row: row.tokens),
        F("input_tokens", lambda row: row.input_tokens),
        F("output_tokens", lambda row: row.output_tokens),
        F("cache_write_tokens", lambda row: row.cache_write_tokens),
        F("cache_read_tokens", lambda row: row.cache_read_tokens),
        F("cost_usd", priced(lambda row: row.cost_usd)),
        F("estimated_cost_usd", priced(lambda row: row.estimated_cost_usd)),
        F("unpriced_events", lambda row: row.unpriced_events),
        F("events", lambda row: row.events), F("people", lambda row: row.people),
    ]


def _series_keys(trend: usage.Trend) -> dict[str | None, str]:
    """Chart colour class per key: tools keep their own colour, models take the palette in
    rank order, everything else is "other"."""
    keys: dict[str | None, str] = {}
    for i, key in enumerate(trend.keys):
        if key is None:
            keys[key] = "other"
        elif trend.view == "tools":
            keys[key] = key if key in CHART_TOOLS else str(i % (PALETTE + 1))
        else:
            keys[key] = str(i)
    return keys


def _chart(trend: usage.Trend, series_keys: dict[str | None, str]) -> StackedChart:
    label = model_label if trend.view == "models" else tool_label
    other = "Other models" if trend.view == "models" else "Other tools"
    what = "tokens" if trend.metric == "tokens" else "cost"
    by = "model" if trend.view == "models" else "tool"
    return stacked_columns(
        f"Daily {what} by {by}", trend.days,
        [Series(series_keys[k], other if k is None else label(k), trend.values[k])
         for k in trend.keys],
        unit="tokens" if trend.metric == "tokens" else "usd",
        incomplete_from=incomplete_from(org_today()))
