"""Endpoints for operators: readiness, Prometheus metrics, and cron triggers.

`/readyz` needs no sign-in (orchestrators call it); `/metrics` and `/cron/*` take a bearer
token compared in constant time, and are off (404) while their token is unset: never open.
"""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ..extensions import csrf

bp = Blueprint("ops", __name__)
csrf.exempt(bp)  # machine clients authenticate with a bearer token, not a session


def _bearer_ok(secret: str | None) -> bool:
    if not secret:
        abort(404)  # the endpoint is off
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), secret.encode())


def _unauthorized() -> Response:
    response = jsonify(error="a valid bearer token is required")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="abacus"'
    return response


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready to serve: database and Redis answer, and the schema is at the latest migration."""
    from ..observability import readiness

    checks = readiness()
    status = 200 if all(v == "ok" for v in checks.values()) else 503
    return jsonify(checks), status


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    if not _bearer_ok(current_app.config["ABACUS"].metrics_token):
        return _unauthorized()
    from ..observability import metrics_text

    return Response(metrics_text(time.time()),
                    mimetype="text/plain; version=0.0.4; charset=utf-8")


@bp.post("/cron/sync/<source>")
def cron_sync(source: str) -> ResponseReturnValue:
    """Enqueue a sync of every account of `source` (`all` for every provider), or the
    backfills (`backfill`); the same jobs the scheduler runs."""
    if not _bearer_ok(current_app.config["ABACUS"].cron_secret):
        return _unauthorized()
    from ..jobs import NotConfigured, trigger_sync
    from ..providers import UnknownProvider

    try:
        queued = trigger_sync(source)
    except UnknownProvider as exc:
        return jsonify(error=str(exc)), 404
    except NotConfigured as exc:
        return jsonify(error=str(exc)), 409
    return jsonify(queued=queued), 202
