"""Seats page `/seats` (admins): seats per tool vs activity, the idle list and its CSV, seat
cost beside usage per person, and the seat CSV upload. Thin over the seats package."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..extensions import db
from ..seats.assignments import HEADER, SeatImportError, import_seat_csv
from ..seats.overview import seats_overview
from . import exports, htmx, params
from .access import admin_required, finance_required
from .ranges import current_range, org_today
from .teamscope import team_ids

bp = Blueprint("seats", __name__)

DEFAULT_IDLE_DAYS = 30
COST_BASES = ("total", "usage", "seats")


def cost_basis() -> str:
    """Which figure a page shows where it shows one: `?cost_basis=total|usage|seats`."""
    return params.choice("cost_basis", COST_BASES)


def basis_links(endpoint: str, **args) -> dict[str, str]:
    """The toggle's links: the page as it is, with each basis."""
    keep = {k: v for k, v in request.args.items() if k != "cost_basis"}
    return {b: url_for(endpoint, **{**keep, **args, "cost_basis": b}) for b in COST_BASES}


@bp.before_request
@finance_required
def _money_viewers_only() -> None:
    """Seats show what everyone costs: admins and finance see them; changes are admins'."""


def _idle_days() -> int:
    return params.integer("idle_days", DEFAULT_IDLE_DAYS, minimum=1, maximum=3660)


def _page(errors: list[str] | None = None, status: int = 200) -> ResponseReturnValue:
    rng = current_range()
    data = seats_overview(rng.start, rng.end, org_today(), _idle_days(), team_ids())
    body = htmx.render("seats/index.html", "seats/index.html", rng=rng, data=data,
                       errors=errors or [], header=",".join(HEADER),
                       timezone=current_app.config["ABACUS"].timezone)
    return body, status


@bp.get("/seats")
def index() -> ResponseReturnValue:
    return _page()


@bp.post("/seats/upload")
@admin_required
def upload() -> ResponseReturnValue:
    """The seat CSV, as `flask abacus seats import` takes it: all rows or none."""
    file = request.files.get("file")
    if file is None or not file.filename:
        return _page(["Choose a seat CSV file to upload."], 400)
    try:
        text = file.read().decode("utf-8-sig")
        result = import_seat_csv(text, file.filename)
    except UnicodeDecodeError:
        return _page([f"{file.filename}: not UTF-8 text; save the file as CSV UTF-8."], 400)
    except SeatImportError as exc:
        db.session.rollback()
        return _page(exc.problems, 400)
    db.session.commit()
    flash(f"{file.filename}: {result.rows} rows, {result.added} added, {result.changed} "
          f"changed, {result.unchanged} unchanged.", "ok")
    return redirect(url_for("seats.index", **current_range().args), code=303)


@bp.get("/seats/idle.csv")
def idle_export() -> ResponseReturnValue:
    rng = current_range()
    data = seats_overview(rng.start, rng.end, org_today(), _idle_days(), team_ids())
    fields = [exports.Field("person", lambda a: a.seat.holder),
              exports.Field("tool", lambda a: a.seat.tool),
              exports.Field("plan", lambda a: a.seat.plan),
              exports.Field("seat_from_day", lambda a: a.seat.valid_from),
              exports.Field("last_active_day", lambda a: a.last_active),
              exports.Field("monthly_usd", lambda a: a.monthly_usd),
              exports.Field("source", lambda a: a.seat.source)]
    return exports.csv_response(f"idle_seats_{data.idle_days}d", rng, fields, data.idle,
                                current_app.config["ABACUS"].timezone)
