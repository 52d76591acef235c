"""Sync engine: per-account incremental sync and backfill, with account states and alerts.

One account at a time per worker: a PostgreSQL session advisory lock (held on a connection of
its own) keeps a second worker off the account, and it vanishes with the connection if the
worker is killed. Work is split into windows of at most a day; each window's records are
ingested and the account's sync state advanced in ONE transaction, so a run killed at any
point leaves either the whole window or none of it, and the next run resumes from there.

Failures map to account states: refused credentials park the account (`auth_expired`, an
alert, no more requests until the credentials change), a rate limit that outlasts the HTTP
retries marks it `rate_limited` until a next-try time, anything else is `error` with the
message. The scheduler, `flask abacus sync` and the web's "sync now" all call these functions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg2
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from ..extensions import LockSpace, advisory_lock, db
from ..models import Account, AccountSnapshot, SyncRun, SyncState
from ..people.identities import sync_from_provider
from ..providers import UnknownProvider, get_provider
from ..providers.base import (
    AuthExpired,
    BilledCost,
    Provider,
    ProviderError,
    RateLimited,
    Window,
)
from ..usage.billing import store_billed_costs
from ..usage.ingest import ingest
from .accounts import account_config, ensure_env_accounts
from .alerts import raise_alert
from .seats import store_memberships, store_seats

log = logging.getLogger("abacus.sync")

LOCK_NAMESPACE = LockSpace.ACCOUNT  # pg_try_advisory_lock(ns, account_id)
FIRST_SYNC = timedelta(days=1)  # a new account's first sync covers yesterday and today
RATE_LIMIT_PAUSE = timedelta(minutes=15)  # next try when a 429 came without Retry-After
ONE_DAY = timedelta(days=1)

STALE_RUN = "interrupted: the worker stopped before finishing"

# progress(done_windows, total_windows, records_so_far, label)
Progress = Callable[[int, int, int, str], None]


@dataclass
class Outcome:
    """What one account's run did; `status` is success | partial | failed | interrupted |
    skipped (interrupted: a database or Redis outage stopped it; the next run resumes)."""

    account: str
    provider: str
    kind: str
    status: str
    run_id: int | None = None
    windows: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        head = f"{self.provider}/{self.account} {self.kind}: {self.status}"
        if self.status == "skipped":
            return f"{head} ({self.message})"
        counts = (f"{self.windows} window(s), {self.fetched} fetched, {self.inserted} new, "
                  f"{self.updated} updated, {self.unchanged} unchanged")
        return f"{head}: {counts}" + (f" ({self.message})" if self.message else "")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def split_windows(start: datetime, end: datetime, size: timedelta = ONE_DAY) -> list[Window]:
    """[start, end) cut into windows of at most `size`, oldest first. Windows of a day or
    less end at UTC midnights; longer ones (APIs answering many day buckets per page) cover
    whole UTC days, the first ending at the midnight after a start inside a day."""
    out: list[Window] = []
    cur = start
    while cur < end:
        day_start = _midnight(cur.date())
        if size <= ONE_DAY or cur != day_start:
            nxt = min(end, cur + size, day_start + ONE_DAY)
        else:
            nxt = min(end, cur + timedelta(days=size.days))
        out.append(Window(cur, nxt))
        cur = nxt
    return out


def day_range_windows(first: date, last: date, now: datetime,
                      size: timedelta = ONE_DAY) -> list[Window]:
    """Whole UTC days first..last (inclusive), the current day ending now."""
    end = min(_midnight(last) + ONE_DAY, now)
    start = _midnight(first)
    return split_windows(start, end, size) if start < end else []


def account_lock(account_id: int) -> AbstractContextManager[bool]:
    """Try to take the account's lock; yields False when another process holds it."""
    return advisory_lock(LOCK_NAMESPACE, account_id)


def _state(account: Account) -> SyncState:
    state = db.session.get(SyncState, account.id)
    if state is None:
        state = SyncState(account_id=account.id, backfill_status="pending",
                          backfill_empty_windows=0)
        db.session.add(state)
        db.session.flush()
    return state


def _skip_reason(account: Account, scheduled: bool) -> str | None:
    if account.status == "disabled":
        return "disabled"
    try:
        get_provider(account.provider)
    except UnknownProvider:
        return f"provider {account.provider!r} is not installed"
    if account.status == "auth_expired":
        return "credentials were refused; replace them (flask abacus accounts set-credentials)"
    if not account.credentials_encrypted:
        return "no credentials (CSV-only account)"
    if (scheduled and account.status == "rate_limited" and account.next_attempt_at
            and account.next_attempt_at > utcnow()):
        return f"rate limited until {account.next_attempt_at.isoformat(timespec='seconds')}"
    return None


class _Run:
    """Shared skeleton of a sync or backfill run: lock, run row, windows, error mapping."""

    def __init__(self, account: Account, kind: str, job_id: str | None,
                 progress: Progress | None):
        self.account = account
        self.provider: Provider = get_provider(account.provider)
        self.kind = kind
        self.job_id = job_id
        self.progress = progress
        self.outcome = Outcome(account.name, account.provider, kind, "success")
        self.committed_windows = 0

    def start(self) -> SyncRun:
        _clear_stale(self.account.id)  # we hold the account's lock: any "running" is dead
        run = SyncRun(kind=self.kind, account_id=self.account.id, source=self.provider.id,
                      job_id=self.job_id, status="running", details={})
        db.session.add(run)
        db.session.commit()
        self.run_id = run.id
        self.outcome.run_id = run.id
        return run

    def run(self) -> SyncRun:
        return db.session.get(SyncRun, self.run_id)

    def fetch_window(self, window: Window, done: int, total: int) -> int:
        """Fetch and ingest one window; the caller commits with its state change."""
        state = _state(self.account)
        records = []
        cursor = state.cursor
        bill: list[BilledCost] | None = None
        bill_days: set[date] = set()
        memberships, membership_days = [], set()
        for page in self.provider.fetch(self.config, window, cursor):
            records.extend(page.records)
            if page.cursor is not None:
                cursor = page.cursor
            if page.costs is not None:
                bill = [*(bill or []), *page.costs]
                bill_days.update(page.costs_days)
            if page.memberships is not None:
                memberships.extend(page.memberships)
                membership_days.update(page.membership_days)
            if self.progress:
                self.progress(done, total, self.outcome.fetched + len(records),
                              window.start.date().isoformat())
        result = ingest(self.account, records, self.run_id)
        store_memberships(self.account, membership_days, memberships)
        state.cursor = cursor
        run = self.run()
        if bill is not None:  # the provider's own bill of these days, beside the usage
            billed = store_billed_costs(self.account, bill_days, bill)
            totals = (run.details or {}).get("bill", {})
            run.details = {**(run.details or {}), "bill": {
                k: totals.get(k, 0) + v for k, v in billed.as_dict().items()}}
        run.fetched += len(records)
        run.inserted += result.inserted
        run.updated += result.updated
        run.unchanged += result.unchanged
        run.window_start = min(filter(None, (run.window_start, window.start)))
        run.window_end = max(filter(None, (run.window_end, window.end)))
        o = self.outcome
        o.windows += 1
        o.fetched += len(records)
        o.inserted += result.inserted
        o.updated += result.updated
        o.unchanged += result.unchanged
        return len(records)

    def committed(self) -> None:
        db.session.commit()
        self.committed_windows += 1

    def warn(self, message: str) -> None:
        run = self.run()
        run.details = {**(run.details or {}),
                       "warnings": [*(run.details or {}).get("warnings", []), message]}
        log.warning("%s/%s: %s", self.account.provider, self.account.name, message)

    def succeed(self, message: str | None = None) -> Outcome:
        account, run = self.account, self.run()
        now = utcnow()
        run.status, run.finished_at = "success", now
        account.status, account.status_detail = "active", None
        account.last_success_at, account.next_attempt_at = now, None
        self.outcome.message = message
        db.session.commit()
        return self.outcome

    def fail(self, exc: Exception) -> Outcome:
        db.session.rollback()
        account, run = self.account, self.run()
        now = utcnow()
        previous = account.status
        message = str(exc) or type(exc).__name__
        run.status = "partial" if self.committed_windows else "failed"
        run.finished_at, run.error = now, message
        account.last_error, account.last_error_at = message, now
        if isinstance(exc, AuthExpired):
            account.status = "auth_expired"
            account.status_detail = message
        elif isinstance(exc, RateLimited):
            wait = (timedelta(seconds=exc.retry_after) if exc.retry_after
                    else RATE_LIMIT_PAUSE)
            account.status, account.next_attempt_at = "rate_limited", now + wait
            account.status_detail = f"rate limited; next try after " \
                                    f"{account.next_attempt_at.isoformat(timespec='seconds')}"
        else:
            account.status, account.status_detail = "error", message
        db.session.commit()
        self.outcome.status = run.status
        self.outcome.message = message
        log.warning("%s/%s %s failed: %s", account.provider, account.name, self.kind, message)
        if account.status == "auth_expired" or (account.status == "error"
                                                 and previous != "error"):
            raise_alert(account, account.status, message)
        return self.outcome

    def interrupt(self, exc: Exception) -> Outcome:
        """An outage of ours stopped the run: record it as `interrupted` with the cause if the
        database lets us (else the next run or worker start does, see `recover_stale`)."""
        cause = outage_cause(exc)
        account_id, label = self.account.id, f"{self.account.provider}/{self.account.name}"
        log.warning("%s %s interrupted: %s", label, self.kind, cause)
        self.outcome.status, self.outcome.message = "interrupted", f"interrupted: {cause}"
        try:
            db.session.rollback()
        except DBAPIError:  # the connection is gone: drop it, the pool opens a new one
            db.session().invalidate()
        try:
            now = utcnow()
            db.session.execute(
                update(SyncRun).where(SyncRun.id == self.run_id)
                .values(status="interrupted", finished_at=now, error=f"interrupted: {cause}"))
            if self.kind == "backfill":
                db.session.execute(
                    update(SyncState)
                    .where(SyncState.account_id == account_id,
                           SyncState.backfill_status == "running")
                    .values(backfill_status="pending"))
            db.session.commit()
        except DBAPIError:
            db.session().invalidate()
            log.warning("%s: could not record the interruption (database down); the next "
                        "run or worker start does", label)
        return self.outcome

    def execute(self, body: Callable[[], str | None]) -> Outcome:
        try:
            self.config = account_config(self.account)  # may refuse unreadable credentials
            message = body()
        except (ProviderError, ValueError) as exc:
            return self.fail(exc)
        except OUTAGES as exc:
            return self.interrupt(exc)
        except Exception as exc:  # a bug or an outage of ours: record it, then re-raise
            log.exception("%s/%s %s crashed", self.account.provider, self.account.name,
                          self.kind)
            detail = (f"database error ({_first_line(exc)}); the unfinished window was not "
                      "stored" if isinstance(exc, DBAPIError)
                      else f"{type(exc).__name__}: {exc}")  # never SQL or an error URL
            self.fail(ProviderError(f"internal error: {detail}"))
            raise
        return self.succeed(message)


def _refresh_side_data(r: _Run) -> None:
    """Identities and snapshots (limits, invoices…) before usage, best effort."""
    provider, account = r.provider, r.account
    if provider.capabilities.identities:
        try:
            changed = sync_from_provider(provider.id, provider.identities(r.config))
            db.session.commit()
            if changed:
                log.info("%s/%s: %d identity mapping(s) added or changed", provider.id,
                         account.name, changed)
        except AuthExpired:
            raise
        except ProviderError as exc:
            db.session.rollback()
            r.warn(f"identities not refreshed: {exc}")
    try:
        # Each detail is committed as it arrives, and its warning alerted only once stored:
        # a later call failing (a 5xx, a 404, bad JSON) keeps what was fetched fine, and the
        # next refresh sees the warning as already sent instead of alerting again.
        for snap in provider.snapshots(r.config):
            warning = store_snapshot(account, snap.kind, snap.key, snap.data)
            db.session.commit()
            if warning:
                raise_alert(account, f"{snap.kind}_warning", warning)
    except AuthExpired:
        raise
    except ProviderError as exc:
        db.session.rollback()
        r.warn(f"account details not refreshed: {exc}")
    if provider.capabilities.seats:
        try:
            store_seats(account, list(provider.seats(r.config)), utcnow().date())
            db.session.commit()
        except AuthExpired:
            raise
        except ProviderError as exc:
            db.session.rollback()
            r.warn(f"seats not refreshed: {exc}")
    r.config = account_config(account)  # a profile may have told who owns the seat


def store_snapshot(account: Account, kind: str, key: str, data: dict[str, Any]) -> str | None:
    """Upsert one detail (uncommitted); returns its warning when it is new (to alert once
    the row is committed), else None."""
    row = db.session.get(AccountSnapshot, (account.id, kind, key))
    previous_warning = (row.data or {}).get("warning") if row else None
    if row is None:
        row = AccountSnapshot(account_id=account.id, kind=kind, key=key, data=data)
        db.session.add(row)
    else:
        row.data, row.fetched_at = data, utcnow()
    if kind == "profile" and data.get("email") and not (account.settings or {}).get(
            "owner_email"):
        account.settings = {**(account.settings or {}), "owner_email": data["email"].lower()}
    warning = data.get("warning")
    return warning if warning and warning != previous_warning else None


def sync_account(account_id: int, *, first: date | None = None, last: date | None = None,
                 scheduled: bool = False, job_id: str | None = None,
                 progress: Progress | None = None) -> Outcome:
    """Incremental sync (no days given) or a re-fetch of the days first..last."""
    account = db.session.get(Account, account_id)
    reason = _skip_reason(account, scheduled)
    if reason:
        return Outcome(account.name, account.provider, "sync", "skipped", message=reason)
    with account_lock(account.id) as got:
        if not got:
            return Outcome(account.name, account.provider, "sync", "skipped",
                           message="another worker is syncing this account")
        r = _Run(account, "sync", job_id, progress)
        r.start()

        def body() -> str | None:
            _refresh_side_data(r)
            now = utcnow()
            state = _state(account)
            incremental = first is None
            floor = r.provider.history_floor(now)
            if incremental:
                start = (state.synced_through - r.provider.overlap if state.synced_through
                         else _midnight((now - FIRST_SYNC).date()))
                # A run stopped inside the overlap (a rate limit, an outage) goes on from the
                # last window it stored: at org scale re-reading the whole overlap can cost
                # more requests than a quota allows in one go, and would never get past it.
                resume = state.overlap_through
                if resume and state.synced_through and start < resume <= state.synced_through:
                    start = resume
                if floor and start < _midnight(floor):
                    start = _midnight(floor)
                windows = split_windows(start, now, r.provider.window)
            else:
                begin = first
                if floor and first < floor:
                    begin = floor
                    span = f"{r.provider.history.days}-day " if r.provider.history else ""
                    r.warn(f"days before {floor.isoformat()} are beyond the {span}history the "
                           "API keeps; not asked for")
                windows = day_range_windows(begin, last or now.date(), now, r.provider.window)
            for i, window in enumerate(windows):
                r.fetch_window(window, i, len(windows))
                if incremental:
                    inside = state.synced_through and window.end < state.synced_through
                    state.overlap_through = window.end if inside else None
                    state.synced_through = max(filter(None, (state.synced_through,
                                                             window.end)))
                    if state.synced_from is None or window.start.date() < state.synced_from:
                        state.synced_from = window.start.date()
                r.committed()
            return None

        return r.execute(body)


def backfill_account(account_id: int, *, target: date | None = None,
                     deadline: float | None = None, job_id: str | None = None,
                     progress: Progress | None = None) -> Outcome:
    """Walk back one day at a time from the oldest covered day to the target day.

    Resumable: the oldest covered day is saved with each day's data. It ends at the target,
    or (unless the target was given explicitly) after ABACUS_BACKFILL_EMPTY_DAYS empty days in
    a row, or when `deadline` (time.monotonic) passes; then it stays pending for the next run.
    """
    account = db.session.get(Account, account_id)
    reason = _skip_reason(account, scheduled=deadline is not None)
    if reason:
        return Outcome(account.name, account.provider, "backfill", "skipped", message=reason)
    settings = current_app.config["ABACUS"]
    with account_lock(account.id) as got:
        if not got:
            return Outcome(account.name, account.provider, "backfill", "skipped",
                           message="another worker is syncing this account")
        state = _state(account)
        explicit = target is not None
        # The provider has nothing older than this (Codex: 90 days; Copilot: a year back, from
        # 2025-10-10): the walk ends there.
        oldest = get_provider(account.provider).history_floor(utcnow())
        if explicit and oldest is not None and target < oldest:
            target = oldest
        if state.backfill_status == "complete" and (
                not explicit or (state.backfill_oldest_day
                                 and target >= state.backfill_oldest_day)):
            db.session.commit()
            return Outcome(account.name, account.provider, "backfill", "skipped",
                           message="backfill is complete")
        goal = target or state.backfill_target_day or settings.backfill_from
        if oldest is not None and goal < oldest:
            goal = oldest
        r = _Run(account, "backfill", job_id, progress)
        r.start()

        def body() -> str | None:
            now = utcnow()
            state = _state(account)
            state.backfill_target_day = goal
            state.backfill_status = "running"
            newest = state.backfill_oldest_day or state.synced_from or now.date() + ONE_DAY
            day = newest - ONE_DAY
            total = max(0, (day - goal).days + 1)
            db.session.commit()
            done = 0
            while True:
                if day < goal:
                    state.backfill_status = "complete"
                    db.session.commit()
                    return "reached the target day"
                window = Window(_midnight(day), min(_midnight(day) + ONE_DAY, now))
                n = r.fetch_window(window, done, total)
                done += 1
                state.backfill_empty_windows = 0 if n else state.backfill_empty_windows + 1
                state.backfill_oldest_day = day
                stop_empty = (not explicit
                              and state.backfill_empty_windows >= settings.backfill_empty_days)
                if day <= goal or stop_empty:
                    state.backfill_status = "complete"
                r.committed()
                if state.backfill_status == "complete":
                    return ("reached the target day" if day <= goal else
                            f"no usage in the {state.backfill_empty_windows} days before "
                            f"{(day + timedelta(days=state.backfill_empty_windows)).isoformat()}"
                            "; history ends there")
                if deadline is not None and time.monotonic() > deadline:
                    state.backfill_status = "pending"
                    db.session.commit()
                    return f"paused at {day.isoformat()}; continues on the next run"
                day -= ONE_DAY

        outcome = r.execute(body)
        if outcome.status not in ("success", "interrupted"):  # interrupt() did it
            state = _state(account)
            if state.backfill_status == "running":
                state.backfill_status = "pending"
                db.session.commit()
        return outcome


# A database or Redis that went away (not a bug, nor the provider's fault): the run ends
# `interrupted` and the next one resumes. psycopg2's own errors come from the COPY in ingest.
OUTAGES = (OperationalError, InterfaceError, psycopg2.OperationalError,
           psycopg2.InterfaceError, RedisError)


def outage_cause(exc: BaseException) -> str:
    """What went down, in one line without SQL, URLs or parameters: "database unavailable
    (OperationalError: server closed the connection unexpectedly)"."""
    if isinstance(exc, DBAPIError | psycopg2.Error):
        return f"database unavailable ({_first_line(exc)})"
    return f"Redis unavailable ({type(exc).__name__})"


def _first_line(exc: BaseException) -> str:
    """"OperationalError: server closed the connection": the driver's error, first line only
    (SQLAlchemy appends the SQL, its parameters and a reference URL)."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def _clear_stale(account_id: int) -> int:
    """Mark the account's `running` sync/backfill runs interrupted and a `running` backfill
    pending (uncommitted). Only call it while holding the account's lock: then no live job is
    running them, whatever the rows say."""
    n = db.session.execute(
        update(SyncRun)
        .where(SyncRun.account_id == account_id, SyncRun.status == "running",
               SyncRun.kind.in_(("sync", "backfill")))
        .values(status="interrupted", finished_at=utcnow(), error=STALE_RUN)).rowcount
    n += db.session.execute(
        update(SyncState)
        .where(SyncState.account_id == account_id, SyncState.backfill_status == "running")
        .values(backfill_status="pending")).rowcount
    return n


def recover_stale() -> int:
    """At worker start and on each scheduled run: runs and backfills left `running` by a dead
    job (killed worker, outage) are marked interrupted / pending. An account whose lock is
    held has a live job and is left alone. Returns how many rows were fixed."""
    ids = set(db.session.execute(
        select(SyncRun.account_id).where(SyncRun.status == "running",
                                         SyncRun.kind.in_(("sync", "backfill")),
                                         SyncRun.account_id.is_not(None))).scalars())
    ids |= set(db.session.execute(
        select(SyncState.account_id).where(SyncState.backfill_status == "running")).scalars())
    db.session.commit()
    fixed = 0
    for account_id in sorted(ids):
        with account_lock(account_id) as got:
            if got:
                fixed += _clear_stale(account_id)
                db.session.commit()
    if fixed:
        log.warning("marked %d run(s)/backfill(s) left running by a dead job as interrupted",
                    fixed)
    return fixed


def selected_accounts(source: str | None = None, name: str | None = None,
                      syncable: bool = True, bootstrap: bool = False) -> list[Account]:
    """Accounts by provider and/or name; `bootstrap` upserts the environment's accounts
    first (what the sync entry points do; read paths never write)."""
    if bootstrap:
        ensure_env_accounts()
    query = select(Account).order_by(Account.provider, Account.name)
    if source:
        query = query.where(Account.provider == get_provider(source).id)
    if name:
        query = query.where(Account.name == name)
    accounts = list(db.session.execute(query).scalars())
    if syncable:
        accounts = [a for a in accounts if a.credentials_encrypted]
    return accounts


def set_backfill(source: str, status: str, name: str | None = None) -> int:
    """`backfill-complete` / `backfill-reset` for every account of a provider."""
    n = 0
    for account in selected_accounts(source, name):
        state = _state(account)
        state.backfill_status = status
        if status == "pending":
            state.backfill_oldest_day = None
            state.backfill_empty_windows = 0
            state.backfill_target_day = None
        n += 1
    db.session.commit()
    return n


@dataclass(frozen=True)
class Gap:
    account: str
    provider: str
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def gaps(source: str | None = None) -> list[Gap]:
    """Runs of days without any usage inside each account's covered range.

    The covered range runs from the oldest day a backfill or sync reached (or the first day
    with data) to the day of the last incremental sync (or the last day with data).
    """
    found: list[Gap] = []
    for account in selected_accounts(source, syncable=False):
        state = db.session.get(SyncState, account.id)
        rows = db.session.execute(text("""
            WITH bounds AS (
                SELECT LEAST(min(day), :oldest) AS lo, GREATEST(max(day), :newest) AS hi
                FROM usage_daily WHERE account_id = :acc)
            SELECT d::date FROM bounds, generate_series(lo, hi, interval '1 day') AS d
            WHERE lo IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM usage_daily u WHERE u.account_id = :acc AND u.day = d::date)
            ORDER BY 1"""), {
            "acc": account.id,
            "oldest": (state.backfill_oldest_day or state.synced_from) if state else None,
            "newest": state.synced_through.date() if state and state.synced_through else None,
        }).scalars().all()
        run: list[date] = []
        for d in rows:
            if run and d != run[-1] + ONE_DAY:
                found.append(Gap(account.name, account.provider, run[0], run[-1]))
                run = []
            run.append(d)
        if run:
            found.append(Gap(account.name, account.provider, run[0], run[-1]))
    return found


def status_report() -> list[dict[str, Any]]:
    """Every account with its state; the shape of `flask abacus status --json`."""
    out = []
    for account in selected_accounts(syncable=False):
        state = db.session.get(SyncState, account.id)
        try:
            tool = get_provider(account.provider).tool
        except UnknownProvider:  # a plugin that was uninstalled: its data stays
            tool = "unknown"
        snapshots = db.session.execute(
            select(AccountSnapshot).where(AccountSnapshot.account_id == account.id)
            .order_by(AccountSnapshot.kind, AccountSnapshot.key)).scalars().all()
        out.append({
            "provider": account.provider,
            "name": account.name,
            "tool": tool,
            "status": account.status,
            "last_success_at": _iso(account.last_success_at),
            "last_error": account.last_error if account.status != "active" else None,
            "backfill": state.backfill_status if state else "pending",
            "synced_through": _iso(state.synced_through) if state else None,
            "backfill_oldest_day": (state.backfill_oldest_day.isoformat()
                                    if state and state.backfill_oldest_day else None),
            "next_attempt_at": _iso(account.next_attempt_at),
            "details": {f"{s.kind}:{s.key}" if s.key else s.kind: s.data for s in snapshots},
        })
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def refresh_identities(account: Account) -> int:
    """`flask abacus mappings sync`: re-read who the provider's actors are."""
    provider = get_provider(account.provider)
    if not provider.capabilities.identities:
        return 0
    try:
        changed = sync_from_provider(provider.id, provider.identities(account_config(account)))
    except AuthExpired as exc:
        db.session.rollback()
        account.status, account.status_detail = "auth_expired", str(exc)
        account.last_error, account.last_error_at = str(exc), utcnow()
        db.session.commit()
        raise_alert(account, "auth_expired", str(exc))
        raise
    db.session.commit()
    return changed


def data_complete_through() -> date | None:
    """The last day every syncing account has final data for (providers revise recent days
    within their overlap); None when no account has synced yet. Pages mark later days as
    incomplete."""
    rows = db.session.execute(
        select(Account.provider, SyncState.synced_through)
        .join(SyncState, SyncState.account_id == Account.id)
        .where(Account.status != "disabled", SyncState.synced_through.is_not(None))).all()
    days = []
    for provider_id, synced_through in rows:
        try:
            overlap = get_provider(provider_id).overlap
        except UnknownProvider:
            continue
        days.append((synced_through - overlap).date() - ONE_DAY)
    return min(days) if days else None
