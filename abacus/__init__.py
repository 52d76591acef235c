"""Abacus: self-hosted tracker of AI coding tool usage and cost.

This package's own modules are the application shell: the factory (here), config,
extensions, models, observability, the embedded engines and the dev server. Everything else
lives in one package per domain; README's "Design" section has the map, and the import rules
are import-linter contracts in pyproject.toml (run by `make test`).
"""

from __future__ import annotations

import gc
from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import FORM_LIMIT, MIGRATIONS_DIR, Settings, sqlalchemy_url
from .extensions import csrf, db, login_manager, migrate
from .observability import configure_logging, init_sentry, quiet_known_warnings


def create_app(overrides: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Flask:
    """Build the app from the environment (and `.env` unless `dotenv` is False);
    `overrides` (env-style names) win, for tests."""
    quiet_known_warnings()
    settings = Settings.load(overrides, read_dotenv=dotenv)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(
        ABACUS=settings,
        SECRET_KEY=settings.secret_key,
        TESTING=settings.env == "test",
        SQLALCHEMY_DATABASE_URI=sqlalchemy_url(_database_url(settings)),
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_pre_ping": True,
            # Page queries aggregate a few hundred thousand rollup rows: room to hash in
            # memory instead of sorting on disk, and no JIT (compiling those plans costs
            # more than it saves).
            "connect_args": {"options": "-c work_mem=64MB -c jit=off"},
        },
        REDIS_URL=settings.redis_url,  # None: embedded Redis, started on first use
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
        # Abacus never sets Flask-Login's "remember me" cookie, and its loader ignores one
        # (no server-side session token in it); should one appear, it is locked down anyway.
        REMEMBER_COOKIE_SECURE=settings.env == "production",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=FORM_LIMIT,  # the upload and the webhook raise it (web/limits.py)
    )
    configure_logging(settings)
    init_sentry(settings)
    if settings.proxy_count:
        # Trust X-Forwarded-For/-Proto/-Host/-Port/-Prefix from exactly that many proxies.
        n = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n,
                                x_prefix=n)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    login_manager.init_app(app)
    from .web import limits

    limits.init_app(app)  # before CSRF, which reads the body
    csrf.init_app(app)

    from . import models  # noqa: F401 - models register their tables
    from .cli import root as cli
    from .web.blueprints import register_blueprints

    register_blueprints(app)
    cli.init_app(app)
    return app


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from . import embedded

    return embedded.database_url(settings.instance_path)



def settle_heap() -> None:
    """For a long-lived web process, once its app is built: what start-up made (modules, the
    app, its caches) lives as long as the process, so it leaves the collector's reach, and the
    youngest generation is collected every 10,000 allocations instead of 700. A page of 2,000
    rows allocates hundreds of thousands of objects: with the defaults, full collections
    walked the whole heap every few requests (~120 ms each) and young ones promoted the
    page's live rows; measured on the bench database, /team.csv's p95 fell ~30 ms more with
    the higher threshold. Tests build many apps in one process and do not call it."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
