"""Chargeback `/chargeback` (admins and finance): month × cost centre × tool, with the month
picker, the provisional marker and `/chargeback.csv` (header
`month,cost_centre,tool,usage_usd,seats_usd,total_usd`). Thin over `teams.chargeback`."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, render_template
from flask.typing import ResponseReturnValue

from ..teams.chargeback import (
    HEADER,
    Chargeback,
    chargeback,
    money,
    months_with_data,
    parse_month,
)
from . import params
from .access import finance_required
from .exports import text as safe_cell
from .ranges import org_today

bp = Blueprint("chargeback", __name__)


@bp.before_request
@finance_required
def _finance_only() -> None:
    """Money per cost centre: admins and finance."""


def _report() -> Chargeback:
    value = params.text("month", max_length=20)
    if not value:
        return chargeback(org_today().replace(day=1))
    try:
        first = parse_month(value)
    except ValueError as exc:
        raise params.BadParameter("month", f"must be a month written YYYY-MM ({exc})"
                                  ) from None
    return chargeback(first)


@bp.get("/chargeback")
def index() -> ResponseReturnValue:
    report = _report()
    months = months_with_data()
    if report.month not in months:
        months = sorted({*months, report.month}, reverse=True)
    return render_template("chargeback/index.html", report=report, months=months,
                           money=money)


@bp.get("/chargeback.csv")
def export() -> ResponseReturnValue:
    """The month's rows with the stable header; money as exact cents (`12.34`)."""
    report = _report()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for r in report.rows:
        writer.writerow([r.month, safe_cell(r.cost_centre), r.tool, money(r.usage_usd),
                         money(r.seats_usd), money(r.total_usd)])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="chargeback_{report.label}.csv"',
        "Cache-Control": "no-store"})
