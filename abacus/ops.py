"""Operational service functions: readiness checks, metrics, externally triggered syncs."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select, text

from .extensions import db
from .models import Account, SyncRun, UsageDayTotals


def _head_revision() -> str | None:
    from alembic.config import Config

    from . import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def _probe(check) -> str:
    """"ok", or the kind of error: never the message, which may hold a URL or a password."""
    try:
        check()
    except Exception as exc:  # report, never raise: this is a probe
        return f"error: {type(exc).__name__}"
    return "ok"


def _ping_redis() -> None:
    from .queue import redis_connection

    redis_connection().ping()


def liveness() -> dict[str, str]:
    """{"db": …, "redis": …}: what answers. Pages need only the database, so the health
    check (`healthy`) is the database alone; Redis is reported, and readiness requires it."""
    return {"db": _probe(lambda: db.session.execute(text("SELECT 1")).scalar_one()),
            "redis": _probe(_ping_redis)}


def healthy(checks: dict[str, str]) -> bool:
    """Can serve pages: the database answers (a Redis outage only stops jobs)."""
    return checks.get("db") == "ok"


def readiness() -> dict[str, str]:
    """{"db": …, "redis": …, "migrations": …}: "ok", or what is wrong (no URLs, no secrets)."""
    revision: list[str | None] = []

    def current_revision() -> None:
        with db.engine.connect() as conn:
            revision.append(MigrationContext.configure(conn).get_current_revision())

    checks = {"db": _probe(current_revision), "migrations": "unknown",
              "redis": _probe(_ping_redis)}
    if revision:
        head = _head_revision()
        checks["migrations"] = ("ok" if revision[0] == head
                                else f"at {revision[0] or 'none'}, expected {head}: run migrate")
    return checks


class _Collector:
    """Reads the numbers at scrape time (a fresh registry per request: no global state)."""

    def __init__(self, now: float):
        self.now = now

    def collect(self):
        events = CounterMetricFamily("abacus_usage_events", "Usage events stored, by tool",
                                     labels=["tool"])
        for tool, n in db.session.execute(
                select(UsageDayTotals.tool, func.sum(UsageDayTotals.events))
                .group_by(UsageDayTotals.tool).order_by(UsageDayTotals.tool)):
            events.add_metric([tool], float(n or 0))
        yield events

        runs = CounterMetricFamily("abacus_sync_runs", "Sync, backfill and import runs, by "
                                   "kind and outcome", labels=["kind", "status"])
        for kind, status, n in db.session.execute(
                select(SyncRun.kind, SyncRun.status, func.count())
                .group_by(SyncRun.kind, SyncRun.status).order_by(SyncRun.kind, SyncRun.status)):
            runs.add_metric([kind, status], float(n))
        yield runs

        since = GaugeMetricFamily("abacus_account_seconds_since_last_success",
                                  "Seconds since each account's last successful sync",
                                  labels=["provider", "account", "status"])
        for account in db.session.execute(
                select(Account).order_by(Account.provider, Account.name)).scalars():
            if account.last_success_at is not None:
                since.add_metric([account.provider, account.name, account.status],
                                 max(0.0, self.now - account.last_success_at.timestamp()))
        yield since

        depth = GaugeMetricFamily("abacus_queue_depth", "Jobs waiting in the RQ queue",
                                  labels=["queue"])
        try:
            from .queue import queue

            q = queue()
            depth.add_metric([q.name], float(q.count))
        except Exception:  # Redis down: the gauge is absent rather than a wrong zero
            pass
        yield depth


def metrics_text(now: float) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(now))
    return generate_latest(registry)


class NotConfigured(Exception):
    """The requested source cannot run here: the message says what to set."""


def trigger_sync(source: str) -> list[str]:
    """Enqueue what the scheduler would for `source`: one sync job per account of a
    provider, every provider with `all`, the pending backfills with `backfill`, or the
    GitHub commits job with `github`."""
    from .jobs import backfill_all, github_scheduled, sync_provider
    from .providers import get_provider, providers

    if source == "backfill":
        return backfill_all()
    if source == "github":
        from flask import current_app

        from .queue import queue

        if not current_app.config["ABACUS"].github_api_configured:
            raise NotConfigured("the GitHub API is not configured: set GITHUB_TOKEN or a "
                                "GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, "
                                "GITHUB_APP_INSTALLATION_ID)")

        queue().enqueue(github_scheduled, job_timeout=3 * 3600)
        return ["github"]
    ids = sorted(providers()) if source == "all" else [get_provider(source).id]
    return [name for pid in ids for name in sync_provider(pid)]
