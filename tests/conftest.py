"""Test fixtures: real PostgreSQL and Redis, never mocks.

TEST_DATABASE_URL / TEST_REDIS_URL point at servers (CI: the machine's own); otherwise the
embedded engines start under a temporary folder. Each test session gets its own database,
built by running the Alembic migrations (so tests exercise what production runs); each test
starts from empty tables.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from abacus import create_app
from abacus.extensions import db

SECRET = "test-secret-key-0123456789abcdef"


# Embedded engines for tests live beside the app's own (git-ignored), not in pytest's temp
# folders: pytest resets those to mode 0700, which locks out PostgreSQL's own system user when
# the tests run as root.
ENGINES = Path(__file__).resolve().parent.parent / "instance" / "test-engines"


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from abacus import embedded

    return embedded.database_url(ENGINES, database="postgres")


def _redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        return url
    from abacus import embedded

    return embedded.redis_url(ENGINES)


def _admin_dsn(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(
        hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    server = _server_url()
    name = f"abacus_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(_admin_dsn(server, make_url(server).database or "postgres"))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield _admin_dsn(server, name)
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    # Tests flush this Redis database after each test: point TEST_REDIS_URL at a spare one.
    yield _redis_url()
    if not os.environ.get("TEST_REDIS_URL"):
        from abacus import embedded

        embedded.stop_redis()


@pytest.fixture(scope="session")
def app_env(database_url, redis_url, tmp_path_factory) -> dict[str, str]:
    return {
        "ABACUS_ENV": "test",
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ABACUS_INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
        "ABACUS_TIMEZONE": "UTC",
        "ALLOWED_DOMAINS": "example.com",
        "ABACUS_ADMINS": "admin@example.com",
        "ABACUS_DEV_LOGIN": "1",
    }


@pytest.fixture(scope="session")
def app(app_env) -> Flask:
    from flask_migrate import upgrade

    application = create_app(app_env, dotenv=False)
    with application.app_context():
        upgrade()
    return application


TABLES = ("change_log", "usage_daily", "usage_events", "sync_state", "sync_runs",
          "account_snapshots", "usage_day_totals", "usage_person_daily",
          "identity_mappings", "model_prices", "users", "accounts",
          "repositories", "commits", "commit_attributions", "webhook_deliveries", "people",
          "user_sessions", "upload_chunks", "uploads", "billed_costs", "seats",
          "seat_history", "team_members", "seat_assignments",
          "seat_plan_prices", "seat_leaves", "budget_notifications", "budgets",
          "incidents", "team_memberships", "teams", "access_tokens", "access_log", "bots",
          "telemetry_series", "telemetry_intake")


@pytest.fixture(autouse=True)
def _clean_database(request) -> Iterator[None]:
    """Empty tables after every test that used the app, so tests never see each other."""
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    with application.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        from abacus.extensions import redis_connection

        redis_connection().flushdb()


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "http_retries(n): provider HTTP sessions retry n times in these tests")


@pytest.fixture(autouse=True)
def _http_settings(request) -> Iterator[None]:
    """Retries without backoff sleeps (and `http_retries(n)` of them where a module or test is
    so marked); whatever a test changes in HttpSettings is undone."""
    from abacus.providers.http import HttpSettings

    saved = {k: v for k, v in vars(HttpSettings).items() if not k.startswith("_")}
    HttpSettings.backoff_factor = 0
    marker = request.node.get_closest_marker("http_retries")
    if marker is not None:
        HttpSettings.retries = marker.args[0]
    yield
    for key, value in saved.items():
        setattr(HttpSettings, key, value)


@pytest.fixture
def make_app(app, app_env):
    """A second app on the same database with other settings; its engine closed after."""
    made = []

    def build(**overrides: str) -> Flask:
        other = create_app({**app_env, **overrides}, dotenv=False)
        made.append(other)
        return other

    yield build
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def ctx(app) -> Iterator[Flask]:
    with app.app_context():
        yield app
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def configure(ctx, monkeypatch):
    """Change settings for this test (the app's Settings is frozen: swap in a copy)."""
    def apply(**changes):
        monkeypatch.setitem(ctx.config, "ABACUS",
                            dataclasses.replace(ctx.config["ABACUS"], **changes))
    return apply


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
