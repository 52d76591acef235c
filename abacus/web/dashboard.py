"""Overview page `/`."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..analytics import overview as analytics
from ..analytics.bots import bot_usage
from ..analytics.commits import commit_summary
from ..seats.cost import cost_report
from ..sync.engine import data_complete_through
from . import htmx, params
from .access import is_admin, only_person
from .budgets import attention
from .charts import Series, stacked_columns
from .filters import tool_label
from .ranges import current_range, org_today
from .seats import basis_links, cost_basis

bp = Blueprint("dashboard", __name__)

METRICS = ("tokens", "cost")


@bp.get("/")
def index() -> ResponseReturnValue:
    rng = current_range()
    metric = params.choice("metric", METRICS)
    today = org_today()
    ov = analytics.overview(rng.start, rng.end)
    limit_to = only_person()
    if limit_to is not None:  # ABACUS_MEMBER_VISIBILITY=self: team totals, but only own row
        ov = dataclasses.replace(ov, by_person=[p for p in ov.by_person
                                                if p.person.lower() == limit_to])
    prev_range = rng.previous()
    daily = analytics.daily_by_tool(rng.start, rng.end)
    values = daily.tokens if metric == "tokens" else daily.cost
    chart = stacked_columns(
        "Daily tokens by tool" if metric == "tokens" else "Daily cost by tool", daily.days,
        [Series(t, tool_label(t), values[t]) for t in daily.tools],
        unit="tokens" if metric == "tokens" else "usd",
        incomplete_from=incomplete_from(today))
    return htmx.render(
        "dashboard/index.html", "dashboard/_chart.html",
        ov=ov, rng=rng, prev=analytics.totals(prev_range.start, prev_range.end),
        chart=chart, metric=metric, lifetime=analytics.lifetime(),
        projection=analytics.month_projection(today), own_row_only=limit_to is not None,
        commits=commit_summary(rng.start, rng.end, prev_range.start, prev_range.end,
                               current_app.config["ABACUS"].timezone),
        timezone=current_app.config["ABACUS"].timezone,
        seat_cost=cost_report(rng.start, rng.end), cost_basis=cost_basis(),
        basis_links=basis_links("dashboard.index"),
        bots=bot_usage(rng.start, rng.end) if limit_to is None else [],
        attention=attention(None if is_admin() else current_user.email.lower()))


def incomplete_from(today):
    """The first day whose numbers may still change: the day after the data every syncing
    account has final, and never later than today (a day is not over until it is)."""
    complete = data_complete_through()
    if complete is None:
        return today
    return min(today, complete + timedelta(days=1))
