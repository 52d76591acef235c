"""The telemetry queue: extracted batches wait in a Redis list; an RQ job drains them.

Exporters post every few seconds each, so one RQ job (and one `ingest` call) per request
would spend its time on per-call overhead. Instead the receiver appends the batch to the list
`abacus:telemetry:batches` and enqueues a drain job unless one is already pending; the drain
job (one at a time, a Redis lock) reads up to CHUNK batches, writes them in one transaction
(`process.process`), then removes them from the list, until the list is empty. A worker that
dies mid-chunk leaves the chunk in the list: the next drain writes it again, which changes
nothing (cumulative state and records are committed together; keys are deterministic). A
batch that cannot be written is moved to `abacus:telemetry:failed` (logged), so it never
blocks the ones behind it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..extensions import db, redis_connection
from .process import ProcessResult, process

log = logging.getLogger(__name__)

BATCHES = "abacus:telemetry:batches"
FAILED = "abacus:telemetry:failed"
PENDING = "abacus:telemetry:drain-pending"  # set while a drain job waits to start
LOCK = "abacus:telemetry:drain-lock"
CHUNK = 500  # batches per transaction
PENDING_TTL = 300  # seconds: a lost drain job is replaced by the next push after this


# One round trip per request: refuse when full, else append, and say whether a drain job
# must be started (-1 full, 1 start one, 0 one is pending).
_PUSH = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
redis.call('RPUSH', KEYS[1], ARGV[1])
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then return 1 end
return 0
"""


class QueueFull(Exception):
    """Too many batches wait already: the exporter should retry later (429)."""


class QueueDown(Exception):
    """The queue cannot be reached: the exporter should retry later (503)."""


def push(batch: dict[str, Any], max_waiting: int, enqueue_drain: Callable[[], None]) -> None:
    """Append `batch`; start a drain job unless one is pending. QueueFull when `max_waiting`
    batches wait already, QueueDown when Redis cannot be reached."""
    try:
        outcome = redis_connection().eval(_PUSH, 2, BATCHES, PENDING,
                                          json.dumps(batch, separators=(",", ":")),
                                          max_waiting, PENDING_TTL)
        if outcome == -1:
            raise QueueFull()
        if outcome == 1:
            enqueue_drain()
    except RedisError as exc:
        log.warning("telemetry: queue unavailable (%s)", type(exc).__name__)
        raise QueueDown() from None


def waiting() -> int:
    return int(redis_connection().llen(BATCHES))


def drain(budget_seconds: float = 600.0) -> ProcessResult:
    """Write waiting batches until the list is empty (or the budget is spent: then the next
    drain job continues). Commits per chunk."""
    redis = redis_connection()
    redis.delete(PENDING)  # batches pushed from now on start another drain job
    total = ProcessResult()
    started = time.monotonic()
    with redis.lock(LOCK, timeout=budget_seconds + 300, blocking_timeout=budget_seconds):
        while time.monotonic() - started < budget_seconds:
            raw = redis.lrange(BATCHES, 0, CHUNK - 1)
            if not raw:
                break
            batches = [json.loads(item) for item in raw]
            try:
                _add(total, process(batches))
                db.session.commit()
            except Exception:
                db.session.rollback()
                if len(batches) == 1:
                    log.exception("telemetry: a batch could not be written; kept in %s",
                                  FAILED)
                    redis.rpush(FAILED, raw[0])
                else:
                    _one_by_one(redis, raw, total)
            redis.ltrim(BATCHES, len(raw), -1)
    if redis.llen(BATCHES) and redis.set(PENDING, "1", nx=True, ex=PENDING_TTL):
        total.more = True
    return total


def _one_by_one(redis, raw: list[bytes], total: ProcessResult) -> None:
    for item in raw:
        try:
            _add(total, process([json.loads(item)]))
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("telemetry: a batch could not be written; kept in %s", FAILED)
            redis.rpush(FAILED, item)


def _add(total: ProcessResult, part: ProcessResult) -> None:
    for name in ("points", "events", "records", "inserted", "updated", "unchanged",
                 "skipped_points"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for tool, n in part.by_tool.items():
        total.by_tool[tool] = total.by_tool.get(tool, 0) + n
