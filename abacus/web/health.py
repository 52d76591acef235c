"""Liveness: is the database and Redis reachable."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..extensions import csrf
from ..observability import liveness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@csrf.exempt
def healthz():
    checks = liveness()
    status = 200 if all(v == "ok" for v in checks.values()) else 503
    return jsonify(checks), status
