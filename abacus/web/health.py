"""Liveness: is the database and Redis reachable."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from ..extensions import csrf, db
from ..queue import redis_connection

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@csrf.exempt
def healthz():
    checks = {"db": _check(lambda: db.session.execute(text("SELECT 1")).scalar_one()),
              "redis": _check(lambda: redis_connection().ping())}
    status = 200 if all(v == "ok" for v in checks.values()) else 503
    return jsonify(checks), status


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # report which part failed, not the credentials in it
        return f"error: {type(exc).__name__}"
    return "ok"
