"""Request body limits: small for ordinary forms, larger only where a big body is expected.

MAX_CONTENT_LENGTH (FORM_LIMIT) covers every request; the GitHub webhook gets GitHub's own
largest delivery, the OTLP receiver ABACUS_OTLP_MAX_BODY_MB, and the CSV upload
ABACUS_MAX_UPLOAD_MB, for admins only (the CSRF check
parses the form before the view checks the role, so the limit must not depend on the view).
A Content-Length over the limit is refused before any of the body is read; a chunked body is
cut off as soon as it grows past the limit (werkzeug's LimitedStream), never read to its end.
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from ..config import FORM_LIMIT
from .access import is_admin

MB = 1024 * 1024
WEBHOOK_LIMIT = 25 * MB  # GitHub caps a delivery's payload at 25 MB
UPLOAD_ENDPOINT = "status.upload"
WEBHOOK_ENDPOINT = "webhooks.github"
OTLP_ENDPOINTS = ("otlp.metrics", "otlp.logs")


def init_app(app: Flask) -> None:
    """Register before CSRFProtect: its check reads the form, so the limit must be set first."""
    app.before_request(_limit_body)
    app.register_error_handler(RequestEntityTooLarge, _too_large)


def body_limit() -> int:
    """The most bytes this request's body may have."""
    if request.endpoint == WEBHOOK_ENDPOINT:
        return WEBHOOK_LIMIT
    if request.endpoint in OTLP_ENDPOINTS:
        return otlp_limit()
    if request.endpoint == UPLOAD_ENDPOINT and is_admin():
        return upload_limit()
    return FORM_LIMIT


def upload_limit() -> int:
    return current_app.config["ABACUS"].max_upload_mb * MB


def otlp_limit() -> int:
    return current_app.config["ABACUS"].otlp_max_body_mb * MB


def read_body(limit: int) -> bytes:
    """The body, refusing (413) one that grows past `limit` while it is read.

    `request.get_data()` would silently cut a chunked body at the limit; reading in pieces
    stops as soon as it is too large (request.stream raises once past the limit).
    """
    body = bytearray()
    while chunk := request.stream.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise RequestEntityTooLarge()
    return bytes(body)


def _limit_body() -> None:
    limit = body_limit()
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()


def _too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    message = f"The request is larger than {body_limit() // MB} MB, the most this address accepts."
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error=message), 413
    return render_template("errors/error.html", code=413, title="Too large",
                           message=message), 413
