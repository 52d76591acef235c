"""Team page `/team`: the per-person pivot, and `/team.csv` with exactly its rows and columns.

Everything the table shows lives in the URL (`q`, `sort`, `dir`, `cols`, `page` and the
range), so a view can be shared, bookmarked and exported as is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import ClassVar

from flask import Blueprint, Response, current_app, request, url_for
from flask.typing import ResponseReturnValue

from ..analytics.team import PER_PAGE, TOOL_PREFIX, Column, TeamPivot, TeamRow, team_pivot
from . import htmx, params
from .access import only_person
from .filters import tool_label
from .ranges import TimeRange, current_range
from .tables import TableState

bp = Blueprint("team", __name__)

DEFAULT_SORT = "cost"
MAX_QUERY = 200  # a filter longer than any e-mail is a mistake, not a search


@dataclass(frozen=True)
class TeamArgs(TableState):
    """The table state read from the URL (with the `q` filter), and links that change it."""

    q: str = ""

    DEFAULT_SORT: ClassVar[str] = DEFAULT_SORT
    ASCENDING_SORT: ClassVar[str] = "person"

    @classmethod
    def parse(cls, args, rng: TimeRange) -> TeamArgs:
        cols = None
        if "cols" in args:  # present but empty (every box unticked) means the person alone
            cols = tuple(dict.fromkeys(
                key for raw in args.getlist("cols") for key in raw.split(",") if key.strip()))
        return cls.from_args(args, rng.args, cols,
                             q=params.text("q", args=args, max_length=MAX_QUERY))

    def own_args(self) -> dict[str, str | int]:
        return {"q": self.q} if self.q else {}


def _state(rng: TimeRange, per_page: int | None = PER_PAGE
           ) -> tuple[TeamArgs, TeamPivot, list[Column]]:
    state = TeamArgs.parse(request.args, rng)
    limit = only_person()
    if limit is not None:
        # A member limited to their own row gets totals over everyone only: a filter would
        # narrow the totals (and the head count) down to whoever it matches.
        state = replace(state, q="")
    pivot = team_pivot(rng.start, rng.end, q=state.q, sort=state.sort,
                       descending=state.descending, page=state.page, per_page=per_page,
                       only_person=limit, tool_label=tool_label)
    shown = _shown_columns(pivot.columns, state.cols)
    cols = state.cols
    if cols is not None:
        chosen = tuple(c.key for c in shown[1:])
        if chosen == tuple(c.key for c in pivot.columns[1:] if c.default):
            cols = None
        else:
            # Tool columns for tools absent from this range stay chosen for the next range.
            cols = chosen + tuple(k for k in cols if k.startswith(TOOL_PREFIX)
                                  and k not in chosen)
    # What the pivot settled on: an unknown sort falls back, a page past the end moves back.
    state = replace(state, sort=pivot.sort, descending=pivot.descending, page=pivot.page,
                    cols=cols)
    return state, pivot, shown


def _shown_columns(available: list[Column], cols: tuple[str, ...] | None) -> list[Column]:
    """Person first, then the chosen columns in table order (the URL's order does not matter)."""
    wanted = set(cols) if cols is not None else {c.key for c in available if c.default}
    return [available[0], *(c for c in available[1:] if c.key in wanted)]


@bp.get("/team")
def index() -> ResponseReturnValue:
    rng = current_range()
    state, pivot, shown = _state(rng)
    body = htmx.render("team/index.html", "team/fragment.html", rng=rng, state=state,
                       pivot=pivot, shown=shown, only_person=only_person(),
                       timezone=current_app.config["ABACUS"].timezone)
    response = Response(body, mimetype="text/html")
    if request.headers.get("HX-Request") == "true" and not request.headers.get(
            "HX-History-Restore-Request"):
        # The address bar shows the tidy URL (`cols=a,b`, no defaults), not the raw form.
        response.headers["HX-Push-Url"] = url_for("team.index", **state.url_args())
    return response


@bp.get("/team.csv")
def export() -> ResponseReturnValue:
    rng = current_range()
    _, pivot, shown = _state(rng, per_page=None)
    response = Response(_csv(shown, pivot.rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="team_{rng.start.isoformat()}_to_{rng.end.isoformat()}.csv"')
    return response


def _csv(columns: list[Column], rows: Iterable[TeamRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.label for c in columns])
    for row in rows:
        writer.writerow([_csv_value(row, c) for c in columns])
    return out.getvalue()


def _csv_value(row: TeamRow, column: Column) -> str | int:
    value = row.value(column.key)
    if column.kind == "usd":
        if row.fully_unpriced:
            return ""  # unknown, not $0 (the page says "unpriced")
        return str(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # A provider identity must not run as a spreadsheet formula.
        return "'" + value
    return value
