"""Overview page `/`."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue

from .. import analytics
from .ranges import current_range

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    rng = current_range()
    return render_template("dashboard/index.html", ov=analytics.overview(rng.start, rng.end),
                           rng=rng, timezone=current_app.config["ABACUS"].timezone)
