"""`POST /webhooks/github`: GitHub push deliveries, HMAC-signed, no session.

Fails closed: without GITHUB_WEBHOOK_SECRET every delivery gets 503, a missing or wrong
signature 401, and nothing is stored in either case. A body over 25 MB (GitHub's largest
delivery) gets 413: refused on its Content-Length before it is read (web/limits.py), or, when
chunked, as soon as it grows past the limit.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from ..extensions import csrf
from .limits import MB, WEBHOOK_LIMIT, read_body

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)  # GitHub authenticates with the body's HMAC signature, not a session

log = logging.getLogger(__name__)


@bp.post("/webhooks/github")
def github() -> ResponseReturnValue:
    from ..github.webhook import BadPayload, handle, signature_valid

    secret = current_app.config["ABACUS"].github_webhook_secret
    if not secret:
        return jsonify(error="the GitHub webhook is off: GITHUB_WEBHOOK_SECRET is not set"), 503
    body = read_body(WEBHOOK_LIMIT)
    if not signature_valid(secret, body, request.headers.get("X-Hub-Signature-256")):
        log.warning("GitHub webhook: refused a delivery with a missing or wrong signature "
                    "(delivery %s)", request.headers.get("X-GitHub-Delivery", "-"))
        return jsonify(error="missing or invalid X-Hub-Signature-256"), 401
    event = request.headers.get("X-GitHub-Event", "")
    try:
        outcome = handle(event, request.headers.get("X-GitHub-Delivery"), body)
    except BadPayload as exc:
        return jsonify(error=f"bad push payload: {exc}"), 400
    if outcome.follow_up:
        _enqueue_follow_up(outcome)
    return jsonify(outcome.as_dict()), outcome.status


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    log.warning("GitHub webhook: refused a body over %d MB (delivery %s)", WEBHOOK_LIMIT // MB,
                request.headers.get("X-GitHub-Delivery", "-"))
    return jsonify(error=f"payload larger than {WEBHOOK_LIMIT // MB} MB"), 413


def _enqueue_follow_up(outcome) -> None:
    """Line stats and a truncated push's remaining commits need the API: queue them."""
    from .. import jobs

    try:
        jobs.after_push(outcome.repository, outcome.follow_up, outcome.before, outcome.after)
    except Exception:  # the commits are stored; the hourly GitHub job catches up
        log.warning("GitHub webhook: could not queue follow-up work for %s",
                    outcome.repository, exc_info=True)
