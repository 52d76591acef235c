"""WSGI entry point: `gunicorn wsgi:app`; also what `flask` finds in this folder."""

import sys

from abacus import create_app, settle_heap
from abacus.config import ConfigError
from abacus.observability import database_problem

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"abacus: configuration error: {exc}")

settle_heap()  # the garbage collector tuned for a long-lived web process


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
