"""`make run`'s supervisor: web, worker and scheduler come up, a job runs in the forked
worker, the scheduler syncs the accounts named in the environment, and one SIGINT (Ctrl-C)
stops all three."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psutil
import requests
from rq import Queue
from sqlalchemy import func, select

from abacus.extensions import QUEUE_NAME, db, redis_connection
from abacus.models import Account, UsageEvent
from tests.fakes.anthropic import FakeAnthropic
from tests.test_import_cursor_csv import VARIANTS, variant_rows, write_csv

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> requests.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {seconds}s")


def test_supervisor_serves_runs_jobs_and_stops_on_ctrl_c(app, app_env, tmp_path, ctx):
    port = _free_port()
    anthropic = FakeAnthropic(admin_keys=("sk-ant-admin01-dev",)).start()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    anthropic.add_claude_code(yesterday, actor_email="dev@example.com",
                              models=[("claude-sonnet-4-5-20250929", 10, 10, 0, 0, 250)])
    env = {**os.environ, **app_env, "ABACUS_ENV": "development", "PORT": str(port),
           "HOST": "127.0.0.1", "ANTHROPIC_ADMIN_KEYS": "acme=sk-ant-admin01-dev",
           "ANTHROPIC_BASE_URL": anthropic.url}
    proc = subprocess.Popen([sys.executable, "-m", "abacus.devserver"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        health = _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        assert (health.status_code, health.json()) == (200, {"db": "ok", "redis": "ok"})
        children = psutil.Process(proc.pid).children()
        assert len(children) == 3  # web, worker, scheduler

        # The real (forking) worker picks up an import job.
        header = VARIANTS["v2-team"]
        path = write_csv(tmp_path / "e.csv", header, variant_rows(header))
        job = Queue(QUEUE_NAME, connection=redis_connection()).enqueue(
            "abacus.jobs.import_csv", str(path))
        deadline = time.monotonic() + 60
        while not (job.is_finished or job.is_failed) and time.monotonic() < deadline:
            time.sleep(0.3)
            job.refresh()
        assert job.is_finished, job.latest_result()
        assert job.return_value()["inserted"] == 5

        # The scheduler syncs the account named in ANTHROPIC_ADMIN_KEYS right away.
        deadline = time.monotonic() + 60
        account = None
        while time.monotonic() < deadline:
            db.session.rollback()
            account = db.session.execute(select(Account).where(Account.name == "acme")).scalar()
            if account is not None and account.last_success_at is not None:
                break
            time.sleep(0.3)
        assert account is not None and account.status == "active", proc.stdout
        cost = db.session.execute(select(func.sum(UsageEvent.cost_usd))
                                  .where(UsageEvent.account_id == account.id)).scalar()
        assert cost == Decimal("2.50")

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(timeout=30) == 0
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        output = proc.stdout.read()
        assert "applying migrations (flask db upgrade)" in output
        assert "abacus: stopped" in output
    finally:
        anthropic.stop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_dead_worker_is_restarted_not_the_whole_stack(app, app_env):
    """A Redis outage kills an RQ worker: `make run` restarts it (with a back-off) and keeps
    serving pages, instead of stopping web and scheduler with it."""
    port = _free_port()
    env = {**os.environ, **app_env, "ABACUS_ENV": "development", "PORT": str(port),
           "HOST": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "abacus.devserver"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)

    def worker_pids() -> set[int]:
        pids = set()
        for child in psutil.Process(proc.pid).children():
            try:
                if child.cmdline()[-2:] == ["worker.py", "worker"]:
                    pids.add(child.pid)
            except psutil.Error:  # the killed worker, a zombie until make run reaps it
                pass
        return pids

    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        (first,) = worker_pids()
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while not (worker_pids() - {first}):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the worker was not restarted"
            time.sleep(0.2)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        with app.app_context():  # the new worker runs jobs
            job = Queue(QUEUE_NAME, connection=redis_connection()).enqueue("time.sleep", 0)
            deadline = time.monotonic() + 30
            while not job.is_finished and time.monotonic() < deadline:
                time.sleep(0.2)
                job.refresh()
            assert job.is_finished
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "worker exited with -9; restarting it in 1 s" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
