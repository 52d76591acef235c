"""Team page `/team`: the per-person pivot, and `/team.csv` with exactly its rows and columns.

Everything the table shows lives in the URL (`q`, `sort`, `dir`, `cols`, `page`, the range
and the team scope), so a view can be shared, bookmarked and exported as is. `?by=team`
shows one row per team instead (the scope's subtree, or every team) with its subtotals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import ClassVar

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..analytics.bots import bot_usage
from ..analytics.overview import Totals
from ..analytics.team import (
    PER_PAGE,
    TOOL_PREFIX,
    TOTAL,
    Column,
    TeamPivot,
    TeamRow,
    TeamSums,
    team_pivot,
    team_sums,
    value_getter,
)
from ..seats.cost import CostReport, PersonCost, cost_report, cost_totals
from . import exports, htmx, params
from .access import groups, viewer, visible_people
from .filters import tool_label
from .ranges import TimeRange, current_range
from .seats import basis_links, cost_basis
from .tables import TableState
from .teamscope import current_team, team_ids, tree_rows

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
    limit = visible_people(rng)
    if limit is not None:
        # A member limited to their own row gets totals over everyone only: a filter would
        # narrow the totals (and the head count) down to whoever it matches.
        state = replace(state, q="")
    pivot = team_pivot(rng.start, rng.end, q=state.q, sort=state.sort,
                       descending=state.descending, page=state.page, per_page=per_page,
                       only_person=limit, tool_label=tool_label, team=team_ids())
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


BY = ("person", "team")


def _by() -> str:
    return params.choice("by", BY)


@dataclass(frozen=True)
class TeamLine:
    id: int
    name: str
    depth: int  # below the scope's team (0: the top of what is shown)
    cost_centre: str | None
    sums: TeamSums


@dataclass(frozen=True)
class ByTeam:
    rows: list[TeamLine]
    total: Totals  # every person once, however many of the teams they are in
    scope: str | None


def _by_team(rng: TimeRange) -> ByTeam:
    """Rows: the scope's team and its subtree (or every team), in tree order, each with its
    subtree's members on their member days. The total counts each person-day once."""
    scope = current_team()
    teams = tree_rows()
    if scope is not None:
        teams = [t for t in teams if t.id in scope.ids]
    top = min((t.depth for t in teams), default=0)
    ids = [t.id for t in teams]
    sums = team_sums(rng.start, rng.end, ids)
    rows = [TeamLine(t.id, t.name, t.depth - top, t.cost_centre, sums.get(t.id, TeamSums()))
            for t in teams]
    all_of = sums.get(TOTAL, TeamSums())
    total = Totals(rng.start, rng.end, all_of.tokens, all_of.cost_usd, all_of.people,
                   all_of.events)
    return ByTeam(rows, total, scope.name if scope else None)


BY_TEAM_FIELDS = [
    exports.Field("team", lambda r: r.name), exports.Field("team_id", lambda r: r.id),
    exports.Field("cost_centre", lambda r: r.cost_centre),
    exports.Field("people", lambda r: r.sums.people),
    exports.Field("tokens", lambda r: r.sums.tokens),
    exports.Field("cost_usd", lambda r: r.sums.cost_usd),
]


@bp.get("/team")
def index() -> ResponseReturnValue:
    rng = current_range()
    if _by() == "team":
        return render_template("team/by_team.html", rng=rng, data=_by_team(rng),
                               timezone=current_app.config["ABACUS"].timezone)
    state, pivot, shown = _state(rng)
    seat_cost = cost_totals(rng.start, rng.end, team=team_ids())
    gate = groups(rng)
    # Totals over everyone: hidden from a restricted viewer when too few people are in them.
    totals_hidden = not gate.ok(pivot.totals.people)
    body = htmx.render("team/index.html", "team/fragment.html", rng=rng, state=state,
                       pivot=pivot, shown=shown, only_person=visible_people(rng),
                       totals_hidden=totals_hidden, hidden_notice=viewer().hidden_notice(),
                       seat_cost_hidden=totals_hidden or not gate.ok(seat_cost.people or 0),
                       seat_cost=seat_cost, cost_basis=cost_basis(),
                       basis_links=basis_links("team.index"),
                       bots=bot_usage(rng.start, rng.end) if visible_people(rng) is None else [],
                       timezone=current_app.config["ABACUS"].timezone)
    response = Response(body, mimetype="text/html")
    if request.headers.get("HX-Request") == "true" and not request.headers.get(
            "HX-History-Restore-Request"):
        # The address bar shows the tidy URL (`cols=a,b`, no defaults), not the raw form.
        response.headers["HX-Push-Url"] = url_for("team.index", **state.url_args())
    return response


@bp.get("/team.csv")
def export() -> ResponseReturnValue:
    """Every matching row (not only the page) with the columns shown, in the shared format."""
    rng = current_range()
    if _by() == "team":
        data = _by_team(rng)
        return exports.csv_response("teams", rng, BY_TEAM_FIELDS, data.rows,
                                    current_app.config["ABACUS"].timezone)
    state, pivot, shown = _state(rng, per_page=None)
    report = cost_report(rng.start, rng.end, team=team_ids())
    rows = [*pivot.rows, *_seat_only_rows(report, pivot.rows, state.q, visible_people(rng))]
    return exports.csv_response("team", rng, export_fields(shown, report), rows,
                                current_app.config["ABACUS"].timezone)


def _seat_only_rows(report: CostReport, rows: list[TeamRow], q: str,
                    limit: frozenset[str] | None) -> list[TeamRow]:
    """People holding a seat but with no usage in the range: the pivot has no row for them,
    yet they cost money, so the export adds one (after the others) and its seat columns add
    up to `flask abacus seats cost`. Same filter and visibility as the pivot's rows."""
    have = {r.person.lower() for r in rows}
    out = []
    for person, cost in report.people.items():
        if person in have or not cost.seats_usd and not cost.unpriced_seats:
            continue
        if q and q.lower() not in person or limit is not None and person not in limit:
            continue
        out.append(TeamRow(person=person, mapped=cost.mapped, tokens=0,
                           cost_usd=Decimal(0), events=0, unpriced_events=0, by_tool={},
                           input_tokens=0, output_tokens=0, cache_write_tokens=0,
                           cache_read_tokens=0, days_active=0, avg_tokens_per_day=0,
                           avg_cost_per_day=Decimal(0), first_active=None, last_active=None))
    return out


# Export ids of the fixed columns (README "Exports"); a column added later without one here
# gets its key with the unit of its kind.
EXPORT_IDS = {"person": "person", "tokens": "tokens", "cost": "cost_usd",
              "input": "input_tokens", "output": "output_tokens",
              "cache_write": "cache_write_tokens", "cache_read": "cache_read_tokens",
              "days": "days_active", "avg_tokens": "avg_daily_tokens",
              "avg_cost": "avg_daily_cost_usd", "first": "first_active_day",
              "last": "last_active_day"}
_UNIT = {"usd": exports.MONEY_SUFFIX, "date": exports.DAY_SUFFIX, "tokens": "_tokens"}


def export_id(column: Column) -> str:
    if column.tool:
        return exports.column_id(column.tool, "tokens")
    if column.key in EXPORT_IDS:
        return EXPORT_IDS[column.key]
    unit = _UNIT.get(column.kind, "")
    return exports.column_id(column.key.removesuffix(unit) + unit)


def export_fields(columns: list[Column], seats: CostReport | None = None
                  ) -> list[exports.Field]:
    """The shown columns as export columns, each with the flag the screen shows beside it:
    `unmapped` after the person (the badge), `unpriced_events` after the first money column
    ("unpriced" / "+N unpriced"). An amount nothing in the row has a price for is empty.

    With `seats`, the usage cost (`cost_usd`) is followed by `seats_usd` (prorated by day,
    in cents), `unpriced_seats` (seats with no known price, left out of seats_usd) and
    `total_usd`: the per-person figures of `flask abacus seats cost` (usage in cents + seats)."""
    fields: list[exports.Field] = []
    flagged_unpriced = False
    for col in columns:
        fields.append(exports.Field(export_id(col), _getter(col)))
        if col.key == "person":
            fields.append(exports.Field("unmapped", lambda row: not row.mapped))
        elif col.kind == "usd" and not flagged_unpriced:
            fields.append(exports.Field("unpriced_events", lambda row: row.unpriced_events))
            flagged_unpriced = True
        if col.key == "cost" and seats is not None:
            fields += _seat_fields(seats)
    return fields


def _seat_fields(seats: CostReport) -> list[exports.Field]:
    def cost(row: TeamRow) -> PersonCost:
        return seats.people.get(row.person.lower(), PersonCost())

    return [exports.Field("seats_usd", lambda row: cost(row).seats_usd),
            exports.Field("unpriced_seats", lambda row: cost(row).unpriced_seats),
            exports.Field("total_usd", lambda row: cost(row).total_usd)]


def _getter(column: Column) -> Callable[[TeamRow], object]:
    get = value_getter(column.key)
    if column.kind == "usd":
        return lambda row: None if row.fully_unpriced else get(row)
    return get
