"""PostgreSQL session advisory locks: one process at a time per account or repository.

Held on a connection of its own (autocommit), so the caller's transactions can commit and
roll back freely while the lock stays; released when the block ends or the process dies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from .extensions import db

# Namespaces (the first key of pg_try_advisory_lock): one per kind of thing locked.
INGEST = 0x0AB0
ACCOUNT = 0x0AB1
ENV_ACCOUNTS = 0x0AB2
REPOSITORY = 0x0AB3


@contextmanager
def advisory_lock(namespace: int, key: int) -> Iterator[bool]:
    """Try to take the lock; yields False (without waiting) when another process holds it."""
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
