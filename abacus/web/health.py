"""Health (the container check): can pages be served, i.e. does the database answer.
Redis is reported too, but only `/readyz` requires it."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..extensions import csrf
from ..observability import healthy, liveness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@csrf.exempt
def healthz():
    checks = liveness()
    status = 200 if healthy(checks) else 503
    return jsonify(checks), status
