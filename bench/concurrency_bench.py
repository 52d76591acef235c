"""Throughput and latency of the production web server under N concurrent signed-in clients.

    python bench/concurrency_bench.py [--clients 1,4,8,16] [--requests 160]
                                      [--workers 2] [--threads 4] [--database URL]

Starts gunicorn as the container image runs it (`scripts/container-entrypoint.sh web`:
`gunicorn wsgi:app --workers $WEB_WORKERS --threads $WEB_THREADS`, defaults 2 and 4 from the
Containerfile; ABACUS_ENV=production) on a free local port against the database that
`bench/pages_bench.py --keep` seeded (10M events, 2,000 people, 365 days by default; run that
first), signs in an admin by creating a server-side session directly (production has no
development sign-in) and, for each N, lets N client threads share the same fixed, shuffled
list of `--requests` requests over the mixed page set (every page of the pages bench at the
7/30/90-day presets, a year on a few). Prints throughput, p50/p95 latency and errors per N,
and the load average, so a run is comparable with the next one. Any non-200 answer counts as
an error (and fails the run).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import requests
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_bench import dsn, server_url  # noqa: E402
from bench.pages_bench import pages, percentile  # noqa: E402

ADMIN = "a@example.com"
SECRET = secrets.token_hex(32)  # a fresh key per run: production refuses weak ones


def bench_database(tmp: Path, args) -> str:
    if args.database:
        return args.database
    server = server_url(tmp)
    name = "abacus_bench_pages_10000000_2000_365"
    admin = psycopg2.connect(dsn(server, make_url(server).database or "postgres"))
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        found = cur.fetchone()
    admin.close()
    if not found:
        sys.exit(f"no database {name}: run `python bench/pages_bench.py --keep` first "
                 "(or pass --database URL)")
    return dsn(server, name)


def server_env(db_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABACUS_", "DATABASE_"))}
    env.update({"ABACUS_ENV": "production", "DATABASE_URL": db_url, "REDIS_URL": redis_url,
                "SECRET_KEY": SECRET, "ALLOWED_DOMAINS": "example.com",
                "ABACUS_ADMINS": ADMIN,
                # Production needs a sign-in provider configured; the bench never uses it
                # (its admin's session is made directly).
                "GOOGLE_CLIENT_ID": "bench.apps.googleusercontent.com",
                "GOOGLE_CLIENT_SECRET": secrets.token_hex(16)})
    return env


def session_cookie(env: dict[str, str]) -> tuple[str, str, str]:
    """(top person, cookie name, cookie value) of a signed-in admin, made the way a sign-in
    makes it: a server-side session row and the signed Flask session that names it."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from flask import session
        from flask_login import login_user
        from sqlalchemy import func, select

        from abacus import create_app
        from abacus.extensions import db
        from abacus.models import UsagePersonDaily as P
        from abacus.people.users import record_sign_in, start_session
        from abacus.web.auth import SESSION_TOKEN_KEY

        app = create_app(dotenv=False)
        with app.test_request_context("/"):
            end = db.session.execute(select(func.max(P.day))).scalar()
            top = db.session.execute(
                select(P.person).where(P.day >= end.fromordinal(end.toordinal() - 29))
                .group_by(P.person).order_by(func.sum(P.cost_usd).desc()).limit(1)).scalar()
            user = record_sign_in(ADMIN, [ADMIN])
            login_user(user)
            session[SESSION_TOKEN_KEY] = start_session(user)
            value = app.session_interface.get_signing_serializer(app).dumps(dict(session))
            db.session.remove()
            db.engine.dispose()
        return top, app.config["SESSION_COOKIE_NAME"], value
    finally:
        os.environ.clear()
        os.environ.update(saved)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], port: int, workers: int, threads: int
                 ) -> subprocess.Popen:
    """gunicorn with the entrypoint's flags (access log off: it is not what is measured)."""
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--threads", str(threads), "--no-control-socket",
           "--error-logfile", "-", "wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200:
                return proc
        except requests.RequestException:  # not listening yet, or busy booting workers
            pass
        time.sleep(0.3)
    stop_server(proc)
    sys.exit("gunicorn did not answer /healthz within 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def workload(person: str, total: int, seed: int = 11) -> list[str]:
    """`total` page URLs, shuffled the same way every run."""
    urls = []
    for _, path, _ in pages(person):
        for query in ("days=7", "days=30", "days=90"):
            urls.append(path + ("&" if "?" in path else "?") + query)
    for path in ("/", "/team?sort=cost&dir=desc", "/usage", f"/users/{person}"):
        urls.append(path + ("&" if "?" in path else "?") + "days=365")
    rng = random.Random(seed)
    return [rng.choice(urls) for _ in range(total)]


def run_level(base: str, cookie: tuple[str, str], urls: list[str], clients: int
              ) -> tuple[float, list[float], list[str]]:
    """Send `urls` with `clients` threads (each its own keep-alive connection); returns
    (elapsed seconds, latencies in ms, errors)."""
    queue = list(reversed(urls))
    lock = threading.Lock()
    times: list[float] = []
    errors: list[str] = []

    def client() -> None:
        http = requests.Session()
        http.cookies.set(*cookie)
        while True:
            with lock:
                if not queue:
                    return
                url = queue.pop()
            started = time.perf_counter()
            try:
                response = http.get(base + url, timeout=120, allow_redirects=False)
                status = response.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                times.append(elapsed)
                if status != 200:
                    errors.append(f"{url}: {status}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, times, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,8,16")
    parser.add_argument("--requests", type=int, default=160, help="requests per level")
    parser.add_argument("--workers", type=int, default=2, help="WEB_WORKERS (image: 2)")
    parser.add_argument("--threads", type=int, default=4, help="WEB_THREADS (image: 4)")
    parser.add_argument("--database", help="a seeded database (default: the pages bench's)")
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL")
                        or "redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="abacus-bench-") as tmpdir:
        db_url = bench_database(Path(tmpdir), args)
    env = server_env(db_url, args.redis)
    person, *cookie = session_cookie(env)
    port = free_port()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    print(f"gunicorn wsgi:app --workers {args.workers} --threads {args.threads} "
          f"(ABACUS_ENV=production) on 127.0.0.1:{port}; {args.requests} requests per level "
          f"over {len(set(workload(person, 10_000)))} URLs", flush=True)
    proc = start_server(env, port, args.workers, args.threads)
    base = f"http://127.0.0.1:{port}"
    failed = False
    try:
        run_level(base, tuple(cookie), workload(person, 20, seed=1), 2)  # warm every worker
        print(f"{'clients':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}  load",
              flush=True)
        for n in (int(c) for c in args.clients.split(",")):
            elapsed, times, errors = run_level(base, tuple(cookie),
                                               workload(person, args.requests), n)
            times.sort()
            print(f"{n:>7}{len(times) / elapsed:8.1f}{statistics.median(times):9.0f}"
                  f"{percentile(times, 0.95):9.0f}{len(errors):>8}  "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            for e in errors[:5]:
                print(f"    error: {e}")
            failed = failed or bool(errors)
    finally:
        stop_server(proc)
    print(f"load average at end: {os.getloadavg()}")
    if failed:
        sys.exit("some requests failed")


if __name__ == "__main__":
    main()
