"""`make run`: one command for a laptop install.

Starts (or reuses) the embedded PostgreSQL and Redis unless DATABASE_URL/REDIS_URL are set,
applies migrations, then runs the web server, one RQ worker and the scheduler as child
processes. Ctrl-C stops all three (and the embedded engines); data stays under instance/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from . import embedded
from .config import ConfigError, Settings


def main() -> int:
    # Local defaults: development mode, the dev sign-in, a sign-in domain to use with it.
    os.environ.setdefault("ABACUS_ENV", "development")
    os.environ.setdefault("ABACUS_DEV_LOGIN", "1")
    os.environ.setdefault("ALLOWED_DOMAINS", "example.com")
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"abacus: configuration error: {exc}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    try:
        embedded.export_urls(settings.instance_path, env)
    except embedded.EmbeddedUnavailable as exc:
        print(f"abacus: {exc}", file=sys.stderr)
        return 2
    env["ABACUS_ENV"] = settings.env  # children see DATABASE_URL set; keep the mode explicit

    py = sys.executable
    print("abacus: applying migrations (flask db upgrade)", flush=True)
    if subprocess.call([py, "-m", "flask", "--app", "wsgi", "db", "upgrade"], env=env) != 0:
        return 1

    commands = {
        "web": [py, "-m", "flask", "--app", "wsgi", "run", "--host", settings.host,
                "--port", str(settings.port), "--no-reload"],
        "worker": [py, "worker.py", "worker"],
        "scheduler": [py, "worker.py", "scheduler"],
    }
    stopping: list[int] = []

    def request_stop(signum, _frame) -> None:
        stopping.append(signum)

    # Ctrl-C (and a plain `kill`) stop everything cleanly, even where SIGINT was inherited
    # as ignored (a backgrounded `make run`).
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
    print(f"abacus: running at http://{settings.host}:{settings.port}  "
          "(web, worker, scheduler; Ctrl-C stops all)", flush=True)
    status = 0
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None and not stopping:
                    print(f"abacus: {name} exited with {child.returncode}; stopping the rest",
                          file=sys.stderr, flush=True)
                    status = child.returncode or 1
                    stopping.append(0)
                    break
            time.sleep(0.3)
    finally:
        _stop(children.values())
    print("abacus: stopped", flush=True)
    return status


def _stop(children) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    sys.exit(main())
