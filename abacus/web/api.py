"""The read-only JSON API `/api/v1/…` for integrations (finance, BI): usage by day, person,
tool and model, people, teams and costs, described by `/api/v1/openapi.json`.

Callers authenticate with an API token (`Authorization: Bearer …`, see `api_auth`); the
token's role goes through the same `web.access` rules as a signed-in page, the range and the
filters through the same `params`/`ranges` checks (a bad one is a 400 naming the parameter,
where a page would fall back to its default with a notice). GET only; money is a string
holding the exact decimal (never a float); lists are paged with `page`/`per_page`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, current_app, request, url_for
from flask.typing import ResponseReturnValue

from ..analytics import api as data
from ..analytics import usage
from ..analytics.common import TokenCost
from ..analytics.team import FIXED_KEYS, TOOL_PREFIX, TeamRow, team_pivot
from . import openapi, params
from .access import can_view_person, groups, is_finance, visible_people
from .api_auth import error_response
from .ranges import TimeRange, current_range
from .usage import hidden_keys

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class ApiError(Exception):
    """A refusal with a JSON body (403 for what the token's role may not read)."""

    def __init__(self, status: int, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status, self.message, self.parameter = status, message, parameter


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> ResponseReturnValue:
    return error_response(exc.status, exc.message, exc.parameter)


# --- parameters ---------------------------------------------------------------------------

def _range() -> TimeRange:
    """The pages' range (`days` preset or `start`/`end`, org time zone), strictly: what a page
    would replace by its default is a 400 here."""
    rng = current_range()
    if rng.error:
        problem = rng.error[0].lower() + rng.error[1:].rstrip(".")
        raise params.BadParameter(rng.parameter or "start", f"is not usable: {problem}")
    return rng


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (missing: the first); anything else is a 400 naming the parameter."""
    value = params.text(name)
    if not value:
        return choices[0]
    if value not in choices:
        raise params.BadParameter(name, f"must be one of {', '.join(choices)} (not {value})")
    return value


def _flag(name: str, default: bool) -> bool:
    value = params.text(name).lower()
    if not value:
        return default
    if value not in BOOLEANS:
        raise params.BadParameter(name, "must be true or false")
    return BOOLEANS[value]


def _paging() -> tuple[int, int]:
    return params.page(), params.integer("per_page", DEFAULT_PER_PAGE, minimum=1,
                                         maximum=MAX_PER_PAGE)


def _person_filter() -> str | None:
    """The `email` filter, when the token may read that person's rows (else 403)."""
    email = params.text("email").lower()
    if not email:
        return None
    if not can_view_person(email):
        raise ApiError(403, "This token may read only its own person's rows.", "email")
    return email


# --- JSON shapes --------------------------------------------------------------------------

def money(amount: Decimal | None) -> str | None:
    """The exact decimal as a string with at least two decimals and no trailing zeros past
    them ("12.50", "0.123456"): NUMERIC's six places would say "12.500000"."""
    if amount is None:
        return None
    amount = amount.normalize()
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return str(amount)


def _priced(amount: Decimal, events: int, unpriced: int) -> str | None:
    """null when no event of the row has a price: the cost is unknown, not $0."""
    return None if events and unpriced == events else money(amount)


def _token_cost(f: TokenCost) -> dict[str, Any]:
    return {"tokens": f.tokens, "input_tokens": f.input_tokens,
            "output_tokens": f.output_tokens, "cache_write_tokens": f.cache_write_tokens,
            "cache_read_tokens": f.cache_read_tokens,
            "cost_usd": _priced(f.cost_usd, f.events, f.unpriced_events),
            "reported_cost_usd": money(f.reported_cost_usd),
            "estimated_cost_usd": money(f.estimated_cost_usd),
            "events": f.events, "unpriced_events": f.unpriced_events}


def _figures(f: data.Figures) -> dict[str, Any]:
    return {**_token_cost(f), "not_charged_events": f.not_charged_events}


def _breakdown_row(view: str, r: usage.BreakdownRow) -> dict[str, Any]:
    return {"model" if view == "models" else "tool": r.key, **_token_cost(r), "people": r.people}


def _person_row(r: TeamRow) -> dict[str, Any]:
    return {"person": r.person, "mapped": r.mapped, "tokens": r.tokens,
            "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
            "cache_write_tokens": r.cache_write_tokens,
            "cache_read_tokens": r.cache_read_tokens,
            "cost_usd": _priced(r.cost_usd, r.events, r.unpriced_events),
            "events": r.events, "unpriced_events": r.unpriced_events,
            "tokens_by_tool": dict(sorted((t, n) for t, n in r.by_tool.items() if n)),
            "days_active": r.days_active, "first_active": _day(r.first_active),
            "last_active": _day(r.last_active)}


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _listing(rows: Iterable[dict[str, Any]], rng: TimeRange, *, page: int, per_page: int,
             total: int, **extra: Any) -> dict[str, Any]:
    """The envelope every list answers with: the range, the rows of this page, the count of
    every matching row and the link to the next page (null on the last)."""
    following = None
    if page * per_page < total:
        # url_for() reads `_scheme`, `_external`…: never from the caller's query.
        args = {k: v for k, v in request.args.items() if not k.startswith("_")}
        args.update(page=page + 1, per_page=per_page)
        following = url_for(request.endpoint or "", **args)
    return {"start": rng.start.isoformat(), "end": rng.end.isoformat(),
            "timezone": current_app.config["ABACUS"].timezone, **extra,
            "page": page, "per_page": per_page, "total": total, "next": following,
            "data": list(rows)}


def _sliced(rows: list, rng: TimeRange, shape: Callable[[Any], dict[str, Any]],
            **extra: Any) -> dict[str, Any]:
    """A short list computed whole (a breakdown, the teams), paged here."""
    page, per_page = _paging()
    chunk = rows[(page - 1) * per_page:page * per_page]
    return _listing(map(shape, chunk), rng, page=page, per_page=per_page, total=len(rows),
                    **extra)


# --- routes -------------------------------------------------------------------------------

@bp.get("/openapi.json", endpoint="openapi")  # public (auth.PUBLIC_ENDPOINTS): no data
def openapi_document() -> ResponseReturnValue:
    """The OpenAPI 3.1 description of every route here."""
    return openapi.document()


@bp.get("/usage/daily")
def usage_daily() -> ResponseReturnValue:
    rng = _range()
    person = _person_filter()
    if person is None:  # team-wide figures: not over too few people outside the scope
        gate = groups(rng)
        if not gate.ok(usage.totals(rng.start, rng.end).people):
            raise ApiError(403, gate.notice)
    by_tool = _flag("by_tool", False)
    tool = params.text("tool") or None
    page, per_page = _paging()
    result = data.usage_by_period(rng.start, rng.end, by_tool=by_tool, tool=tool,
                                  person=person, page=page, per_page=per_page)
    return _listing(({"day": r.period.isoformat(), **({"tool": r.tool} if by_tool else {}),
                      **_figures(r.figures)} for r in result.rows), rng, page=page,
                    per_page=per_page, total=result.total, email=person, tool=tool)


def _pivot(default_sort: str, descending: bool) -> dict[str, Any]:
    """The Team page's pivot for this request: its rows limited as the page limits them."""
    rng = _range()
    limit = visible_people(rng)
    q = params.text("q")
    if limit is not None:
        q = ""  # as on the Team page: a filter would narrow totals down to someone else
    sort = params.text("sort") or default_sort
    if sort not in FIXED_KEYS and not (sort.startswith(TOOL_PREFIX)
                                       and len(sort) > len(TOOL_PREFIX)):
        raise params.BadParameter("sort", "must be a column of the Team page (person, "
                                          "tokens, cost, days, first, last…)")
    order = _choice("dir", ("desc", "asc") if descending else ("asc", "desc"))
    page, per_page = _paging()
    pivot = team_pivot(rng.start, rng.end, q=q, sort=sort, descending=order == "desc",
                       page=page, per_page=per_page, only_person=limit)
    # The pivot shows its last page for a page past the end; a client paging on wants none.
    rows = pivot.rows if pivot.page == page else []
    return _listing(map(_person_row, rows), rng, page=page, per_page=per_page,
                    total=pivot.visible)


@bp.get("/usage/by-person")
def usage_by_person() -> ResponseReturnValue:
    """One row per person, most cost first (the Team page's rows)."""
    return _pivot("cost", True)


@bp.get("/people")
def people() -> ResponseReturnValue:
    """People with usage in the range and their totals, A→Z."""
    return _pivot("person", False)


def _breakdown(view: str) -> dict[str, Any]:
    rng = _range()
    result = usage.breakdown(view, rng.start, rng.end)
    # As on the Usage page: rows over too few people outside the token's scope are left out.
    hidden = hidden_keys(groups(rng), view, result)
    return _sliced([r for r in result.rows if r.key not in hidden], rng,
                   lambda r: _breakdown_row(view, r))


@bp.get("/usage/by-tool")
def usage_by_tool() -> ResponseReturnValue:
    return _breakdown("tools")


@bp.get("/usage/by-model")
def usage_by_model() -> ResponseReturnValue:
    return _breakdown("models")


@bp.get("/teams")
def teams() -> ResponseReturnValue:
    rng = _range()
    return _sliced(data.teams(rng.start, rng.end), rng, lambda t: {
        "id": t.id, "name": t.name, "parent_id": t.parent_id, "cost_centre": t.cost_centre,
        "source": t.source, "members": t.members, "leads": t.leads})


@bp.get("/costs")
def costs() -> ResponseReturnValue:
    """Cost per day or month and tool: reported (billed by the provider) and estimated."""
    if not is_finance():
        raise ApiError(403, "Costs are for admin and finance tokens.")
    rng = _range()
    grain = _choice("grain", data.GRAINS)
    tool = params.text("tool") or None
    page, per_page = _paging()
    result = data.usage_by_period(rng.start, rng.end, grain=grain, by_tool=True, tool=tool,
                                  page=page, per_page=per_page)
    key = "day" if grain == "day" else "month"
    return _listing(({key: r.period.isoformat() if grain == "day" else r.period.strftime("%Y-%m"),
                      "tool": r.tool, **_figures(r.figures)} for r in result.rows), rng,
                    page=page, per_page=per_page, total=result.total, grain=grain, tool=tool)
