"""`make run`: one command for a laptop install.

Starts (or reuses) the embedded PostgreSQL and Redis unless DATABASE_URL/REDIS_URL are set,
applies migrations, then runs the web server, one RQ worker and the scheduler as child
processes. Ctrl-C stops all three (and the embedded engines); data stays under instance/.
A worker or scheduler that dies (a Redis outage kills an RQ worker) is restarted with a
back-off; only the web server exiting stops the stack.
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
    restarts = {name: _Restarts() for name in RESTARTED}
    status = 0
    try:
        while not stopping:
            now = time.monotonic()
            for name, child in children.items():
                if stopping or child.poll() is None:
                    continue
                if name not in restarts:
                    print(f"abacus: {name} exited with {child.returncode}; stopping the rest",
                          file=sys.stderr, flush=True)
                    status = child.returncode or 1
                    stopping.append(0)
                    break
                plan = restarts[name]
                if plan.due is None:
                    delay = plan.died(now)
                    print(f"abacus: {name} exited with {child.returncode}; restarting it in "
                          f"{delay:.0f} s", file=sys.stderr, flush=True)
                elif now >= plan.due:
                    plan.due = None
                    plan.started = now
                    children[name] = subprocess.Popen(commands[name], env=env)
            time.sleep(0.3)
    finally:
        _stop(children.values())
    print("abacus: stopped", flush=True)
    return status


RESTARTED = ("worker", "scheduler")  # background processes; the web server is the stack
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0  # seconds before a restart: 1, 2, 4 … 60
STABLE_AFTER = 60.0  # a process that ran this long starts the back-off over


class _Restarts:
    """When to restart a dead background process: doubling delays while it keeps dying at
    once (Redis still down), back to the first delay after it ran for a while."""

    def __init__(self) -> None:
        self.delay = BACKOFF_FIRST
        self.started = time.monotonic()
        self.due: float | None = None

    def died(self, now: float) -> float:
        if now - self.started >= STABLE_AFTER:
            self.delay = BACKOFF_FIRST
        delay, self.delay = self.delay, min(self.delay * 2, BACKOFF_MAX)
        self.due = now + delay
        return delay


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
