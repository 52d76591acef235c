"""Incidents `/incidents`: open first, filter by status, acknowledge and resolve (forms with
CSRF). Members see and handle their own; admins everything."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..budgets import anomalies
from .access import viewer
from .budgets import person_limit

bp = Blueprint("incidents", __name__)


@bp.get("/incidents")
def index() -> ResponseReturnValue:
    status = request.args.get("status")
    status = status if status in anomalies.STATUSES else None
    return render_template("budgets/incidents.html", status=status,
                           incidents=anomalies.incidents(status, person=person_limit()))


def _act(incident_id: int, action) -> ResponseReturnValue:
    try:
        incident = anomalies.get(incident_id)
    except anomalies.IncidentError:
        abort(404)
    if not viewer().may_handle_incident(incident.person):
        abort(403)  # only admins handle other people's incidents
    try:
        action(incident_id, current_user.email, request.form.get("note"))
    except anomalies.IncidentError as exc:
        flash(str(exc), "warn")
    return redirect(url_for(".index"), code=303)


@bp.post("/incidents/<int:incident_id>/acknowledge")
def acknowledge(incident_id: int) -> ResponseReturnValue:
    return _act(incident_id, anomalies.acknowledge)


@bp.post("/incidents/<int:incident_id>/resolve")
def resolve(incident_id: int) -> ResponseReturnValue:
    return _act(incident_id, anomalies.resolve)
