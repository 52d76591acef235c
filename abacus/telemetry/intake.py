"""What the receiver does with one OTLP/HTTP request: authenticate, decode, extract, queue.

It never writes usage: the extracted batch (small JSON-able dicts, see `mapping.extract`)
goes to a queue, and a worker writes it through `ingest` (`process`), so a burst of
exporters cannot stall page serving. Answers follow the OTLP/HTTP specification: 200 with
an empty response (or a partial success naming what was rejected), 400 with a
google.rpc.Status for a body that cannot be decoded, 401/403 for a missing, unknown, revoked
or wrong-kind token, 413 over the size cap, 415 for an unsupported Content-Type, and 429/503
with Retry-After when the queue is full or unreachable (the exporter retries those).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..extensions import db
from ..people.tokens import bearer, token_for, token_kind
from . import otlp
from .mapping import extract
from .queue import QueueDown, QueueFull

RETRY_AFTER = 30  # seconds an exporter is asked to wait when the queue is full


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, encoding: str | None, **headers: str) -> Reply:
    return Reply(status, otlp.status(message, encoding), encoding or otlp.JSON, headers)


def receive(signal: str, *, content_type: str | None, content_encoding: str | None,
            authorization: str | None, read_body: Callable[[], bytes], max_bytes: int,
            enqueue: Callable[[dict[str, Any]], None]) -> Reply:
    """Answer one POST /otlp/v1/{signal}. `read_body()` returns the raw body (refusing one
    over `max_bytes` itself); `enqueue(batch)` queues it or raises QueueFull / QueueDown."""
    encoding = otlp.media_type(content_type)
    presented = bearer(authorization)
    token = token_for("ingest", presented)
    if token is None:
        kind = token_kind(presented)
        db.session.rollback()
        if kind is not None:
            why = ("this token is revoked" if kind == "ingest"
                   else f"an {kind} token cannot post telemetry; create an ingest token")
            return _error(403, why, encoding)
        return _error(401, "an ingest token is required: Authorization: Bearer <token>",
                      encoding, **{"WWW-Authenticate": 'Bearer realm="abacus-otlp"'})
    token_id, token_name, token_email = token.id, token.name, token.email
    db.session.commit()  # the token's last use; nothing else is written here
    if encoding is None:
        return _error(415, f"Content-Type {content_type or '(none)'!r} is not supported: "
                           f"send {otlp.PROTOBUF} or {otlp.JSON}", None)
    try:
        body = read_body()
        compression = (content_encoding or "").strip().lower()
        if compression == "gzip":
            body = otlp.gunzip(body, max_bytes)
        elif compression not in ("", "identity"):
            return _error(415, f"Content-Encoding {compression!r} is not supported "
                               "(gzip or none)", encoding)
        message = otlp.decode(signal, body, encoding)
    except otlp.OtlpError as exc:
        return _error(exc.status, exc.message, encoding)
    found = extract(signal, message)
    if found.points or found.events:
        batch = {"signal": signal, "token_id": token_id, "token_name": token_name,
                 "token_email": token_email, "received_at": datetime.now(UTC).isoformat(),
                 "points": found.points, "events": found.events}
        try:
            enqueue(batch)
        except QueueFull:
            return _error(429, "too many telemetry batches are waiting; retry later",
                          encoding, **{"Retry-After": str(RETRY_AFTER)})
        except QueueDown:
            return _error(503, "the telemetry queue is unavailable; retry later", encoding,
                          **{"Retry-After": str(RETRY_AFTER)})
    return Reply(200, otlp.success(signal, encoding, found.rejected, found.error), encoding)
