"""`POST /otlp/v1/metrics` and `POST /otlp/v1/logs`: the OTLP/HTTP receiver.

An exporter's base endpoint is `https://HOST/otlp`. Authenticated by an ingest token
(`Authorization: Bearer …`), never a session cookie (CSRF-exempt like the GitHub webhook).
The view is thin: `telemetry.intake.receive` decides the answer; the batch goes to the
queue (`jobs.enqueue_telemetry`) and a worker writes it.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import jobs
from ..extensions import csrf
from ..telemetry import otlp
from ..telemetry.intake import receive
from .limits import otlp_limit, read_body

bp = Blueprint("otlp", __name__, url_prefix="/otlp")
csrf.exempt(bp)  # exporters authenticate with a bearer ingest token, not a session


def _answer(signal: str) -> Response:
    reply = receive(signal, content_type=request.headers.get("Content-Type"),
                    content_encoding=request.headers.get("Content-Encoding"),
                    authorization=request.headers.get("Authorization"),
                    read_body=lambda: read_body(otlp_limit()), max_bytes=otlp_limit(),
                    enqueue=jobs.enqueue_telemetry)
    response = Response(reply.body, status=reply.status, content_type=reply.content_type)
    response.headers.update(reply.headers)
    return response


@bp.post("/v1/metrics")
def metrics() -> Response:
    return _answer("metrics")


@bp.post("/v1/logs")
def logs() -> Response:
    return _answer("logs")


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> Response:
    encoding = otlp.media_type(request.headers.get("Content-Type"))
    limit = current_app.config["ABACUS"].otlp_max_body_mb
    body = otlp.status(f"the body is larger than {limit} MB (ABACUS_OTLP_MAX_BODY_MB)",
                       encoding)
    return Response(body, status=413, content_type=encoding or otlp.JSON)

