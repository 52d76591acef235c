"""Usage page `/usage`: models and tools over time, the breakdown, active people, CSV."""

from __future__ import annotations

from collections.abc import Callable, Collection
from decimal import ROUND_HALF_UP, Decimal

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from ..access.policy import GroupCheck
from ..analytics import copilot, usage
from ..analytics.overview import Totals
from . import exports, htmx, params
from .access import groups
from .charts import Series, StackedChart, stacked_columns
from .filters import model_label, tool_label
from .people import incomplete_from
from .ranges import current_range, org_today
from .teamscope import team_ids

bp = Blueprint("usage", __name__)

PALETTE = 7  # top models drawn in their own colours; the rest "other"


def _choice(name: str, choices: tuple[str, ...]) -> str:
    return params.choice(name, choices)


@bp.get("/usage")
def index() -> ResponseReturnValue:
    rng = current_range()
    view = _choice("view", usage.VIEWS)
    metric = _choice("metric", usage.METRICS)
    prev = rng.previous()
    team = team_ids()
    gate = groups(rng)
    data = usage.breakdown(view, rng.start, rng.end, team)
    hidden = hidden_keys(gate, view, data)
    org_hidden = not gate.ok(data.total.people)
    previous = usage.totals(prev.start, prev.end, team)
    if not groups(prev).ok(previous.people):
        previous = Totals(prev.start, prev.end)  # no delta rather than a small group's sum
    trend = usage.trend(view, metric, rng.start, rng.end, top=PALETTE, team=team)
    series_keys = _series_keys(trend)
    active = usage.active_people(rng.start, rng.end, team=team)
    hidden_tools = {t.tool for t in active.by_tool if not gate.ok(t.people, "tools", t.tool)}
    chart = _chart(trend, series_keys, hidden)
    # The breakdown table's swatches: the colour each key has in the chart above it.
    swatches = {key: chart.colour(series_key) for key, series_key in series_keys.items()}
    return htmx.render(
        "usage/index.html", "usage/_panel.html",
        rng=rng, view=view, metric=metric, prev=prev, breakdown=data, previous=previous,
        hidden_keys=hidden, org_hidden=org_hidden, hidden_notice=gate.notice,
        chart=chart, swatches=swatches,
        active=active, hidden_tools=hidden_tools,
        copilot=copilot.activity(rng.start, rng.end),
        timezone=current_app.config["ABACUS"].timezone)


def hidden_keys(gate: GroupCheck, view: str, data: usage.Breakdown) -> set[str]:
    """Breakdown rows this viewer may not see: over fewer than ABACUS_MIN_GROUP_SIZE people
    outside their own scope (every row when the total itself is such a group)."""
    if not gate.ok(data.total.people):
        return {row.key for row in data.rows}
    return {row.key for row in data.rows if not gate.ok(row.people, view, row.key)}


@bp.get("/usage.csv")
def export() -> Response:
    """The breakdown table of the same view and range, one row per model (or tool), in the
    shared export format: the name as shown and its id, the table's figures in its order."""
    rng = current_range()
    view = _choice("view", usage.VIEWS)
    data = usage.breakdown(view, rng.start, rng.end, team_ids())
    hidden = hidden_keys(groups(rng), view, data)  # left out, as on the page
    rows = [row for row in data.rows if row.key not in hidden]
    return exports.csv_response(f"usage_{view}", rng, breakdown_fields(view, data), rows,
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
    """Series key per trend key (charts.colour_slots colours them): tools by id, models by
    rank ("0", "1"…), the rest "other"."""
    keys: dict[str | None, str] = {}
    for i, key in enumerate(trend.keys):
        if key is None:
            keys[key] = "other"
        else:
            keys[key] = key if trend.view == "tools" else str(i)
    return keys


def _chart(trend: usage.Trend, series_keys: dict[str | None, str],
           hidden: Collection[str] = ()) -> StackedChart:
    label = model_label if trend.view == "models" else tool_label
    other = "Other models" if trend.view == "models" else "Other tools"
    what = "tokens" if trend.metric == "tokens" else "cost"
    by = "model" if trend.view == "models" else "tool"
    return stacked_columns(
        f"Daily {what} by {by}", trend.days,
        [Series(series_keys[k], other if k is None else label(k), trend.values[k])
         for k in trend.keys if k not in hidden
         # "Other" sums the keys outside the top: gone if any of those is hidden.
         and not (k is None and set(hidden) - set(trend.keys))],
        unit="tokens" if trend.metric == "tokens" else "usd",
        incomplete_from=incomplete_from(org_today()))
