"""Budgets `/budgets`: members see the budgets on themselves; admins see all and add them.
Also the "needs attention" summary (budgets at risk, unresolved incidents) other pages show."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..budgets import anomalies, service
from ..extensions import db
from .access import is_admin, own_scope

bp = Blueprint("budgets", __name__)


def person_limit() -> str | None:
    """None for admins and finance (everything), else the viewer's own e-mail."""
    return own_scope()


@bp.get("/budgets")
def index() -> ResponseReturnValue:
    return render_template("budgets/index.html", states=service.states(person=person_limit()),
                           rule=service.FORECAST_RULE, today=service.org_today())


@bp.post("/budgets")
def add() -> ResponseReturnValue:
    if not is_admin():
        abort(403)
    form = request.form
    try:
        budget = service.add_budget(form.get("name", ""), form.get("scope", "org"),
                                    form.get("period", "month"), form.get("amount", ""),
                                    form.get("counts", "usage"),
                                    form.get("thresholds") or "50,80,100")
    except service.BudgetError as exc:
        db.session.rollback()
        flash(str(exc).replace("--", ""), "danger")
        return redirect(url_for(".index"), code=303)
    db.session.commit()
    flash(f"Added the budget “{budget.name}”.", "ok")
    return redirect(url_for(".index"), code=303)


def _budget(budget_id: int):
    if not is_admin():
        abort(403)
    budget = service.budget_by_id(budget_id)
    if budget is None:
        abort(404)
    return budget


@bp.post("/budgets/<int:budget_id>/edit")
def edit(budget_id: int) -> ResponseReturnValue:
    """Amount, thresholds and channels; blank fields keep their value. Channels are never
    shown back (they carry tokens): new URLs replace them, the box clears them."""
    budget = _budget(budget_id)
    form = request.form
    urls = form.get("notify", "").split()
    notify_urls = () if form.get("clear_notify") else (tuple(urls) if urls else None)
    try:
        changed = service.edit_budget(budget, form.get("amount"), form.get("thresholds"),
                                      notify_urls)
    except service.BudgetError as exc:
        db.session.rollback()
        flash(f"Budget “{budget.name}” not changed: {str(exc).replace('--', '')}", "danger")
        return redirect(url_for(".index", _anchor=f"budget-{budget_id}"), code=303)
    db.session.commit()
    flash(f"Budget “{budget.name}”: " + (", ".join(changed) if changed else "nothing changed")
          + ".", "ok")
    return redirect(url_for(".index", _anchor=f"budget-{budget_id}"), code=303)


@bp.post("/budgets/<int:budget_id>/delete")
def delete(budget_id: int) -> ResponseReturnValue:
    budget = _budget(budget_id)
    name = budget.name
    service.delete_budget(budget)
    db.session.commit()
    flash(f"Deleted the budget “{name}”.", "ok")
    return redirect(url_for(".index"), code=303)


@bp.app_template_filter("budget_scope")
def budget_scope(scope: dict) -> str:
    return service.scope_label(scope)


@bp.app_template_filter("since")
def since(later, earlier) -> str:
    """Time to acknowledge or resolve: "3 h 5 min", "2 d 4 h"."""
    minutes = max(0, int((later - earlier).total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def attention(person: str | None) -> dict:
    """Budgets at risk or over and unresolved incidents, limited to `person` when given."""
    return {"budgets": [s for s in service.states(person=person) if s.status != "ok"],
            "incidents": [i for i in anomalies.incidents(person=person)
                          if i.status != "resolved"]}


W, H = 600, 160  # the burn chart's viewBox


@bp.app_template_filter("burn_chart")
def burn_chart(s: service.BudgetState) -> dict:
    """Cumulative spend by day (solid), the forecast from the last complete day to the
    period's end (dashed) and the budget (a level line), as SVG points in a W×H box."""
    days = (s.end - s.start).days + 1
    top = max(s.amount, s.forecast, s.spent) * Decimal("1.1")

    def xy(day_index: float, value: Decimal) -> str:
        return f"{W * day_index / max(days - 1, 1):.1f},{H - float(H * value / top):.1f}"

    by_day = dict(s.daily)
    running, points = Decimal(0), []
    for i in range((s.today - s.start).days + 1):
        running += by_day.get(s.start + timedelta(days=i), Decimal(0))
        points.append(xy(i, running))
    complete = s.spent_complete
    forecast_from = xy((s.today - s.start).days - 1, complete) if s.today > s.start \
        else xy(0, Decimal(0))
    return {"w": W, "h": H, "spent": " ".join(points),
            "forecast": f"{forecast_from} {xy(days - 1, s.forecast)}",
            "budget_y": f"{H - float(H * s.amount / top):.1f}"}
