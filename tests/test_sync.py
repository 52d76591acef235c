"""The sync engine end to end: fake provider servers over real HTTP, real PostgreSQL/Redis.

Each test drives what a user drives (the `flask abacus` commands, the scheduler's jobs) and
checks what a user would see: exact totals, nothing doubled, revisions logged, accounts
parked with an alert when their credentials are refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from abacus.config import parse_keys
from abacus.extensions import db
from abacus.models import Account, ChangeLog, SyncRun, SyncState, UsageDaily, UsageEvent
from abacus.providers.testing import FakeServer, Reply
from abacus.sync import accounts as accounts_service
from abacus.sync.engine import account_lock, backfill_account, sync_account
from tests.fakes.anthropic import CLAUDE_CODE_PATH, FakeAnthropic, error_body
from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin
from tests.fakes.cursor_dashboard import FakeCursorDashboard
from tests.helpers import invoke

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "sk-ant-admin01-test"
D1, D2, D3 = date(2025, 9, 7), date(2025, 9, 8), date(2025, 9, 9)


pytestmark = pytest.mark.http_retries(2)  # fewer retries, faster failures


@pytest.fixture
def configure(configure):
    """conftest's `configure`, with no pause between Cursor requests."""
    configure(cursor_min_request_interval=0.0)
    return configure


@pytest.fixture
def anthropic():
    with FakeAnthropic(admin_keys=(ADMIN_KEY,)) as fake:
        yield fake


@pytest.fixture
def cursor():
    with FakeCursorAdmin() as fake:
        yield fake


class FakeWebhook(FakeServer):
    def __init__(self):
        super().__init__()
        self.route("POST", "/hook", lambda req: Reply(200, {"ok": True}))

    @property
    def texts(self) -> list[str]:
        return [r.json()["text"] for r in self.requests_to("/hook")]


@pytest.fixture
def webhook(configure):
    with FakeWebhook() as fake:
        configure(alert_webhook_url=f"{fake.url}/hook")
        yield fake


def make_account(provider: str, name: str, creds: dict, url: str, **settings) -> Account:
    account = accounts_service.add_account(provider, name, creds, {"base_url": url, **settings})
    db.session.commit()
    return account


def seed_anthropic(fake: FakeAnthropic) -> Decimal:
    """Two people, a mapped CI key, an unmapped key; returns the exact USD total."""
    fake.add_user("user_1", "bob@example.com", "Bob")
    fake.add_api_key("apikey_1", "ci-bot", "user_1")
    fake.add_claude_code(D1, actor_email="alice@example.com",
                         models=[("claude-sonnet-4-5-20250929", 100000, 35000, 10000, 5000, 1025),
                                 ("claude-opus-4-1-20250805", 2000, 100, 0, 0, 77)])
    fake.add_claude_code(D1, api_key_name="ci-bot",
                         models=[("claude-3-5-haiku-20241022", 23100, 5680, 3420, 890,
                                  Decimal("42.5"))])
    fake.add_claude_code(D2, actor_email="alice@example.com", date_format="date",
                         models=[("claude-sonnet-4-5-20250929", 5000, 100, 0, 0, 9)])
    fake.add_claude_code(D2, api_key_name="orphan-key",
                         models=[("claude-sonnet-4-5-20250929", 1000, 10, 0, 0, 300)])
    return (Decimal(1025) + 77 + Decimal("42.5") + 9 + 300) / 100


def total_cost(account_id: int | None = None) -> Decimal:
    query = select(func.coalesce(func.sum(UsageDaily.cost_usd), 0))
    if account_id is not None:
        query = query.where(UsageDaily.account_id == account_id)
    db.session.expire_all()
    return db.session.execute(query).scalar()


# --- Claude Code -----------------------------------------------------------------------------

def test_claude_code_sync_lands_exact_totals_and_attributes_api_keys(ctx, runner, configure,
                                                                     anthropic):
    expected = seed_anthropic(anthropic)
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    result = invoke(runner, "sync", "anthropic", "--from", D1.isoformat(), "--to",
                    D2.isoformat())
    assert result.exit_code == 0, result.output
    assert "5 new" in result.output
    assert total_cost(account.id) == expected
    by_actor = dict(db.session.execute(
        select(UsageEvent.actor, UsageEvent.email).distinct()).all())
    assert by_actor["ci-bot"] == "bob@example.com"  # key → creator, via the directory
    assert by_actor["orphan-key"] is None  # kept under its key name, not dropped
    assert by_actor["alice@example.com"] == "alice@example.com"
    # Activity metrics are kept once per actor-day.
    lines = db.session.execute(text(
        "SELECT sum((extras->'core_metrics'->'lines_of_code'->>'added')::int) "
        "FROM usage_events WHERE actor = 'alice@example.com' AND day = :d"), {"d": D1}).scalar()
    assert lines == 120
    # One request per day (plus the directory), each day asked for exactly once.
    assert len(anthropic.report_requests(D1.isoformat())) == 1
    assert len(anthropic.report_requests(D2.isoformat())) == 1


def test_resync_changes_nothing_and_revisions_are_logged(ctx, runner, configure, anthropic):
    seed_anthropic(anthropic)
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    args = ("sync", "anthropic", "--from", D1.isoformat(), "--to", D2.isoformat())
    assert invoke(runner, *args).exit_code == 0
    again = invoke(runner, *args)
    assert "0 new, 0 updated, 5 unchanged" in again.output
    assert db.session.execute(select(func.count(ChangeLog.id))).scalar() == 0

    # Anthropic revises alice's D2 cost from 9 to 12 cents.
    record = anthropic.claude_code[D2.isoformat()][0]
    record["model_breakdown"][0]["estimated_cost"]["amount"] = 12
    revised = invoke(runner, *args)
    assert "0 new, 1 updated" in revised.output
    assert total_cost(account.id) == (Decimal(1025) + 77 + Decimal("42.5") + 12 + 300) / 100
    change = db.session.execute(select(ChangeLog)).scalar_one()
    assert (change.field, Decimal(change.old_value), Decimal(change.new_value)) == \
        ("cost_usd", Decimal("0.09"), Decimal("0.12"))


def test_an_account_proxy_carries_its_requests(ctx, runner, configure, anthropic):
    """The fake doubles as an HTTP proxy: requests for an unreachable host reach it only
    through the account's proxy setting."""
    seed_anthropic(anthropic)
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY},
                           "http://api.anthropic.invalid", proxy_url=anthropic.url)
    outcome = sync_account(account.id, first=D1, last=D1)
    assert outcome.status == "success", outcome.message
    assert anthropic.report_requests(D1.isoformat())
    accounts_service.update_settings(account, {"proxy_url": None})
    db.session.commit()
    failed = sync_account(account.id, first=D1, last=D1)
    assert failed.status == "failed" and "could not connect" in failed.message


def test_incremental_sync_advances_and_rereads_recent_days(ctx, runner, configure, anthropic):
    today = datetime.now(UTC).date()
    anthropic.add_claude_code(today - timedelta(days=1), actor_email="a@example.com",
                              models=[("claude-sonnet-4-5-20250929", 10, 10, 0, 0, 5)])
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    assert invoke(runner, "sync", "anthropic").exit_code == 0
    state = db.session.get(SyncState, account.id)
    assert state.synced_through > datetime.now(UTC) - timedelta(minutes=1)
    assert state.synced_from == today - timedelta(days=1)
    # Late data for yesterday arrives; the next incremental run re-reads recent days.
    anthropic.add_claude_code(today - timedelta(days=1), actor_email="b@example.com",
                              models=[("claude-sonnet-4-5-20250929", 1, 1, 0, 0, 7)])
    assert invoke(runner, "sync", "anthropic").exit_code == 0
    assert total_cost(account.id) == Decimal("0.12")


# --- Cursor team -----------------------------------------------------------------------------

def _ms(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp()
               * 1000)


def seed_cursor(fake: FakeCursorAdmin) -> Decimal:
    fake.add_member(1, "dev@example.com", "Dev")
    fake.add_event(_ms(D1, 9), "dev@example.com", "claude-4.5-sonnet", input=126, output=450,
                   cache_write=6112, cache_read=11964, total_cents=Decimal("20.18232"),
                   charged_cents=Decimal("21.36232"))
    fake.add_event(_ms(D1, 10), "dev@example.com", "default", input=100, output=10,
                   total_cents=Decimal("0.5"))
    # Request-based: no tokens at all, still a charge; must be stored.
    fake.add_event(_ms(D2, 0), "admin@example.com", "claude-4-sonnet-thinking",
                   kind="Included in Business", token_based=False, charged_cents=8)
    fake.add_event(_ms(D3, 23, 59), "dev@example.com", "gpt-5", input=5, output=5,
                   charged_cents=Decimal("1.1"))
    return (Decimal("21.36232") + Decimal("0.5") + 8 + Decimal("1.1")) / 100


def test_cursor_sync_keeps_every_event_and_matches_the_csv_export(ctx, runner, configure,
                                                                  cursor, tmp_path):
    expected = seed_cursor(cursor)
    cursor.max_page_size = 2  # several pages per day
    account = make_account("cursor", "team", {"api_key": DEFAULT_KEY}, cursor.url)
    result = invoke(runner, "sync", "cursor", "--from", D1.isoformat(), "--to", D3.isoformat())
    assert result.exit_code == 0, result.output
    events = db.session.execute(select(func.count(UsageEvent.id))).scalar()
    assert events == 4
    # NUMERIC(14, 6) keeps USD to the millionth: 0.2136232 is stored as 0.213623.
    assert abs(total_cost(account.id) - expected) < Decimal("0.000001")
    # The same events exported as CSV (auto for default, dollars) add nothing.
    csv = tmp_path / "export.csv"
    csv.write_text(
        "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),"
        "Cache Read,Output Tokens,Total Tokens,Cost\n"
        f"{datetime.fromtimestamp(_ms(D1, 10) / 1000, UTC).isoformat().replace('+00:00', 'Z')}"
        ",dev@example.com,Usage-based,auto,No,0,100,0,10,110,0.01\n")
    imported = invoke(runner, "import", "cursor-csv", str(csv), "--account", "team")
    assert imported.exit_code == 0, imported.output
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar() == 4
    assert invoke(runner, "sync", "cursor", "--from", D1.isoformat(), "--to",
                  D3.isoformat()).exit_code == 0
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar() == 4


# --- Cursor seats ----------------------------------------------------------------------------

def test_cursor_seat_sync_by_cookie_stores_usage_and_account_details(ctx, runner, configure,
                                                                     tmp_path, webhook):
    with FakeCursorDashboard() as fake:
        seat = fake.add_seat(email="pro@example.com",
                             exp=datetime.now(UTC) + timedelta(days=5))
        seat.add_event(_ms(D1, 8), "claude-4.5-sonnet", input=10, output=20,
                       total_cents=Decimal("3.0723"), charged_cents=Decimal("4.4749"))
        seat.add_event(_ms(D1, 9), "default", kind="USAGE_EVENT_KIND_ERRORED_NOT_CHARGED")
        seat.set_invoice([("59 token-based usage calls to claude-4-sonnet-thinking", 465)])
        cookie = tmp_path / "cookie.txt"
        cookie.write_text(f"Cookie: WorkosCursorSessionToken={seat.cookie}; other=1\n")
        added = invoke(runner, "accounts", "add", "cursor-session", "--name", "pro-seat",
                       "--cookie-file", str(cookie), "--base-url", fake.url)
        assert added.exit_code == 0, added.output
        account = accounts_service.find_account("pro-seat")
        accounts_service.update_settings(account, {"min_request_interval": 0})
        db.session.commit()
        with pytest.MonkeyPatch.context() as mp:  # the fake checks Origin against itself
            mp.setattr(fake, "origin", fake.url)
            result = invoke(runner, "sync", "cursor-session", "--from", D1.isoformat(),
                            "--to", D1.isoformat())
        assert result.exit_code == 0, result.output
        assert total_cost(account.id) == Decimal("0.044749")  # errored costs nothing
        emails = set(db.session.execute(select(UsageEvent.email)).scalars())
        assert emails == {"pro@example.com"}  # owner learnt from the profile
        status = json.loads(invoke(runner, "status", "--json").output)
        (row,) = status["accounts"]
        assert (row["provider"], row["name"], row["tool"], row["status"]) == \
            ("cursor_session", "pro-seat", "cursor", "active")
        assert row["last_success_at"] and row["last_error"] is None
        assert row["backfill"] == "pending"
        details = row["details"]
        assert "summary" in details and "hard_limit" in details
        assert any(k.startswith("invoice") for k in details)
        assert seat.cookie not in json.dumps(status)
        # The cookie expires in 5 days: one alert, not one per sync.
        assert len(webhook.texts) == 1 and "expires on" in webhook.texts[0]
        invoke(runner, "sync", "cursor-session", "--days", "1")
        assert len(webhook.texts) == 1
        stored = accounts_service.decrypt_credentials(account)["cookie"]
        assert stored == seat.cookie  # the bare value, not the pasted header
        text_status = invoke(runner, "status").output
        assert "pro-seat" in text_status and seat.cookie not in text_status


@pytest.mark.parametrize("fault", [
    {"status": 500, "body": {"error": "boom"}, "times": 50},  # outlasts the retries
    {"status": 200, "body": "{not json", "content_type": "application/json", "times": 50},
])
def test_a_failed_detail_call_keeps_the_others_and_the_cookie_alert_is_sent_once(
        ctx, runner, configure, webhook, fault):
    """usage-summary failing after the cookie warning was fetched: the session and profile
    details are stored, and the "expires soon" alert goes out once, not on every sync."""
    with FakeCursorDashboard() as fake:
        seat = fake.add_seat(email="pro@example.com",
                             exp=datetime.now(UTC) + timedelta(days=5))
        account = make_account("cursor_session", "pro-seat", {"cookie": seat.cookie},
                               fake.url, min_request_interval=0)
        with pytest.MonkeyPatch.context() as mp:  # the fake checks Origin against itself
            mp.setattr(fake, "origin", fake.url)
            fake.fail_next(path="/api/usage-summary", **fault)
            for _ in range(3):
                result = invoke(runner, "sync", "cursor-session", "--days", "1")
                assert result.exit_code == 0, result.output
        assert len(webhook.texts) == 1 and "expires on" in webhook.texts[0]
        (row,) = json.loads(invoke(runner, "status", "--json").output)["accounts"]
        assert row["details"]["session"]["warning"].startswith("the session cookie expires")
        assert row["details"]["profile"]["email"] == "pro@example.com"
        assert "summary" not in row["details"]  # the failed call stored nothing half-read
        runs = db.session.execute(select(SyncRun).where(SyncRun.account_id == account.id)
                                  .order_by(SyncRun.id)).scalars().all()
        assert all("account details not refreshed" in r.details["warnings"][0] for r in runs)


# --- account states ------------------------------------------------------------------------

def test_revoked_key_parks_the_account_alerts_and_stops_polling(ctx, runner, configure,
                                                                anthropic, webhook, caplog):
    seed_anthropic(anthropic)
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    anthropic.revoke(ADMIN_KEY)
    result = invoke(runner, "sync", "anthropic", "--days", "2")
    assert result.exit_code == 1
    db.session.refresh(account)
    assert account.status == "auth_expired"
    assert "401" in account.last_error
    assert len(webhook.texts) == 1 and "acme" in webhook.texts[0]
    seen = len(anthropic.requests)
    again = invoke(runner, "sync", "anthropic", "--days", "2")
    assert "skipped" in again.output and "credentials were refused" in again.output
    assert len(anthropic.requests) == seen  # no further requests to that account
    assert len(webhook.texts) == 1  # and no second alert
    for output in (result.output, again.output, caplog.text,
                   invoke(runner, "status", "--json").output,
                   invoke(runner, "accounts", "list").output):
        assert ADMIN_KEY not in output

    # New credentials un-park it.
    anthropic.admin_keys.add("sk-ant-admin01-new")
    key_file = Path(ctx.instance_path) / "new-key"
    key_file.write_text("sk-ant-admin01-new\n")
    assert invoke(runner, "accounts", "set-credentials", "acme", "--key-file",
                  str(key_file)).exit_code == 0
    db.session.refresh(account)
    assert account.status == "active"
    assert invoke(runner, "sync", "anthropic", "--from", D1.isoformat(), "--to",
                  D2.isoformat()).exit_code == 0


def test_rate_limit_storm_backs_off_then_marks_rate_limited(ctx, runner, configure, cursor):
    seed_cursor(cursor)
    account = make_account("cursor", "team", {"api_key": DEFAULT_KEY}, cursor.url)
    cursor.fail_next(429, {"error": "Too Many Requests", "message": "Rate limit exceeded."},
                     times=50, path="/teams/filtered-usage-events")
    result = invoke(runner, "sync", "cursor", "--from", D1.isoformat(), "--to", D1.isoformat())
    assert result.exit_code == 1
    # The session retried (backoff) before giving up: 1 try + 2 retries.
    assert len(cursor.requests_to("/teams/filtered-usage-events")) == 3
    db.session.refresh(account)
    assert account.status == "rate_limited"
    assert account.next_attempt_at > datetime.now(UTC) + timedelta(minutes=10)
    # The scheduler leaves it alone until then; an explicit run tries again.
    outcome = sync_account(account.id, scheduled=True)
    assert outcome.status == "skipped" and "rate limited until" in outcome.message
    cursor.faults.clear()
    assert invoke(runner, "sync", "cursor", "--from", D1.isoformat(), "--to",
                  D1.isoformat()).exit_code == 0
    db.session.refresh(account)
    assert account.status == "active" and account.next_attempt_at is None


def test_a_run_stopped_inside_the_overlap_goes_on_from_there(ctx, configure, anthropic):
    # At org scale one overlap can cost more requests than an hour's quota: a run cut off
    # by the limit must not start the overlap again next time, or it never gets past it.
    today = datetime.now(UTC).date()
    for back in (3, 2, 1):
        anthropic.add_claude_code(today - timedelta(days=back), actor_email="a@example.com",
                                  models=[("claude-sonnet-4-5-20250929", 10, 10, 0, 0, back)])
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    assert sync_account(account.id).status == "success"
    state = db.session.get(SyncState, account.id)
    assert state.overlap_through is None
    synced = state.synced_through

    cut = (today - timedelta(days=1)).isoformat()
    real = anthropic._dispatch

    def quota_gone(request):  # the quota runs out at yesterday's report, for an hour
        if request.path == CLAUDE_CODE_PATH and request.arg("starting_at", "") >= cut:
            return Reply(429, error_body("rate_limit_error", "Rate limit exceeded"),
                         {"retry-after": "3600"})
        return real(request)

    anthropic._dispatch = quota_gone
    outcome = sync_account(account.id)
    assert outcome.status == "partial"  # the days before the cut are stored
    db.session.refresh(state)
    # The overlap's first days are stored, and so is where the run stopped.
    assert state.overlap_through == datetime(today.year, today.month, today.day, tzinfo=UTC
                                             ) - timedelta(days=1)
    assert state.synced_through == synced

    anthropic._dispatch = real
    anthropic.requests.clear()
    assert sync_account(account.id).status == "success"
    asked = sorted({r.arg("starting_at") for r in anthropic.report_requests()})
    assert asked[0] == cut  # went on from yesterday, did not re-read the days before
    db.session.refresh(state)
    assert state.overlap_through is None and state.synced_through > synced
    assert total_cost(account.id) == Decimal("0.06")  # 3 + 2 + 1 cents: each day once


def test_long_retry_after_parks_until_then_without_waiting(ctx, configure, anthropic):
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    anthropic.rate_limit(times=5, retry_after="3600")
    started = time.monotonic()
    outcome = sync_account(account.id, first=D1, last=D1)
    assert time.monotonic() - started < 5
    assert outcome.status == "failed"
    db.session.refresh(account)
    assert account.status == "rate_limited"
    assert account.next_attempt_at > datetime.now(UTC) + timedelta(minutes=55)


def test_other_failures_mark_error_with_the_message(ctx, configure, anthropic, webhook):
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    anthropic.fail_next(500, {"type": "error", "error": {"type": "api_error",
                                                         "message": "Internal"}}, times=20)
    outcome = sync_account(account.id, first=D1, last=D1)
    assert outcome.status == "failed"
    db.session.refresh(account)
    assert account.status == "error" and "HTTP 500" in account.last_error
    assert len(webhook.texts) == 1
    run = db.session.execute(select(SyncRun)).scalar_one()
    assert run.status == "failed" and "500" in run.error


# --- concurrency and crashes -----------------------------------------------------------------

def test_two_workers_on_one_account_only_one_runs(app, ctx, configure, cursor):
    seed_cursor(cursor)
    account = make_account("cursor", "team", {"api_key": DEFAULT_KEY}, cursor.url)
    cursor.delay = 0.3
    outcomes = []

    def worker():
        with app.app_context():
            outcomes.append(sync_account(account.id, first=D1, last=D3))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    threads[0].start()
    time.sleep(0.15)
    threads[1].start()
    for t in threads:
        t.join(30)
    statuses = sorted(o.status for o in outcomes)
    assert statuses == ["skipped", "success"]
    assert "another worker" in next(o.message for o in outcomes if o.status == "skipped")
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar() == 4


def test_lock_is_held_per_account(ctx, configure, cursor):
    a = make_account("cursor", "team-a", {"api_key": DEFAULT_KEY}, cursor.url)
    b = make_account("cursor", "team-b", {"api_key": DEFAULT_KEY}, cursor.url)
    with account_lock(a.id) as got:
        assert got
        assert sync_account(a.id, first=D1, last=D1).status == "skipped"
        assert sync_account(b.id, first=D1, last=D1).status == "success"


def test_worker_killed_mid_sync_loses_and_duplicates_nothing(app, app_env, ctx, runner,
                                                           configure, cursor):
    days = [D1 + timedelta(days=i) for i in range(6)]
    for i, day in enumerate(days):
        for h in range(3):
            cursor.add_event(_ms(day, h * 5), f"u{h}@example.com", "gpt-5", input=10 + i,
                             output=h, charged_cents=Decimal(i * 10 + h))
    expected = sum(Decimal(i * 10 + h) for i in range(6) for h in range(3)) / 100
    account = make_account("cursor", "team", {"api_key": DEFAULT_KEY}, cursor.url)
    cursor.delay = 0.25
    env = {**os.environ, **app_env, "CURSOR_MIN_REQUEST_INTERVAL": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "abacus:create_app", "abacus", "sync",
         "cursor", "--from", days[0].isoformat(), "--to", days[-1].isoformat()],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until some windows are committed
        db.session.rollback()
        if db.session.execute(select(func.count(UsageEvent.id))).scalar() >= 6:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    db.session.rollback()
    stored = db.session.execute(select(func.count(UsageEvent.id))).scalar()
    assert 6 <= stored < 18, "the kill should land mid-sync"
    assert stored % 3 == 0  # whole days only: a window commits with its data or not at all

    cursor.delay = 0
    result = invoke(runner, "sync", "cursor", "--from", days[0].isoformat(), "--to",
                    days[-1].isoformat())
    assert result.exit_code == 0, result.output
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar() == 18
    assert total_cost(account.id) == expected
    covered = set(db.session.execute(select(UsageDaily.day).distinct()).scalars())
    assert covered == set(days)  # no gaps
    runs = db.session.execute(select(SyncRun).order_by(SyncRun.id)).scalars().all()
    assert runs[0].status == "interrupted" and "worker stopped" in runs[0].error


# --- backfill and gaps ---------------------------------------------------------------------

def test_empty_history_backfill_completes_and_does_not_loop(ctx, runner, configure, anthropic):
    configure(backfill_empty_days=3, cursor_min_request_interval=0.0)
    make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    result = invoke(runner, "backfill", "anthropic")
    assert result.exit_code == 0, result.output
    assert "complete" in invoke(runner, "status").output
    assert len(anthropic.report_requests()) == 3
    again = invoke(runner, "backfill", "anthropic")
    assert "backfill is complete" in again.output
    assert len(anthropic.report_requests()) == 3


def test_backfill_walks_back_resumably_to_the_target(ctx, runner, configure, anthropic):
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=i) for i in range(1, 6)]
    for i, day in enumerate(days):
        anthropic.add_claude_code(day, actor_email="a@example.com",
                                  models=[("claude-sonnet-4-5-20250929", 10, 10, 0, 0, i + 1)])
    account = make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    # A scheduled job with no time left does one day, then pauses.
    first = backfill_account(account.id, target=days[-1], deadline=time.monotonic())
    assert first.status == "success" and "paused" in first.message
    state = db.session.get(SyncState, account.id)
    assert state.backfill_status == "pending" and state.backfill_oldest_day == today
    result = invoke(runner, "backfill", "anthropic", "--from", days[-1].isoformat())
    assert result.exit_code == 0, result.output
    db.session.refresh(state)
    assert state.backfill_status == "complete" and state.backfill_oldest_day == days[-1]
    assert total_cost(account.id) == Decimal(1 + 2 + 3 + 4 + 5) / 100
    for day in [today, *days]:  # every day fetched exactly once
        assert len(anthropic.report_requests(day.isoformat())) == 1
    assert invoke(runner, "backfill-reset", "anthropic").exit_code == 0
    db.session.refresh(state)
    assert state.backfill_status == "pending" and state.backfill_oldest_day is None
    assert invoke(runner, "backfill-complete", "anthropic").exit_code == 0
    db.session.refresh(state)
    assert state.backfill_status == "complete"


def test_gaps_lists_days_without_usage(ctx, runner, configure, cursor):
    cursor.add_event(_ms(D1, 9), "dev@example.com", "gpt-5", input=1, charged_cents=1)
    cursor.add_event(_ms(D3, 9), "dev@example.com", "gpt-5", input=1, charged_cents=1)
    make_account("cursor", "team", {"api_key": DEFAULT_KEY}, cursor.url)
    assert invoke(runner, "sync", "cursor", "--from", D1.isoformat(), "--to",
                  D3.isoformat()).exit_code == 0
    out = invoke(runner, "gaps").output
    assert f"cursor/team: {D2.isoformat()} (1 day(s) without usage)" in out


# --- identities ----------------------------------------------------------------------------

def test_assigning_a_key_re_attributes_past_usage(ctx, runner, configure, anthropic):
    seed_anthropic(anthropic)
    make_account("anthropic", "acme", {"admin_key": ADMIN_KEY}, anthropic.url)
    invoke(runner, "sync", "anthropic", "--from", D1.isoformat(), "--to", D2.isoformat())
    listing = invoke(runner, "mappings", "list").output
    assert "ci-bot" in listing and "bob@example.com" in listing
    assert "orphan-key" in listing and "(unmapped)" in listing
    result = invoke(runner, "mappings", "assign", "orphan-key", "Carol@Example.com")
    assert result.exit_code == 0 and "1 event(s) re-attributed" in result.output
    carol = db.session.execute(select(func.sum(UsageDaily.cost_usd))
                               .where(UsageDaily.email == "carol@example.com")).scalar()
    assert carol == Decimal("3.00")
    # A later directory sync does not undo an admin's assignment.
    anthropic.add_api_key("apikey_2", "orphan-key", "user_1")
    assert invoke(runner, "mappings", "sync", "anthropic").exit_code == 0
    assert db.session.execute(select(UsageEvent.email)
                              .where(UsageEvent.actor == "orphan-key")).scalar() == \
        "carol@example.com"


# --- accounts from the environment ---------------------------------------------------------

def test_env_accounts_have_stable_names_and_encrypted_keys(ctx, configure):
    configure(anthropic_admin_keys=parse_keys("X", "sk-ant-admin01-aaa, main=sk-ant-admin01-bbb",
                                              "anthropic"),
              cursor_admin_keys=parse_keys("X", "key_" + "1" * 64, "cursor"))
    first = {a.name: a.id for a in accounts_service.ensure_env_accounts()}
    assert "main" in first and len(first) == 3
    assert any(n.startswith("anthropic-") for n in first)
    assert any(n.startswith("cursor-") for n in first)
    # Reordered keys keep their accounts (names come from the keys, not positions).
    configure(anthropic_admin_keys=parse_keys("X", "main=sk-ant-admin01-bbb,sk-ant-admin01-aaa",
                                              "anthropic"))
    again = {a.name: a.id for a in accounts_service.ensure_env_accounts()}
    assert {n: i for n, i in again.items()} == {n: first[n] for n in again}
    main = accounts_service.find_account("main")
    assert b"sk-ant-admin01-bbb" not in main.credentials_encrypted
    assert accounts_service.decrypt_credentials(main) == {"admin_key": "sk-ant-admin01-bbb"}
    assert "sk-ant" not in repr(main) and "sk-ant" not in repr(ctx.config["ABACUS"])
    # A rotated key under the same name replaces the stored one and un-parks the account.
    main.status = "auth_expired"
    db.session.commit()
    configure(anthropic_admin_keys=(("main", "sk-ant-admin01-ccc"),))
    accounts_service.ensure_env_accounts()
    db.session.refresh(main)
    assert main.status == "active"
    assert accounts_service.decrypt_credentials(main)["admin_key"] == "sk-ant-admin01-ccc"


def test_an_explicit_encryption_key_still_reads_older_credentials(ctx, configure):
    from cryptography.fernet import Fernet

    account = make_account("cursor", "team", {"api_key": DEFAULT_KEY}, "http://127.0.0.1:9")
    configure(encryption_keys=(Fernet.generate_key().decode(),))
    assert accounts_service.decrypt_credentials(account) == {"api_key": DEFAULT_KEY}
    configure(encryption_keys=("not-a-key",))
    with pytest.raises(accounts_service.AccountError, match="ABACUS_ENCRYPTION_KEY: key 1"):
        accounts_service.decrypt_credentials(account)


def test_rotating_the_encryption_key(ctx, runner, configure):
    from cryptography.fernet import Fernet

    account = make_account("cursor", "team", {"api_key": DEFAULT_KEY}, "http://127.0.0.1:9")
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    configure(encryption_keys=(old,))
    assert invoke(runner, "accounts", "rotate-key").exit_code == 0  # derived key → old
    configure(encryption_keys=(new, old))
    result = invoke(runner, "accounts", "rotate-key")
    assert result.exit_code == 0 and "1 account(s) re-encrypted" in result.output
    configure(encryption_keys=(new,))
    db.session.refresh(account)
    assert accounts_service.decrypt_credentials(account) == {"api_key": DEFAULT_KEY}
    configure(encryption_keys=(Fernet.generate_key().decode(),))
    # Only the SECRET_KEY-derived key is left besides a stranger: not readable any more.
    with pytest.raises(accounts_service.CredentialsUnreadable):
        accounts_service.decrypt_credentials(account)


# --- schedule and jobs ---------------------------------------------------------------------

def test_scheduler_registers_the_schedule_idempotently(ctx, configure):
    from rq_scheduler import Scheduler

    from abacus.extensions import redis_connection
    from abacus.jobs import register_schedules, schedules

    scheduler = Scheduler(queue_name="default", connection=redis_connection())
    ids = register_schedules(scheduler, schedules(ctx.config["ABACUS"]))
    assert ids == ["abacus-schedule-access-log", "abacus-schedule-backfill",
                   "abacus-schedule-budgets",
                   "abacus-schedule-sync-anthropic",
                   "abacus-schedule-sync-codex", "abacus-schedule-sync-copilot",
                   "abacus-schedule-sync-cursor", "abacus-schedule-sync-cursor_session",
                   "abacus-schedule-sync-openai", "abacus-schedule-sync-openrouter"]
    crons = {j.id: j.meta["cron_string"] for j in scheduler.get_jobs()}
    assert crons["abacus-schedule-sync-cursor"] == "0 * * * *"
    assert crons["abacus-schedule-sync-anthropic"] == "0 */6 * * *"
    assert crons["abacus-schedule-sync-cursor_session"] == "30 */2 * * *"
    assert crons["abacus-schedule-sync-openai"] == "20 */6 * * *"
    assert crons["abacus-schedule-sync-codex"] == "50 */6 * * *"
    assert crons["abacus-schedule-sync-copilot"] == "20 */6 * * *"
    assert crons["abacus-schedule-sync-openrouter"] == "20 */6 * * *"
    assert crons["abacus-schedule-budgets"] == "10 * * * *"
    assert crons["abacus-schedule-access-log"] == "40 3 * * *"
    register_schedules(scheduler, schedules(ctx.config["ABACUS"]))
    assert len(list(scheduler.get_jobs())) == 10
    configure(schedule_cursor="*/30 * * * *")
    register_schedules(scheduler, schedules(ctx.config["ABACUS"]))
    crons = {j.id: j.meta["cron_string"] for j in scheduler.get_jobs()}
    assert len(crons) == 10 and crons["abacus-schedule-sync-cursor"] == "*/30 * * * *"


def test_scheduled_job_syncs_each_account_in_its_own_job(ctx, configure, cursor):
    from rq import SimpleWorker

    from abacus.extensions import queue, redis_connection
    from abacus.jobs import sync_provider

    seed_cursor(cursor)
    make_account("cursor", "team-a", {"api_key": DEFAULT_KEY}, cursor.url)
    make_account("cursor", "team-b", {"api_key": DEFAULT_KEY}, cursor.url)
    queued = sync_provider("cursor")
    assert sorted(queued) == ["team-a", "team-b"]
    assert sync_provider("cursor") == []  # already queued: not twice
    assert queue().count == 2
    SimpleWorker([queue()], connection=redis_connection()).work(burst=True)
    db.session.expire_all()
    runs = db.session.execute(select(SyncRun)).scalars().all()
    assert sorted(r.status for r in runs) == ["success", "success"]
    assert all(r.job_id for r in runs)
