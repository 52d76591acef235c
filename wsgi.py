"""WSGI entry point: `gunicorn wsgi:app`; also what `flask` finds in this folder."""

import sys

from abacus import create_app
from abacus.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"abacus: configuration error: {exc}")
