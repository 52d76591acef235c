"""Logs to stdout (text or one JSON object per line) and optional error reporting to Sentry."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from .config import ConfigError, Settings

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


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
