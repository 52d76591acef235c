"""The Status page, "Sync now" / "Backfill" with job progress, and CSV upload.

Accounts, sync states, runs and snapshots are seeded as rows (they are not usage tables);
usage goes through `ingest`. Jobs run on a real RQ queue with SimpleWorker, against the fake
Cursor Admin API over HTTP.
"""

from __future__ import annotations

import dataclasses
import html
import io
import re
import shutil
import threading
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select, update

from abacus.extensions import db, queue, redis_connection
from abacus.models import (
    Account,
    AccountSnapshot,
    SyncRun,
    SyncState,
    Upload,
    UploadChunk,
    UsageEvent,
)
from abacus.sync import accounts as accounts_service
from abacus.usage import uploads
from abacus.usage.ingest import ingest
from abacus.web.status import ago, problem_rows
from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin
from tests.test_import_cursor_csv import VARIANTS, variant_rows, write_csv
from tests.test_web import csrf_token, record, sign_in, text_of

ADMIN = "admin@example.com"  # ABACUS_ADMINS in the test app
MEMBER = "alice@example.com"
HTMX = {"HX-Request": "true"}
NOW = datetime.now(UTC)


pytestmark = pytest.mark.http_retries(2)  # fewer retries, faster failures


@pytest.fixture
def fast_cursor(app, monkeypatch):
    """Cursor's 3-second request pacing off for this test (settings are frozen: swap)."""
    monkeypatch.setitem(app.config, "ABACUS", dataclasses.replace(
        app.config["ABACUS"], cursor_min_request_interval=0.0))


@pytest.fixture
def rows(app):
    """`with rows():` an app context to seed or read rows and the queue.

    Requests are made outside it: inside an outer app context every request would share its
    `g` (the cached CSRF token and signed-in user), which a browser never does.
    """
    @contextmanager
    def enter():
        with app.app_context():
            yield
            db.session.remove()

    return enter


def run_jobs(app) -> None:
    """Run every queued job in this process (the jobs use this app context)."""
    with app.app_context():
        SimpleWorker([queue()], connection=redis_connection()).work(burst=True)
        db.session.remove()


def queued(app) -> int:
    with app.app_context():
        return queue().count


@pytest.fixture
def cursor():
    with FakeCursorAdmin() as fake:
        yield fake


def admin(client):
    sign_in(client, ADMIN)
    return client


def member(client):
    sign_in(client, MEMBER)
    return client


def token(client) -> str:
    return csrf_token(client.get("/status").get_data(as_text=True))


def account(name: str, provider: str = "anthropic", *, creds: bool = True, **fields) -> Account:
    row = Account(provider=provider, name=name, settings=fields.pop("settings", {}),
                  credentials_encrypted=b"sealed" if creds else None, **fields)
    db.session.add(row)
    db.session.flush()
    return row


def cursor_account(name: str, url: str) -> Account:
    row = accounts_service.add_account("cursor", name, {"api_key": DEFAULT_KEY},
                                       {"base_url": url})
    db.session.commit()
    return row


def seed_cursor_events(fake: FakeCursorAdmin) -> None:
    yesterday = NOW.date() - timedelta(days=1)
    base = int(datetime(yesterday.year, yesterday.month, yesterday.day, 9,
                        tzinfo=UTC).timestamp() * 1000)
    for i, email in enumerate(("ana@example.com", "bo@example.com", "ana@example.com")):
        fake.add_event(base + i * 60_000, email, "claude-4.5-sonnet", input=1000 * (i + 1),
                       output=100, total_cents=Decimal("1.5"))


def table_row(response, needle: str) -> str:
    """Visible text of the first table row (any attributes) whose HTML contains `needle`."""
    for row in re.findall(r"<tr\b[^>]*>.*?</tr>", response.get_data(as_text=True), flags=re.S):
        if needle in row:
            return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", row))).strip()
    raise AssertionError(f"no table row mentions {needle!r}")


def article(response, heading: str) -> str:
    """Visible text of the account card whose heading is `heading`."""
    body = response.get_data(as_text=True)
    for card in re.findall(r"<article class=\"card account-card.*?</article>", body, flags=re.S):
        if re.search(rf">\s*{re.escape(heading)}\s*</h3>", card):
            return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card)).strip()
    raise AssertionError(f"no account card for {heading!r}")


# --- the page --------------------------------------------------------------------------------

def test_every_account_state_is_shown_with_what_it_means(client, rows):
    with rows():
        synced = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
        # Relative to the moment of the test (NOW is taken when the module loads).
        ok = account("claude-main", last_success_at=datetime.now(UTC) - timedelta(minutes=5))
        db.session.add(SyncState(account_id=ok.id, synced_through=synced,
                                 synced_from=date(2026, 3, 1), backfill_status="running",
                                 backfill_oldest_day=date(2026, 2, 9),
                                 backfill_target_day=date(2026, 1, 30)))
        account("claude-old", status="auth_expired",
                status_detail="invalid x-api-key; replace the key",
                last_error="invalid x-api-key")
        account("cursor-team", "cursor", status="rate_limited",
                status_detail="rate limited; next try after 2026-03-10T15:00:00+00:00",
                next_attempt_at=datetime.now(UTC) + timedelta(minutes=40))
        account("cursor-broken", "cursor", status="error", status_detail="HTTP 500 from Cursor")
        account("cursor-off", "cursor", status="disabled", status_detail="disabled by an admin")
        account("csv-only", "cursor", creds=False)
        db.session.commit()

    page = admin(client).get("/status")
    assert page.status_code == 200
    claude = article(page, "claude-main")
    assert "active" in claude and "5 min ago" in claude
    # Claude Code's overlap is 3 days: Mar 10 14:00 − 3 days = Mar 7 (partial), so Mar 6.
    assert "Data complete through Mar 6, 2026" in claude
    # Backfill from Mar 1 back to Jan 30 (30 days), reached Feb 9 (20 days): 66%.
    assert "66%" in claude and "Reached Feb 9, 2026 of target Jan 30, 2026" in claude
    assert 'value="66"' in page.get_data(as_text=True)
    assert "10 days to go" in claude

    expired = article(page, "claude-old")
    assert "auth expired" in expired and "invalid x-api-key; replace the key" in expired
    limited = article(page, "cursor-team")
    assert "rate limited" in limited and "Next try" in limited and "in 39 min" in limited
    assert "HTTP 500 from Cursor" in article(page, "cursor-broken")
    off = article(page, "cursor-off")
    assert "disabled" in off and "Sync now" not in off
    csv = article(page, "csv-only")
    assert "CSV imports only" in csv and "Sync now" not in csv and "Upload a CSV" in csv
    assert "Sync now" in article(page, "claude-main")


def test_banner_says_which_accounts_need_attention_and_what_to_do(client, rows):
    with rows():
        account("fine")
        db.session.commit()
    assert "need attention" not in text_of(admin(client).get("/status"))

    with rows():
        account("claude-old", status="auth_expired", status_detail="invalid x-api-key")
        account("cursor-team", "cursor", status="rate_limited", status_detail="rate limited",
                next_attempt_at=datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
        db.session.commit()
    page = client.get("/status")
    text = text_of(page)
    assert "2 accounts need attention" in text
    assert "claude-old (Claude Code): invalid x-api-key." in text
    assert "flask abacus accounts set-credentials claude-old" in text
    assert "tries again after 2026-03-10 15:00 UTC" in text
    assert 'role="alert"' in page.get_data(as_text=True)


def test_seat_snapshots_show_plan_limit_invoice_and_an_expiring_cookie(client, rows):
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    with rows():
        seat = account("seat-ana", "cursor_session")
        for kind, key, data in (
            ("summary", "", {"membership_type": "pro",
                             "billing_cycle_start": "2026-03-01T00:00:00Z",
                             "billing_cycle_end": "2026-04-01T00:00:00Z"}),
            ("hard_limit", "", {"hard_limit_usd": "$200.00", "no_usage_based_allowed": False,
                                "unlimited": False}),
            ("invoice", "2026-02", {"total_usd": "$20.00"}),
            ("invoice", "2026-03", {"total_usd": "$48.12"}),
            ("session", "", {"expires_at": expires.isoformat()}),
            ("profile", "", {"email": "ana@example.com"}),
        ):
            db.session.add(AccountSnapshot(account_id=seat.id, kind=kind, key=key, data=data))
        db.session.commit()

    page = admin(client).get("/status")
    card = article(page, "seat-ana")
    assert "Plan Pro" in card
    assert "Billing cycle Mar 1 – Apr 1, 2026" in card
    assert "Spend limit $200.00" in card
    assert "Invoice 2026-03 $48.12" in card  # the latest invoice
    assert "Seat ana@example.com" in card
    assert "Cookie expires" in card
    text = text_of(page)
    assert "1 account needs attention" in text
    assert f"the session cookie expires on {expires:%Y-%m-%d %H:%M} UTC" in text
    assert "paste the new session cookie" in text


def test_recent_runs_newest_first_with_counts_and_errors(client, rows):
    with rows():
        acc = account("claude-main")
        start = datetime(2026, 3, 9, tzinfo=UTC)
        db.session.add_all([
            SyncRun(kind="sync", account_id=acc.id, status="success", fetched=12, inserted=10,
                    updated=2, unchanged=0, started_at=NOW - timedelta(hours=2),
                    finished_at=NOW - timedelta(hours=2) + timedelta(seconds=42),
                    window_start=start, window_end=start + timedelta(days=2)),
            SyncRun(kind="backfill", account_id=acc.id, status="failed",
                    started_at=NOW - timedelta(hours=1), finished_at=NOW - timedelta(hours=1),
                    error="Anthropic report: HTTP 500"),
            SyncRun(kind="import", account_id=None, source="export.csv", status="partial",
                    fetched=5, inserted=4, rejected=1, started_at=NOW - timedelta(minutes=3),
                    finished_at=NOW - timedelta(minutes=2)),
        ])
        db.session.commit()
    page = member(client).get("/status")
    ids = re.findall(r'data-run-id="(\d+)"', page.get_data(as_text=True))
    assert len(ids) == 3
    kinds = [table_row(page, f'data-run-id="{i}"').split()[3] for i in ids]
    assert kinds == ["import", "backfill", "sync"]
    sync_row = table_row(page, f'data-run-id="{ids[2]}"')
    assert "2026-03-09 → 2026-03-10" in sync_row and "42 s" in sync_row
    assert "success 12 10 2 0 0" in sync_row
    assert "Anthropic report: HTTP 500" in table_row(page, f'data-run-id="{ids[1]}"')
    assert "partial 5 4 0 0 1" in table_row(page, f'data-run-id="{ids[0]}"')


def test_unmapped_identities_are_listed_with_their_usage(client, rows):
    with rows():
        acc = account("claude-main")
        ingest(acc, [
            record("k1", 1, tool="claude_code", actor="ci-deploy-key", email=None,
                   input_tokens=2_000_000, cost=Decimal("3.25")),
            record("k2", 2, tool="claude_code", actor="ci-deploy-key", email=None,
                   input_tokens=1_000_000, cost=Decimal("1.75")),
            record("k3", 60, tool="claude_code", actor="old-key", email=None, input_tokens=10,
                   cost=Decimal("0.01")),
            record("k4", 1, tool="claude_code", input_tokens=5, cost=Decimal("9")),  # mapped
        ])
        db.session.commit()
    page = member(client).get("/status?days=30")
    row = table_row(page, "ci-deploy-key").split()
    assert row[:6] == ["anthropic", "ci-deploy-key", "2", "3M", "$5.00", "2"]
    # Usage outside the range still lists the identity (nothing hidden), with 0 in range.
    assert table_row(page, "old-key").split()[2:6] == ["0", "0", "$0.00", "1"]
    assert "alice@example.com" not in text_of(page).split("Unmapped identities")[1]


def test_schedules_show_cron_and_next_run_once_the_scheduler_has_them(app, client, rows):
    page = member(client).get("/status")
    assert "not registered" in table_row(page, "sync-cursor_session")
    assert "is python worker.py scheduler" in text_of(page)

    from rq_scheduler import Scheduler

    from abacus.jobs import register_schedules, schedules

    with rows():
        scheduler = Scheduler(queue_name="default", connection=redis_connection())
        register_schedules(scheduler, schedules(app.config["ABACUS"]))
    page = client.get("/status")
    row = table_row(page, "sync-cursor_session")
    assert "Sync every Cursor seat (session cookie) account" in row
    assert "30 */2 * * *" in row and "not registered" not in row
    assert "is python worker.py scheduler" not in text_of(page)


def test_empty_install_says_how_to_connect_an_account(client):
    text = text_of(admin(client).get("/status"))
    assert "No provider accounts yet" in text
    assert "ANTHROPIC_ADMIN_KEYS" in text and "upload a Cursor CSV export" in text
    assert "No runs yet." in text
    assert "Every identity is mapped to a person" in text


def test_htmx_refresh_gets_the_body_fragment_only(client, rows):
    with rows():
        account("claude-main")
        db.session.commit()
    fragment = admin(client).get("/status?days=7", headers=HTMX)
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="status-body"')
    assert "<html" not in body and 'hx-get="/status?days=7"' in body
    assert "HX-Request" in fragment.headers["Vary"]
    boosted = client.get("/status", headers={**HTMX, "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)


# --- who may do what -------------------------------------------------------------------------

def test_members_see_no_admin_controls_and_are_refused_admin_routes(app, client, rows):
    with rows():
        account("claude-main")
        db.session.commit()
    page = member(client).get("/status")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "claude-main" in body
    assert "Sync now" not in body and 'name="kind"' not in body
    assert "/admin/sync" not in body and "/admin/upload" not in body
    assert 'id="jobs"' not in body
    tok = csrf_token(body)
    assert client.post("/admin/sync", data={"csrf_token": tok, "source": "anthropic"}
                       ).status_code == 403
    assert client.post("/admin/upload", data={
        "csrf_token": tok, "file": (io.BytesIO(b"Date,Model\n"), "e.csv")},
        content_type="multipart/form-data").status_code == 403
    assert client.get("/admin/upload").status_code == 403
    assert client.get("/admin/jobs/abc").status_code == 403
    assert queued(app) == 0


def test_posts_need_the_csrf_token(app, client, rows):
    with rows():
        account("claude-main")
        db.session.commit()
    admin(client)
    assert client.post("/admin/sync", data={"source": "anthropic"}).status_code == 400
    assert client.post("/admin/upload", data={}).status_code == 400
    assert queued(app) == 0


# --- sync now -----------------------------------------------------------------------------

def job_ids(response) -> list[str]:
    return re.findall(r'id="job-([^"]+)"', response.get_data(as_text=True))


def test_sync_now_enqueues_one_job_per_account_and_reports_the_outcome(app, client, rows,
                                                                       cursor, fast_cursor):
    seed_cursor_events(cursor)
    with rows():
        cursor_account("team-a", cursor.url)
        cursor_account("team-b", cursor.url)
        account("team-off", "cursor", status="disabled")
        db.session.commit()
    tok = token(admin(client))

    response = client.post("/admin/sync", data={"csrf_token": tok, "source": "cursor"},
                           headers=HTMX)
    assert response.status_code == 202
    body = response.get_data(as_text=True)
    assert queued(app) == 2  # the disabled account gets no job
    ids = job_ids(response)
    assert len(ids) == 2
    assert body.count('hx-trigger="every 1s"') == 2
    assert "team-a" in body and "team-b" in body and "Waiting for a worker" in body

    waiting = client.get(f"/admin/jobs/{ids[0]}", headers=HTMX)
    assert 'hx-trigger="every 1s"' in waiting.get_data(as_text=True)
    assert "HX-Trigger" not in waiting.headers

    run_jobs(app)

    for job_id in ids:
        done = client.get(f"/admin/jobs/{job_id}", headers=HTMX)
        assert "hx-trigger" not in done.get_data(as_text=True)  # polling stops here
        assert done.headers["HX-Trigger"] == "abacus-job-done"
        text = text_of(done)
        assert "success" in text
        assert "Done: 2 windows, 3 fetched, 3 new, 0 updated, 0 unchanged" in text
    # The runs the jobs left are on the status page.
    page = client.get("/status")
    runs = re.findall(r'data-run-id="(\d+)"', page.get_data(as_text=True))
    assert len(runs) == 2
    assert "success 3 3 0 0 0" in table_row(page, f'data-run-id="{runs[0]}"')


def test_job_progress_is_reported_while_the_sync_runs(app, client, rows, cursor, fast_cursor):
    seed_cursor_events(cursor)
    with rows():
        cursor_account("team-a", cursor.url)
    tok = token(admin(client))
    release = threading.Event()
    calls = []
    original = cursor._routes[("POST", "/teams/filtered-usage-events")]

    def held_back(request):
        calls.append(1)
        if len(calls) > 1:  # the second window waits until the test has seen progress
            release.wait(20)
        return original(request)

    cursor.route("POST", "/teams/filtered-usage-events", held_back)
    response = client.post("/admin/sync", data={"csrf_token": tok, "source": "cursor",
                                                "account": "team-a"}, headers=HTMX)
    (job_id,) = job_ids(response)
    seen: list[str] = []

    def watch():
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                html_ = client.get(f"/admin/jobs/{job_id}", headers=HTMX).get_data(as_text=True)
                if "records fetched" in html_:
                    seen.append(html_)
                    return
                time.sleep(0.05)
        finally:
            release.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    run_jobs(app)
    watcher.join()

    assert seen, "no progress was reported while the job ran"
    running = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", seen[0]))
    assert "running" in running and "Window 1 of 2" in running and "records fetched" in running
    assert 'hx-trigger="every 1s"' in seen[0] and "<progress" in seen[0]
    final = client.get(f"/admin/jobs/{job_id}", headers=HTMX)
    assert "Done: 2 windows, 3 fetched, 3 new" in text_of(final)


def test_backfill_button_enqueues_a_backfill_job(app, client, rows, cursor):
    with rows():
        account_id = cursor_account("team-a", cursor.url).id
    tok = token(admin(client))
    response = client.post("/admin/sync", data={"csrf_token": tok, "source": "cursor",
                                                "account": "team-a", "kind": "backfill"},
                           headers=HTMX)
    assert response.status_code == 202
    with rows():
        (job,) = queue().jobs
    assert job.func_name == "abacus.jobs.backfill_account"
    assert job.kwargs == {"account_id": account_id}
    assert "Backfill" in text_of(response)


def test_failed_sync_shows_the_error_and_the_banner(app, client, rows, cursor, fast_cursor):
    with rows():
        cursor_account("team-a", cursor.url)
    cursor.revoke(DEFAULT_KEY)
    tok = token(admin(client))
    response = client.post("/admin/sync", data={"csrf_token": tok, "source": "cursor"},
                           headers=HTMX)
    (job_id,) = job_ids(response)
    run_jobs(app)
    text = text_of(client.get(f"/admin/jobs/{job_id}", headers=HTMX))
    assert "failed" in text and "Failed:" in text and "401" in text
    page = text_of(client.get("/status"))
    assert "1 account needs attention" in page and "auth expired" in page


def test_sync_without_javascript_redirects_to_the_status_page_with_the_jobs(client, rows,
                                                                             cursor):
    with rows():
        cursor_account("team-a", cursor.url)
    tok = token(admin(client))
    response = client.post("/admin/sync", data={"csrf_token": tok, "source": "cursor"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/status?jobs=")
    page = text_of(client.get(response.headers["Location"]))
    assert "Waiting for a worker" in page and "team-a" in page


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"source": "nope"}, 400, "No provider called 'nope' is installed."),
    ({"source": "cursor", "kind": "purge"}, 400, "Unknown kind 'purge'"),
    ({}, 400, "Say which provider"),
    ({"source": "anthropic"}, 404, "No enabled anthropic account with credentials"),
])
def test_sync_requests_that_cannot_run_say_why(app, client, form, status, message):
    tok = token(admin(client))
    response = client.post("/admin/sync", data={"csrf_token": tok, **form}, headers=HTMX)
    assert response.status_code == status
    assert message in text_of(response)
    assert queued(app) == 0


def test_unknown_job_is_404(client):
    admin(client)
    assert client.get("/admin/jobs/no-such-job", headers=HTMX).status_code == 404
    assert client.get("/admin/jobs/no-such-job").status_code == 404


# --- CSV upload ---------------------------------------------------------------------------

def upload(client, path: Path | None, headers=None, **fields):
    tok = csrf_token(client.get("/admin/upload").get_data(as_text=True))
    data = {"csrf_token": tok, **fields}
    if path is not None:
        data["file"] = (path.open("rb"), path.name)
    return client.post("/admin/upload", data=data, content_type="multipart/form-data",
                       headers=HTMX if headers is None else headers)


def event_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(UsageEvent)).scalar()


def stored_uploads(app) -> int:
    """Uploads (and their chunks) still in PostgreSQL."""
    with app.app_context():
        count = sum(db.session.execute(select(func.count()).select_from(model)).scalar()
                    for model in (Upload, UploadChunk))
        db.session.remove()
        return count


def test_upload_of_a_valid_export_imports_it_with_progress(app, client, rows, tmp_path):
    header = VARIANTS["v3-team"]
    path = write_csv(tmp_path / "team-export.csv", header, variant_rows(header))
    response = upload(admin(client), path, account="cursor-uploads")
    assert response.status_code == 202
    body = response.get_data(as_text=True)
    assert 'id="upload-form"' in body and 'hx-swap-oob="afterbegin:#jobs"' in body
    (job_id,) = job_ids(response)
    with rows():
        (job,) = queue().jobs
        saved = uploads.reader(job.kwargs["upload"])
        assert "path" not in job.kwargs
        assert (saved.name, saved.size) == ("team-export.csv", path.stat().st_size)
        assert saved.read() == path.read_bytes()

    run_jobs(app)
    with rows():
        job.refresh()
        assert job.meta["progress"]["stage"] == "done"
        assert job.meta["progress"]["done"] == job.meta["progress"]["total"] == saved.size
    done = client.get(f"/admin/jobs/{job_id}", headers=HTMX)
    text = text_of(done)
    assert "hx-trigger" not in done.get_data(as_text=True)
    assert "Imported 5 rows into account cursor-uploads: 5 new, 0 updated, 0 unchanged" in text
    assert "composer-2" in text  # no price known: said, not hidden
    assert event_count(app) == 5
    page = client.get("/admin/upload")
    assert "success 5 5 0 0 0" in table_row(page, "team-export.csv")


def test_upload_of_an_invalid_export_shows_the_validation_report(app, client, tmp_path):
    header = VARIANTS["v2-team"]
    bad = variant_rows(header)
    bad[1]["Date"] = "yesterday"
    bad[3]["Output Tokens"] = "12abc"
    path = write_csv(tmp_path / "broken.csv", header, bad)
    response = upload(admin(client), path)
    (job_id,) = job_ids(response)
    run_jobs(app)
    done = client.get(f"/admin/jobs/{job_id}", headers=HTMX)
    text = text_of(done)
    assert "refused" in text
    assert "Nothing was imported: 2 bad rows in 5 data rows of broken.csv" in text
    assert table_row(done, "ISO 8601").split()[:2] == ["3", "Date"]
    assert "'12abc' is not a whole number of tokens" in table_row(done, "12abc")
    assert table_row(done, "12abc").split()[:3] == ["5", "Output", "Tokens"]
    assert event_count(app) == 0


def test_upload_skip_invalid_imports_the_good_rows(app, client, tmp_path):
    header = VARIANTS["v2-team"]
    some_bad = variant_rows(header)
    some_bad[0]["Model"] = ""
    path = write_csv(tmp_path / "mostly-fine.csv", header, some_bad)
    response = upload(admin(client), path, skip_invalid="1", headers={})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/upload?jobs=")
    run_jobs(app)
    text = text_of(client.get(response.headers["Location"]))
    assert "partial" in text and "4 new" in text and "1 skipped as invalid" in text
    assert "Model" in text and "is empty" in text


@pytest.fixture
def web_and_worker(make_app, tmp_path):
    """The web and the worker as compose runs them: one database and Redis, separate disks."""
    return (make_app(ABACUS_INSTANCE_PATH=str(tmp_path / "web")),
            make_app(ABACUS_INSTANCE_PATH=str(tmp_path / "worker")))


def files_in(app) -> list[Path]:
    return [p for p in Path(app.instance_path).rglob("*") if p.is_file()]


def test_a_worker_without_the_webs_disk_imports_an_upload_then_deletes_it(web_and_worker,
                                                                           tmp_path,
                                                                           monkeypatch):
    web, worker = web_and_worker
    monkeypatch.setattr(uploads, "CHUNK_SIZE", 256)  # several chunks, read back in order
    header = VARIANTS["v3-team"]
    path = write_csv(tmp_path / "team-export.csv", header, variant_rows(header))
    client = admin(web.test_client())
    (job_id,) = job_ids(upload(client, path, account="cursor-uploads"))
    # The worker's container never sees the web's disk: take it away before the job runs.
    shutil.rmtree(web.instance_path, ignore_errors=True)
    assert stored_uploads(worker) > 1 + path.stat().st_size // 256

    run_jobs(worker)
    text = text_of(client.get(f"/admin/jobs/{job_id}", headers=HTMX))
    assert "Imported 5 rows into account cursor-uploads: 5 new" in text
    assert event_count(worker) == 5
    assert stored_uploads(worker) == 0
    assert files_in(worker) == []


def test_a_refused_or_crashed_import_deletes_its_upload_too(web_and_worker, tmp_path):
    web, worker = web_and_worker
    header = VARIANTS["v2-team"]
    bad = variant_rows(header)
    bad[1]["Date"] = "yesterday"
    client = admin(web.test_client())
    (refused,) = job_ids(upload(client, write_csv(tmp_path / "broken.csv", header, bad)))
    good = write_csv(tmp_path / "fine.csv", header, variant_rows(header))
    (crashed,) = job_ids(upload(client, good, account="taken-later"))
    with worker.app_context():  # the name goes to another provider before the job runs
        account("taken-later", "anthropic")
        db.session.commit()
    run_jobs(worker)
    assert "Nothing was imported: 1 bad row in 5 data rows of broken.csv" in text_of(
        client.get(f"/admin/jobs/{refused}", headers=HTMX))
    assert "'taken-later' is a anthropic account, not Cursor" in text_of(
        client.get(f"/admin/jobs/{crashed}", headers=HTMX))
    assert event_count(worker) == 0
    assert stored_uploads(worker) == 0
    assert files_in(web) == [] and files_in(worker) == []


def test_uploads_left_behind_are_swept_after_a_day(app, client, rows, tmp_path):
    header = VARIANTS["v2"]
    path = write_csv(tmp_path / "e.csv", header, variant_rows(header))
    (first,) = job_ids(upload(admin(client), path))
    with rows():  # its job never ran (no worker for a day)
        (job,) = queue().jobs
        old = job.kwargs["upload"]
        db.session.execute(update(Upload).values(created_at=func.now() - timedelta(hours=25)))
        db.session.commit()
    upload(client, path)  # every new upload sweeps
    with rows():
        assert db.session.get(Upload, old) is None
        assert db.session.execute(select(func.count()).select_from(UploadChunk).where(
            UploadChunk.upload_id == old)).scalar() == 0
    assert stored_uploads(app) > 0  # the new one stays
    run_jobs(app)
    text = text_of(client.get(f"/admin/jobs/{first}", headers=HTMX))
    assert "the uploaded file is no longer stored" in text and "upload it again" in text
    assert event_count(app) == 5  # the second upload was imported
    assert stored_uploads(app) == 0


@pytest.mark.parametrize(("fields", "has_file", "error"), [
    ({}, False, "Choose the CSV file"),
    ({"user": "not-an-email"}, True, "Enter the e-mail address"),
    ({"account": "claude-main"}, True, "'claude-main' is an account of the anthropic provider"),
    ({"account": "new name!"}, True, "A new account name may use letters"),
])
def test_upload_form_errors_are_shown_on_the_form(app, client, rows, tmp_path, fields, has_file,
                                                  error):
    with rows():
        account("claude-main")
        db.session.commit()
    path = write_csv(tmp_path / "e.csv", VARIANTS["v2"], variant_rows(VARIANTS["v2"]))
    response = upload(admin(client), path if has_file else None, **fields)
    assert response.status_code == 422
    assert error in text_of(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert queued(app) == 0


def test_upload_refuses_a_file_that_is_not_csv(client, tmp_path):
    path = tmp_path / "usage.xlsx"
    path.write_bytes(b"PK\x03\x04")
    response = upload(admin(client), path)
    assert response.status_code == 422 and "not a .csv file" in text_of(response)


def test_upload_page_prefills_the_account_and_lists_cursor_accounts(client, rows):
    with rows():
        account("seat-ana", "cursor_session", creds=False)
        account("claude-main")
        db.session.commit()
    body = admin(client).get("/admin/upload?account=seat-ana").get_data(as_text=True)
    assert 'name="account" value="seat-ana"' in body
    assert '<option value="seat-ana">' in body and '<option value="claude-main">' not in body


# --- helpers ------------------------------------------------------------------------------

def test_ago_reads_naturally():
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert ago(None, now) == "never"
    assert ago(now - timedelta(seconds=20), now) == "just now"
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now - timedelta(hours=3, minutes=5), now) == "3 h ago"
    assert ago(now - timedelta(days=1, hours=2), now) == "1 day ago"
    assert ago(now + timedelta(minutes=40), now) == "in 40 min"


def test_problem_lines_split_into_row_column_and_problem():
    found = problem_rows(["e.csv: row 3, column 'Date': 'x' is not an ISO 8601 date or time",
                          "e.csv: row 1: the file has no data rows",
                          "… and 4 more bad rows"])
    assert found == [
        {"row": "3", "column": "Date", "problem": "'x' is not an ISO 8601 date or time"},
        {"row": "1", "column": "", "problem": "the file has no data rows"},
        {"row": "", "column": "", "problem": "… and 4 more bad rows"},
    ]


# --- when something around the page is broken ---------------------------------------------

def test_a_bad_environment_account_is_reported_not_a_crash(make_app, rows):
    with rows():
        account("claude-main", "cursor")
        db.session.commit()
    broken = make_app(ANTHROPIC_ADMIN_KEYS="claude-main=sk-ant-admin01-x")
    client = broken.test_client()
    page = admin(client).get("/status")
    assert page.status_code == 200
    text = text_of(page)
    assert "Accounts from the environment could not be loaded" in text
    assert "the name 'claude-main' belongs to a cursor account" in text
    assert "claude-main" in article(page, "claude-main")


def test_queue_down_says_nothing_was_started(make_app, rows, tmp_path):
    with rows():
        account("claude-main")
        db.session.commit()
    down = make_app(REDIS_URL="redis://127.0.0.1:9/0")  # nothing listens on the discard port
    client = down.test_client()
    tok = csrf_token(admin(client).get("/status").get_data(as_text=True))
    response = client.post("/admin/sync", data={"csrf_token": tok, "source": "anthropic"},
                           headers=HTMX)
    assert response.status_code == 503
    assert "The job queue (Redis) is not reachable" in text_of(response)
    path = write_csv(tmp_path / "e.csv", VARIANTS["v2"], variant_rows(VARIANTS["v2"]))
    response = upload(client, path)
    assert response.status_code == 503 and "nothing was started" in text_of(response)
    assert stored_uploads(down) == 0


def test_a_job_nobody_picks_up_asks_whether_a_worker_runs(app, client, rows, cursor):
    from abacus.sync.status import job_view

    with rows():
        cursor_account("team-a", cursor.url)
    tok = token(admin(client))
    response = client.post("/admin/sync", data={"csrf_token": tok, "source": "cursor"},
                           headers=HTMX)
    (job_id,) = job_ids(response)
    assert "Is python worker.py" not in text_of(response)
    with rows():
        view = job_view(job_id, redis_connection(),
                        now=datetime.now(UTC) + timedelta(seconds=20))
    assert view.state == "waiting" and view.waiting_long and not view.ended


def test_viewing_status_writes_nothing_to_the_database(make_app, rows):
    """The environment's accounts are upserted at worker start and by sync entry points, not
    by a page view (a read-only replica or a busy database must not see writes from GETs)."""
    from sqlalchemy import event

    env_app = make_app(ANTHROPIC_ADMIN_KEYS="claude-env=sk-ant-admin01-" + "a" * 20)
    client = admin(env_app.test_client())
    client.get("/status")  # sign-in and first-request work happen before counting
    writes: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    with env_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = client.get("/status")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert page.status_code == 200
    assert writes == []
    with rows():
        assert db.session.execute(select(Account).where(Account.name == "claude-env")
                                  ).scalar() is None
