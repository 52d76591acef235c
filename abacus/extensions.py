"""Shared infrastructure every domain uses: the Flask extensions (created unbound and
attached in create_app()), the Redis connection with its RQ queue, and PostgreSQL advisory
locks.

May import: config-free third-party libraries only, and `embedded` (the local Redis).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from rq import Queue
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError

# Stable constraint names so Alembic migrations and the models always agree.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()

QUEUE_NAME = "default"


def redis_connection() -> Redis:
    """The app's Redis (the embedded one, started on first use, when REDIS_URL is unset)."""
    conn = current_app.extensions.get("abacus_redis")
    if conn is None:
        url = current_app.config["REDIS_URL"]
        if not url:
            from . import embedded

            url = current_app.config["REDIS_URL"] = embedded.redis_url(
                current_app.config["ABACUS"].instance_path)
        conn = Redis.from_url(url, socket_timeout=10)
        current_app.extensions["abacus_redis"] = conn
    return conn


def queue() -> Queue:
    return Queue(QUEUE_NAME, connection=redis_connection())


class LockSpace:
    """Namespaces (the first key of pg_try_advisory_lock): one per kind of thing locked."""

    INGEST = 0x0AB0
    ACCOUNT = 0x0AB1
    ENV_ACCOUNTS = 0x0AB2
    REPOSITORY = 0x0AB3


@contextmanager
def advisory_lock(namespace: int, key: int) -> Iterator[bool]:
    """Try to take a PostgreSQL session advisory lock: one process at a time per account or
    repository. Yields False (without waiting) when another process holds it.

    Held on a connection of its own (autocommit), so the caller's transactions can commit and
    roll back freely while the lock stays; released when the block ends or the process dies.
    """
    conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"),
                           {"ns": namespace, "id": key}).scalar()
        try:
            yield bool(got)
        finally:
            if got:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"),
                                 {"ns": namespace, "id": key})
                except DBAPIError:  # the connection is gone, and the lock with it
                    conn.invalidate()
    finally:
        conn.close()
