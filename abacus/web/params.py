"""Query parameters, read and bounded in one place.

Every view reads `start`/`end`/`page`/`q`/`tool`/`model`/`sort`… through these helpers, so a
value PostgreSQL or the date arithmetic cannot take (a NUL byte, page 10^20, the year 1 or
9999) never reaches them: the request gets a 400 naming the parameter instead of a 500.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest

from .api_auth import error_response, is_api_request

MAX_TEXT = 200  # a filter longer than any e-mail or model name is a mistake, not a search
MAX_ANY = 2000  # any other query value (the `jobs` list, `cols`) stays well under this
MAX_PAGE = 100_000  # far past any table's last page, far below PostgreSQL's OFFSET limit
EARLIEST_DAY = date(2000, 1, 1)  # before any AI coding tool; the date arithmetic stays safe
LATEST_AHEAD = timedelta(days=366)  # a range may reach a year past today, no further


class BadParameter(BadRequest):
    """A query parameter the app cannot use; the message names it and says what is wrong."""

    def __init__(self, name: str, problem: str):
        self.parameter = name.replace("\0", "\\0")[:40]  # shown: never the NUL itself
        self.problem = problem
        super().__init__(f"The “{self.parameter}” parameter {problem}.")


def text(name: str, default: str = "", *, max_length: int = MAX_TEXT, args=None) -> str:
    """A free-text parameter, stripped; too long or holding a NUL byte is a 400."""
    value = (request.args if args is None else args).get(name)
    if value is None:
        return default
    _check_text(name, value, max_length)
    return value.strip()


def choice(name: str, choices: tuple[str, ...], *, args=None) -> str:
    """One of `choices`; anything else (or nothing) is the first, as links have always done."""
    value = text(name, args=args)
    return value if value in choices else choices[0]


def page(name: str = "page", *, args=None) -> int:
    """A 1-based page number: missing means 1; not a positive whole number ≤ MAX_PAGE is a
    400 (10^20 would overflow PostgreSQL's OFFSET)."""
    value = (request.args if args is None else args).get(name, "").strip()
    if not value:
        return 1
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or not (
            1 <= int(value) <= MAX_PAGE):
        raise BadParameter(name, f"must be a page number from 1 to {MAX_PAGE:,}")
    return int(value)


def integer(name: str, default: int, *, minimum: int, maximum: int, args=None) -> int:
    """A whole number in [minimum, maximum]: missing means `default`; anything else is a 400
    naming the parameter."""
    value = (request.args if args is None else args).get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 9 or not (
            minimum <= int(value) <= maximum):
        raise BadParameter(name, f"must be a whole number from {minimum} to {maximum:,}")
    return int(value)


def day(name: str, value: str, today: date) -> date:
    """A day within [EARLIEST_DAY, today + a year]; ValueError when it is not a date at all
    (ranges show their friendly "Dates must look like…" for that), 400 when out of bounds."""
    parsed = date.fromisoformat(value)
    latest = today + LATEST_AHEAD
    if not EARLIEST_DAY <= parsed <= latest:
        raise BadParameter(name, f"must be a day from {EARLIEST_DAY.isoformat()} to "
                                 f"{latest.isoformat()} (not {value})")
    return parsed


def _check_text(name: str, value: str, max_length: int) -> None:
    if "\0" in value:
        raise BadParameter(name, "contains a NUL byte")
    if len(value) > max_length:
        raise BadParameter(name, f"is longer than {max_length:,} characters")


def check_request() -> None:
    """Every query and path value, whatever the view: no NUL byte (PostgreSQL text cannot hold
    one), nothing absurdly long."""
    for name, value in request.args.items(multi=True):
        _check_text(name, name, MAX_ANY)
        _check_text(name, value, MAX_ANY)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            _check_text(name, value, MAX_ANY)


def init_app(app: Flask) -> None:
    app.before_request(check_request)  # after the sign-in guard: strangers learn nothing

    @app.errorhandler(BadParameter)
    def _bad_parameter(exc: BadParameter) -> ResponseReturnValue:
        if is_api_request():
            return error_response(400, exc.description, exc.parameter)
        if request.accept_mimetypes.best == "application/json":
            return {"error": exc.description}, 400
        return render_template("errors/error.html", code=400, title="Bad request",
                               message=f"{exc.description} Fix the address and try again."), 400
