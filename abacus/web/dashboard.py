"""Overview page `/`."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from ..access.policy import Viewer
from ..analytics import overview as analytics
from ..analytics import usage as usage_analytics
from ..analytics.bots import bot_usage
from ..analytics.commits import commit_summary
from ..analytics.common import Team
from ..seats.cost import cost_totals
from ..sync.engine import data_complete_through
from . import htmx, params
from .access import own_scope, viewer
from .budgets import attention
from .charts import Series, stacked_columns
from .filters import tool_label
from .ranges import current_range, org_today
from .seats import basis_links, cost_basis
from .teamscope import team_ids

bp = Blueprint("dashboard", __name__)

METRICS = ("tokens", "cost")


@bp.get("/")
def index() -> ResponseReturnValue:
    rng = current_range()
    metric = params.choice("metric", METRICS)
    today = org_today()
    team = team_ids()
    ov = analytics.overview(rng.start, rng.end, team=team)
    who = viewer()
    limit_to = who.visible_people(rng.start, rng.end)
    if limit_to is not None:  # ABACUS_MEMBER_VISIBILITY=self: team totals, but only own row
        ov = dataclasses.replace(ov, by_person=[p for p in ov.by_person
                                                if p.person.lower() in limit_to])
    prev_range = rng.previous()
    ov, hidden = _small_groups_hidden(who, ov, team)
    prev = analytics.totals(prev_range.start, prev_range.end, team)
    if not who.groups(prev_range.start, prev_range.end).ok(prev.people):
        prev = analytics.Totals(prev_range.start, prev_range.end)  # no delta against it
    daily = analytics.daily_by_tool(rng.start, rng.end, team)
    values = daily.tokens if metric == "tokens" else daily.cost
    chart = stacked_columns(
        "Daily tokens by tool" if metric == "tokens" else "Daily cost by tool", daily.days,
        [Series(t, tool_label(t), values[t]) for t in daily.tools
         if t not in hidden["tools"]],
        unit="tokens" if metric == "tokens" else "usd",
        incomplete_from=incomplete_from(today))
    return htmx.render(
        "dashboard/index.html", "dashboard/_chart.html",
        ov=ov, rng=rng, prev=prev, hidden=hidden, hidden_notice=who.hidden_notice(),
        chart=chart, metric=metric, lifetime=analytics.lifetime(team),
        projection=analytics.month_projection(today, team=team),
        own_row_only=limit_to is not None,
        commits=commit_summary(rng.start, rng.end, prev_range.start, prev_range.end,
                               current_app.config["ABACUS"].timezone, team),
        timezone=current_app.config["ABACUS"].timezone,
        seat_cost=cost_totals(rng.start, rng.end, team=team, usage=ov.usage),
        cost_basis=cost_basis(),
        basis_links=basis_links("dashboard.index"),
        bots=bot_usage(rng.start, rng.end) if limit_to is None else [],
        attention=attention(own_scope()))


def _small_groups_hidden(who: Viewer, ov: analytics.Overview, team: Team = None
                         ) -> tuple[analytics.Overview, dict]:
    """The overview without the aggregates this viewer may not see (ABACUS_MIN_GROUP_SIZE):
    everyone's figures when the range's active people are too few, else the tools and models
    used by too few. `hidden` says what went, for the page's notices."""
    gate = who.groups(ov.start, ov.end)
    hidden: dict = {"org": not gate.ok(ov.active_people), "tools": set(), "models": set()}
    if not who.restricted:
        return ov, hidden
    hidden["tools"] = {t.tool for t in ov.by_tool
                       if hidden["org"] or not gate.ok(t.people, "tools", t.tool)}
    model_people = {r.key: r.people
                    for r in usage_analytics.breakdown("models", ov.start, ov.end, team).rows}
    hidden["models"] = {m.model for m in ov.by_model if hidden["org"] or not gate.ok(
        model_people.get(m.model, 0), "models", m.model)}
    return dataclasses.replace(
        ov, by_tool=[t for t in ov.by_tool if t.tool not in hidden["tools"]],
        by_model=[m for m in ov.by_model if m.model not in hidden["models"]]), hidden


def incomplete_from(today):
    """The first day whose numbers may still change: the day after the data every syncing
    account has final, and never later than today (a day is not over until it is)."""
    complete = data_complete_through()
    if complete is None:
        return today
    return min(today, complete + timedelta(days=1))
