"""Overview page `/`."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from .. import analytics

bp = Blueprint("dashboard", __name__)

RANGES = (7, 30, 90, 365)
DEFAULT_DAYS = 30


def org_today() -> date:
    """Today in the org time zone, which decides day boundaries everywhere."""
    return datetime.now(current_app.config["ABACUS"].tz).date()


@bp.get("/")
def index() -> ResponseReturnValue:
    days = request.args.get("days", type=int)
    if days not in RANGES:
        days = DEFAULT_DAYS
    start, end = analytics.default_range(org_today(), days)
    return render_template("dashboard/index.html", ov=analytics.overview(start, end),
                           days=days, ranges=RANGES,
                           timezone=current_app.config["ABACUS"].timezone)
