"""Usage page `/usage`: models and tools over time, the breakdown, active people, CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from ..analytics import copilot, usage
from . import htmx, params
from .charts import Series, StackedChart, stacked_columns
from .filters import model_label, tool_label
from .people import CHART_TOOLS, incomplete_from
from .ranges import current_range, org_today

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
    trend = usage.trend(view, metric, rng.start, rng.end, top=PALETTE)
    series_keys = _series_keys(trend)
    return htmx.render(
        "usage/index.html", "usage/_panel.html",
        rng=rng, view=view, metric=metric, prev=prev,
        breakdown=usage.breakdown(view, rng.start, rng.end),
        previous=usage.totals(prev.start, prev.end),
        chart=_chart(trend, series_keys), series_keys=series_keys,
        active=usage.active_people(rng.start, rng.end),
        copilot=copilot.activity(rng.start, rng.end),
        timezone=current_app.config["ABACUS"].timezone)


@bp.get("/usage.csv")
def export() -> Response:
    """The breakdown table of the same view and range, one row per model (or tool)."""
    rng = current_range()
    view = _choice("view", usage.VIEWS)
    data = usage.breakdown(view, rng.start, rng.end)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([view.removesuffix("s"), "tokens", "input_tokens", "output_tokens",
                     "cache_write_tokens", "cache_read_tokens", "cost_usd",
                     "estimated_cost_usd", "events", "unpriced_events", "people",
                     "share_of_tokens_pct"])
    for row in data.rows:
        share = (Decimal(row.tokens) * 100 / data.total.tokens if data.total.tokens
                 else Decimal(0)).quantize(Decimal("0.01"))
        writer.writerow([_cell(row.key), row.tokens, row.input_tokens, row.output_tokens,
                         row.cache_write_tokens, row.cache_read_tokens, f"{row.cost_usd:f}",
                         f"{row.estimated_cost_usd:f}", row.events, row.unpriced_events,
                         row.people, f"{share:f}"])
    name = f"usage_{view}_{rng.start.isoformat()}_to_{rng.end.isoformat()}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


def _cell(text: str) -> str:
    """Provider-supplied names are data, never a spreadsheet formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


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
