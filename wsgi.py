"""WSGI entry point: `gunicorn wsgi:app`; also what `flask` finds in this folder."""

import gc
import sys

from abacus import create_app
from abacus.config import ConfigError
from abacus.observability import database_problem

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"abacus: configuration error: {exc}")

# Everything built at start-up (modules, the app, its caches) lives as long as the process:
# moved out of the collector's reach, a full collection walks only what requests left behind
# (~30 ms instead of ~120 ms at every few requests of a large page).
gc.freeze()


def _one_line(kind, exc, tb):
    """A `flask …` command stopped by an unreachable or unmigrated database prints one line
    naming DATABASE_URL (never its password) instead of a traceback; the exit status stays 1.
    Every other error keeps its traceback."""
    message = database_problem(exc, app.config["ABACUS"].database_url)
    if message is None:
        sys.__excepthook__(kind, exc, tb)
    else:
        print(f"abacus: {message}", file=sys.stderr)


sys.excepthook = _one_line
