"""Person page `/users/<person>`: one person's (or one unmapped identity's) usage.

The person is an e-mail, or, for usage nobody has mapped yet, the provider identity it is
stored under (an API key name, a seat id) — hence `<path:…>`, which also accepts slashes.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..analytics import commits as commit_analytics
from ..analytics import copilot as copilot_analytics
from ..analytics import person as analytics
from ..budgets.service import states as budget_states
from ..seats.overview import person_seats
from ..sync.engine import data_complete_through
from . import exports, htmx, params
from .access import can_view_person, log, viewer
from .budgets import attention
from .charts import Series, StackedChart, stacked_columns
from .filters import model_label, tool_label
from .ranges import TimeRange, current_range, org_today
from .seats import basis_links, cost_basis

bp = Blueprint("people", __name__)

TABS = ("overview", "raw", "commits")


def incomplete_from(today: date) -> date:
    """The first day whose numbers may still change: the day after the data every syncing
    account has final, never later than today (today is not over)."""
    complete = data_complete_through()
    return today if complete is None else min(today, complete + timedelta(days=1))


@bp.get("/users/<path:email>")
def person(email: str) -> ResponseReturnValue:
    # Visibility first, so a member limited to themselves learns nothing about who exists.
    if not can_view_person(email):
        abort(403)
    _log_open(email)
    lifetime = analytics.lifetime(email)
    has_commits = commit_analytics.has_commits(email)
    if not lifetime.exists and not has_commits:
        # /users/alice, the original's short links: the one e-mail with that local part.
        # A mapped identity's page (say a bookmarked API key): its person now.
        resolved = analytics.resolve_local_part(email) or analytics.mapped_to(email)
        if resolved and can_view_person(resolved):
            args = {k: v for k, v in request.args.items() if k != "email"}
            return redirect(url_for("people.person", email=resolved, **args))
        return render_template("people/not_found.html", person=email), 404

    rng = current_range()
    tab = params.choice("tab", TABS)
    if not lifetime.exists:
        tab = "commits"  # commits, but no usage: the commits are all there is to show
    elif tab == "commits" and not has_commits:
        tab = "overview"
    context = {"person": email, "lifetime": lifetime, "rng": rng, "tab": tab,
               "has_commits": has_commits, "timezone": current_app.config["ABACUS"].timezone}
    if tab == "commits":
        context.update(_commits(email, rng))
    elif tab == "raw":
        context["raw"] = analytics.raw_records(
            email, rng.start, rng.end, current_app.config["ABACUS"].tz,
            tool=params.text("tool") or None, model=params.text("model") or None,
            page=params.page())
    else:
        prev = rng.previous()
        ov = analytics.person_overview(email, rng.start, rng.end, prev.start, prev.end)
        context["ov"] = ov
        context["prev"] = prev
        context["copilot"] = copilot_analytics.activity(rng.start, rng.end, person=email)
        context["chart"] = _daily_chart(ov.daily, incomplete_from(org_today()))
        context["seats"] = person_seats(email, rng.start, rng.end)
        context["cost_basis"] = cost_basis()
        context["basis_links"] = basis_links("people.person", email=email)
    context["person_budgets"] = budget_states(person=email)
    context["attention_person"] = attention(email.lower())
    return htmx.render("people/person.html", "people/_panel.html", **context)


def _log_open(person: str) -> None:
    """Someone else's page (or its tab, fragment) was opened: the access log says who and
    when. One's own page is not logged: nothing private is revealed by it."""
    if person.lower() != (viewer().email or ""):
        log("person_page", person)


@bp.get("/users/<path:email>/raw.csv")
def raw_export(email: str) -> ResponseReturnValue:
    """The Raw usage tab's records for its range and filters, every page, in the shared
    export format."""
    if not can_view_person(email):
        abort(403)
    rng = current_range()
    settings = current_app.config["ABACUS"]
    records = analytics.raw_export(email, rng.start, rng.end, settings.tz,
                                   tool=params.text("tool") or None,
                                   model=params.text("model") or None)
    return exports.csv_response(f"raw_usage_{exports.column_id(email)}", rng, RAW_FIELDS,
                                records, settings.timezone)


# The Raw usage table's columns, in its order; `day` is the occurred_at's org-time-zone day.
RAW_FIELDS = [exports.Field(i, value) for i, value in (
    ("occurred_at", lambda r: r.occurred_at), ("day", lambda r: r.occurred_at.date()),
    ("tool", lambda r: tool_label(r.tool)), ("tool_id", lambda r: r.tool),
    ("model", lambda r: model_label(r.model)), ("model_id", lambda r: r.model),
    ("raw_model", lambda r: r.raw_model), ("kind", lambda r: r.kind),
    ("input_tokens", lambda r: r.input_tokens), ("output_tokens", lambda r: r.output_tokens),
    ("cache_write_tokens", lambda r: r.cache_write_tokens),
    ("cache_read_tokens", lambda r: r.cache_read_tokens),
    ("cost_usd", lambda r: r.cost_usd), ("cost_source", lambda r: r.cost_source),
    ("token_fee_usd", lambda r: r.token_fee_usd),
    ("would_have_cost_usd", lambda r: r.would_have_cost_usd),
)]


def _commits(email: str, rng: TimeRange) -> dict:
    """The Commits tab: cards against the previous window, tools, and the commit list."""
    tz = current_app.config["ABACUS"].timezone
    prev = rng.previous()
    current = commit_analytics.commit_totals(rng.start, rng.end, tz, person=email)
    commits = commit_analytics.commit_list(
        rng.start, rng.end, tz, person=email, kind=params.text("filter", "all"),
        page=params.page())
    return {
        "totals": current, "prev": prev,
        "prev_totals": commit_analytics.commit_totals(prev.start, prev.end, tz, person=email),
        "by_tool": commit_analytics.tool_counts(rng.start, rng.end, tz, person=email,
                                                ai_commits=current.ai_commits),
        "commits": commits,
        "list_args": {"tab": "commits",
                      "filter": commits.kind if commits.kind != "all" else None},
    }


def _daily_chart(daily: analytics.Daily, incomplete: date) -> StackedChart:
    return stacked_columns(
        "Daily tokens by tool", daily.days,
        [Series(t, tool_label(t), daily.tokens[t])
         for t in daily.tools],
        unit="tokens", incomplete_from=incomplete)
