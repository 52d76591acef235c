"""Status page in a real browser: press "Sync now" against the fake Cursor Admin API and watch
the job's progress end with its result while a real worker (`python worker.py`) runs it; the
new run shows up in the recent-runs table. Then upload a CSV export and watch the import
finish. Screenshots: tests/artifacts/status.png (also -phone, -dark) and upload.png.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from abacus.demo.seed import seed_demo
from abacus.extensions import db
from abacus.models import Account, AccountSnapshot, SyncRun, SyncState
from abacus.sync import accounts as accounts_service
from tests.browser.conftest import dev_sign_in, shoot, shoot_views
from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin
from tests.test_import_cursor_csv import VARIANTS, variant_rows, write_csv

ROOT = Path(__file__).resolve().parent.parent.parent
JOB_TIMEOUT_MS = 60_000


@pytest.fixture
def worker(app_env) -> Iterator[subprocess.Popen]:
    """A real RQ worker (forks a work-horse per job) on the test database and Redis."""
    env = {**os.environ, **app_env, "CURSOR_MIN_REQUEST_INTERVAL": "0"}
    proc = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the worker and its horse
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def cursor_api() -> Iterator[FakeCursorAdmin]:
    with FakeCursorAdmin() as fake:
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        base = int(datetime(yesterday.year, yesterday.month, yesterday.day, 9,
                            tzinfo=UTC).timestamp() * 1000)
        people = ("ana@example.com", "bo@example.com", "cy@example.com", "ana@example.com")
        for i, email in enumerate(people):
            fake.add_event(base + i * 600_000, email, "claude-4.5-sonnet",
                           input=40_000 * (i + 1), output=3_000, cache_read=120_000,
                           total_cents=Decimal("12.5") * (i + 1))
        yield fake


def seed(app, cursor_url: str) -> int:
    """Demo usage plus accounts in the states an admin meets: one to sync, one parked,
    a Cursor seat with its plan details."""
    now = datetime.now(UTC)
    with app.app_context():
        seed_demo(people=12, days=45)
        accounts_service.add_account("cursor", "cursor-team", {"api_key": DEFAULT_KEY},
                                     {"base_url": cursor_url})
        parked = Account(provider="anthropic", name="claude-legacy", status="auth_expired",
                         status_detail="Anthropic Admin API: HTTP 401 (invalid x-api-key); "
                                       "the admin key was revoked or expired",
                         credentials_encrypted=accounts_service.encrypt_credentials(
                             {"admin_key": "sk-ant-admin01-old"}),
                         last_success_at=now - timedelta(days=4),
                         last_error_at=now - timedelta(hours=2))
        seat = Account(provider="cursor_session", name="seat-ana",
                       credentials_encrypted=accounts_service.encrypt_credentials(
                           {"cookie": "placeholder"}),
                       last_success_at=now - timedelta(minutes=50))
        db.session.add_all([parked, seat])
        db.session.flush()
        db.session.add_all([
            SyncState(account_id=parked.id, synced_through=now - timedelta(days=4),
                      synced_from=(now - timedelta(days=40)).date(), backfill_status="complete",
                      backfill_oldest_day=(now - timedelta(days=120)).date()),
            SyncState(account_id=seat.id, synced_through=now - timedelta(minutes=50),
                      synced_from=(now - timedelta(days=20)).date(), backfill_status="running",
                      backfill_oldest_day=(now - timedelta(days=50)).date(),
                      backfill_target_day=(now - timedelta(days=110)).date()),
            SyncRun(kind="sync", account_id=parked.id, status="failed",
                    started_at=now - timedelta(hours=2), finished_at=now - timedelta(hours=2),
                    error="Anthropic Admin API: HTTP 401 (invalid x-api-key)"),
            SyncRun(kind="backfill", account_id=seat.id, status="success", fetched=412,
                    inserted=398, updated=14, started_at=now - timedelta(minutes=52),
                    finished_at=now - timedelta(minutes=50),
                    window_start=now - timedelta(days=51), window_end=now - timedelta(days=49)),
        ])
        cycle = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        for kind, key, data in (
            ("summary", "", {"membership_type": "pro",
                             "billing_cycle_start": cycle.isoformat(),
                             "billing_cycle_end": (cycle + timedelta(days=31)).isoformat()}),
            ("hard_limit", "", {"hard_limit_usd": "$150.00", "unlimited": False,
                                "no_usage_based_allowed": False}),
            ("invoice", f"{cycle:%Y-%m}", {"total_usd": "$42.80"}),
            ("session", "", {"expires_at": (now + timedelta(days=40)).isoformat()}),
            ("profile", "", {"email": "ana@example.com"}),
        ):
            db.session.add(AccountSnapshot(account_id=seat.id, kind=kind, key=key, data=data))
        db.session.commit()
        return db.session.execute(
            db.select(Account.id).where(Account.name == "cursor-team")).scalar()


def test_sync_now_and_csv_upload_with_live_progress(app, live_server, page, worker,
                                                    cursor_api, tmp_path):
    team_id = seed(app, cursor_api.url)

    dev_sign_in(page, live_server, "/status")

    banner = page.get_by_role("alert")
    assert "1 account needs attention" in banner.inner_text()
    assert "claude-legacy" in banner.inner_text()

    # Sync now on the Cursor team account: the job appears, polls, and ends with its result.
    card = page.locator(f"#account-{team_id}")
    card.get_by_role("button", name="Sync now cursor-team").click()
    job = page.locator("#jobs .job-card").first
    job.wait_for()
    assert "cursor-team" in job.inner_text()
    finished = page.locator("#jobs .job-card[data-job-state='finished']")
    finished.wait_for(timeout=JOB_TIMEOUT_MS)
    result = finished.inner_text()
    assert "success" in result
    assert "4 fetched, 4 new" in result.replace("\xa0", " ")

    # The status body refreshed itself: the run and the account's new state are there.
    run = page.locator("#runs tr", has_text="cursor-team")
    run.wait_for(timeout=10_000)
    assert "success" in run.inner_text()
    page.locator(f"#account-{team_id}", has_text="just now").wait_for(timeout=10_000)

    # Backfill walks back day by day; the fake has no older usage, so it ends after the
    # empty days in a row that mean "history ends here".
    page.locator(f"#account-{team_id}").get_by_role("button", name="Backfill cursor-team").click()
    backfill = page.locator("#jobs .job-card[data-job-state='finished']", has_text="Backfill")
    backfill.wait_for(timeout=JOB_TIMEOUT_MS)
    assert "history ends there" in backfill.inner_text()
    page.locator(f"#account-{team_id} .backfill", has_text="complete").wait_for(timeout=10_000)
    assert page.locator("#jobs .job-card").count() == 2

    shoot_views(page, "status")
    page.emulate_media(color_scheme="light")

    # Upload a Cursor export and watch the import finish.
    header = VARIANTS["v3-team"]
    export = write_csv(tmp_path / "cursor-usage-export.csv", header, variant_rows(header))
    page.get_by_role("link", name="Upload a Cursor CSV").click()
    page.wait_for_url(live_server + "/admin/upload")
    page.get_by_label("CSV file").set_input_files(str(export))
    page.get_by_label("Account").fill("cursor-exports")
    page.get_by_role("button", name="Upload and import").click()
    done = page.locator("#jobs .job-card[data-job-state='finished']")
    done.wait_for(timeout=JOB_TIMEOUT_MS)
    text = done.inner_text().replace("\xa0", " ")
    assert "Imported 5 rows into account cursor-exports: 5 new" in text
    page.locator("#import-runs tr", has_text="cursor-usage-export.csv").wait_for(timeout=10_000)
    assert page.get_by_label("CSV file").input_value() == ""  # the form was reset

    shoot(page, "upload")
    assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
    assert page.problems == []
