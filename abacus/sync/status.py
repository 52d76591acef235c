"""The Status page's numbers: accounts and their sync health, recent runs, unmapped
identities, schedules, and the progress of queued jobs (read from RQ's job hash).

Everything here reads; the sync engine (`abacus.sync`) and the jobs write. "Data complete
through" follows `sync.data_complete_through()`: the last whole day before the provider's
overlap, which the provider may still revise.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import BigInteger, Integer, cast, func, literal, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import aliased

from ..analytics.billing import BillComparison, bill_comparison, billed_accounts
from ..analytics.commits import GitHubStatus, github_status
from ..analytics.common import TOKENS, int_sum
from ..extensions import db
from ..models import Account, AccountSnapshot, Bot, SyncRun, SyncState
from ..models import UsageDaily as D
from ..providers import UnknownProvider, get_provider
from ..providers.base import Provider
from . import engine as sync

if TYPE_CHECKING:
    from redis import Redis

    from ..config import Settings

ONE_DAY = timedelta(days=1)
BAD_STATES = ("auth_expired", "error", "rate_limited")
COOKIE_WARNING_DAYS = 7  # a seat's session cookie this close to expiry raises the banner
RECENT_RUNS = 20
UNMAPPED_LIMIT = 50
GAPS_SHOWN = 3  # per account; the rest are counted
WAITING_HINT_AFTER = timedelta(seconds=15)  # a job still queued after this: is a worker up?
WORKER_GONE = ("the worker running this job stopped (killed or restarted) before it finished; "
               "what it had not committed was not stored: start it again")
JOB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


# --- accounts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Backfill:
    """History walked back from the first incrementally synced day towards the target day."""

    status: str  # pending | running | complete
    first_day: date | None  # the first day the incremental sync covered
    oldest_day: date | None  # the oldest day the backfill reached (None: not started)
    target_day: date

    @property
    def percent(self) -> int:
        if self.status == "complete":
            return 100
        if self.first_day is None or self.target_day >= self.first_day:
            return 0 if self.first_day is None else 100
        total = (self.first_day - self.target_day).days
        done = (self.first_day - (self.oldest_day or self.first_day)).days
        return max(0, min(100, done * 100 // total))

    @property
    def days_left(self) -> int:
        if self.status == "complete" or self.first_day is None:
            return 0
        reached = self.oldest_day or self.first_day
        return max(0, (reached - self.target_day).days)


# A page's view of a seat account, alike in shape (optional fields) to base.Seat only.
@dataclass(frozen=True)
class SeatDetails:
    """What a Cursor seat (session cookie) account reports about itself."""

    plan: str | None = None
    owner: str | None = None
    cycle_start: datetime | None = None
    cycle_end: datetime | None = None
    spend_limit: str | None = None  # "$200.00", or "no cap"
    on_demand_allowed: bool | None = None
    invoice_month: str | None = None  # YYYY-MM
    invoice_total: str | None = None  # "$12.34"
    cookie_expires_at: datetime | None = None
    warning: str | None = None
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class AccountRow:
    id: int
    provider: str
    provider_label: str
    known_provider: bool
    name: str
    tool: str
    status: str
    status_detail: str | None
    next_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    has_credentials: bool
    source: str | None  # settings.source: env | csv | demo | None (added by an admin)
    synced_through: datetime | None
    complete_through: date | None
    backfill: Backfill
    gaps: list[sync.Gap] = field(default_factory=list)
    seat: SeatDetails | None = None
    # The provider's own bill against the estimate of its usage, per day of the range
    # (providers that report a bill apart from usage: OpenAI).
    bill: BillComparison | None = None
    notice: str | None = None  # what the account cannot do (Copilot: no billing access)
    last_import_at: datetime | None = None  # the last CSV import stored (also a success)
    last_import_file: str | None = None

    @property
    def can_sync(self) -> bool:
        """Worth a "Sync now" button: a known provider, credentials, not disabled."""
        return self.known_provider and self.has_credentials and self.status != "disabled"

    @property
    def gap_days(self) -> int:
        return sum(g.days for g in self.gaps)

    @property
    def shown_gaps(self) -> list[sync.Gap]:
        return self.gaps[-GAPS_SHOWN:][::-1]  # the most recent first


@dataclass(frozen=True)
class Alert:
    account_id: int
    account: str
    provider_label: str
    kind: str  # auth_expired | error | rate_limited | cookie_expiring
    message: str
    action: str
    command: str | None = None  # the CLI alternative, shown as code
    member_action: str = ""  # what the action means for someone who is not an admin


@dataclass(frozen=True)
class RunRow:
    id: int
    kind: str
    account: str | None
    provider: str | None
    source: str | None
    window_start: datetime | None
    window_end: datetime | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    fetched: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    error: str | None
    job_id: str | None

    @property
    def duration(self) -> timedelta | None:
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class UnmappedRow:
    provider: str
    actor: str
    events: int  # in the selected range
    tokens: int
    cost_usd: Decimal
    lifetime_events: int
    last_day: date


@dataclass(frozen=True)
class ScheduleRow:
    id: str
    cron: str
    what: str
    next_run: datetime | None  # as rq-scheduler has it; None when it is not registered


@dataclass(frozen=True)
class StatusPage:
    accounts: list[AccountRow]
    alerts: list[Alert]
    runs: list[RunRow]
    unmapped: list[UnmappedRow]
    unmapped_total: int  # identities with unmapped usage, beyond the rows shown too
    schedules: list[ScheduleRow]
    complete_through: date | None  # the last day every syncing account has final data for
    tracking_since: date | None
    last_success_at: datetime | None
    config_error: str | None = None  # e.g. ANTHROPIC_ADMIN_KEYS names another account
    github: GitHubStatus | None = None

    @property
    def sources(self) -> list[tuple[str, str]]:
        """(provider id, label) of providers with a syncable account, for "Sync all" buttons."""
        seen: dict[str, str] = {}
        for a in self.accounts:
            if a.can_sync:
                seen.setdefault(a.provider, a.provider_label)
        return list(seen.items())

    @property
    def attention(self) -> int:
        return len({a.account for a in self.alerts})


def _provider(provider_id: str) -> Provider | None:
    try:
        return get_provider(provider_id)
    except UnknownProvider:  # an uninstalled plugin or demo data: its rows stay visible
        return None


def complete_through(provider_id: str, synced_through: datetime | None) -> date | None:
    """The last whole day before the provider's overlap (what it may still revise)."""
    provider = _provider(provider_id)
    if synced_through is None or provider is None:
        return None
    return (synced_through - provider.overlap).date() - ONE_DAY


def _as_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def seat_details(snapshots: list[AccountSnapshot]) -> SeatDetails | None:
    """Plan, cycle, spend limit, latest invoice and cookie expiry from a seat's snapshots."""
    if not snapshots:
        return None
    by_kind: dict[str, AccountSnapshot] = {}
    invoices = []
    for s in snapshots:
        if s.kind == "invoice":
            invoices.append(s)
        else:
            by_kind[s.kind] = s
    summary = by_kind.get("summary")
    limit = by_kind.get("hard_limit")
    session = by_kind.get("session")
    profile = by_kind.get("profile")
    invoice = max(invoices, key=lambda s: s.key) if invoices else None
    sd = summary.data if summary else {}
    ld = limit.data if limit else {}
    spend_limit = None
    if limit:
        spend_limit = "no cap" if ld.get("unlimited") else ld.get("hard_limit_usd")
    return SeatDetails(
        plan=sd.get("membership_type"),
        owner=(profile.data or {}).get("email") if profile else None,
        cycle_start=_as_datetime(sd.get("billing_cycle_start")),
        cycle_end=_as_datetime(sd.get("billing_cycle_end")),
        spend_limit=spend_limit,
        on_demand_allowed=(not ld["no_usage_based_allowed"]
                           if ld.get("no_usage_based_allowed") is not None else None),
        invoice_month=invoice.key if invoice else None,
        invoice_total=(invoice.data or {}).get("total_usd") if invoice else None,
        cookie_expires_at=_as_datetime((session.data or {}).get("expires_at")) if session
        else None,
        warning=(session.data or {}).get("warning") if session else None,
        fetched_at=max(s.fetched_at for s in snapshots),
    )


def accounts(backfill_from: date) -> list[AccountRow]:
    """Every account (disabled and CSV-only ones too) with its sync state and gaps."""
    gaps_by_account: dict[str, list[sync.Gap]] = {}
    for g in sync.gaps():
        gaps_by_account.setdefault(g.account, []).append(g)
    rows = db.session.execute(
        select(Account, SyncState).outerjoin(SyncState, SyncState.account_id == Account.id)
        .order_by(Account.provider, Account.name)).all()
    snapshots: dict[int, list[AccountSnapshot]] = {}
    for s in db.session.execute(select(AccountSnapshot)).scalars():
        snapshots.setdefault(s.account_id, []).append(s)
    imports = last_imports()
    out = []
    for account, state in rows:
        provider = _provider(account.provider)
        settings = account.settings or {}
        synced_through = state.synced_through if state else None
        imported_at, imported_file = imports.get(account.id, (None, None))
        # An import is a successful update of the account as much as a sync is.
        last_success = max((t for t in (account.last_success_at, imported_at) if t),
                           default=None)
        out.append(AccountRow(
            id=account.id, provider=account.provider,
            provider_label=provider.display_name if provider else account.provider,
            known_provider=provider is not None, name=account.name,
            tool=provider.tool if provider else "unknown", status=account.status,
            status_detail=account.status_detail, next_attempt_at=account.next_attempt_at,
            last_success_at=last_success,
            last_error=account.last_error if account.status != "active" else None,
            last_error_at=account.last_error_at,
            has_credentials=bool(account.credentials_encrypted),
            source=settings.get("source"), synced_through=synced_through,
            complete_through=complete_through(account.provider, synced_through),
            backfill=Backfill(
                status=state.backfill_status if state else "pending",
                first_day=state.synced_from if state else None,
                oldest_day=state.backfill_oldest_day if state else None,
                target_day=(state.backfill_target_day if state and state.backfill_target_day
                            else backfill_from)),
            gaps=gaps_by_account.get(account.name, []),
            seat=seat_details([s for s in snapshots.get(account.id, [])
                               if s.kind != "billing"]),
            notice=next((s.data.get("warning") for s in snapshots.get(account.id, [])
                         if s.kind == "billing" and s.data.get("warning")), None),
            last_import_at=imported_at, last_import_file=imported_file,
        ))
    return out


def last_imports() -> dict[int, tuple[datetime, str | None]]:
    """Per account: when its last stored CSV import finished, and the file's name."""
    return {acc: (at, source) for acc, at, source in db.session.execute(
        select(SyncRun.account_id, SyncRun.finished_at, SyncRun.source)
        .where(SyncRun.kind == "import", SyncRun.status.in_(("success", "partial")),
               SyncRun.account_id.is_not(None), SyncRun.finished_at.is_not(None))
        .order_by(SyncRun.account_id, SyncRun.finished_at.desc())
        .ext(distinct_on(SyncRun.account_id)))}


ACTIONS = {
    "auth_expired": ("Replace its credentials under Admin → Accounts (syncing stays paused "
                     "until then), or run", "flask abacus accounts set-credentials {name}"),
    "rate_limited": ("Nothing to do unless it persists: Abacus tries again after {next}.",
                     None),
    "error": ("Fix the cause shown on the account, then press Sync now (or wait for the next "
              "scheduled run).", None),
    "cookie_expiring": ("Sign in to cursor.com again and paste the new session cookie under "
                        "Admin → Accounts.", None),
}
# The same for people who are not admins: what happens, never a button they do not have.
MEMBER_ACTIONS = {
    "auth_expired": "Syncing is paused until an admin replaces its credentials.",
    "rate_limited": "Nothing to do: Abacus tries again after {next}.",
    "error": "An admin has to fix the cause; Abacus tries again at the next scheduled run.",
    "cookie_expiring": "The seat's owner or an admin has to paste a new session cookie.",
}


def alerts(rows: list[AccountRow], now: datetime) -> list[Alert]:
    """Accounts that need someone: refused credentials, errors, rate limits, expiring cookies."""
    out = []
    for a in rows:
        if a.status in BAD_STATES:
            message = a.status_detail or a.last_error or a.status.replace("_", " ")
            next_try = (a.next_attempt_at.strftime("%Y-%m-%d %H:%M UTC") if a.next_attempt_at
                        else "its next scheduled run")
            action, command = ACTIONS[a.status]
            out.append(Alert(a.id, a.name, a.provider_label, a.status, message.rstrip("."),
                             action.format(next=next_try),
                             command.format(name=a.name) if command else None,
                             MEMBER_ACTIONS[a.status].format(next=next_try)))
        expires = a.seat.cookie_expires_at if a.seat else None
        if (expires is not None and a.status not in ("disabled", "auth_expired")
                and expires - now <= timedelta(days=COOKIE_WARNING_DAYS)):
            verb = "expired" if expires <= now else "expires"
            action, _ = ACTIONS["cookie_expiring"]
            out.append(Alert(a.id, a.name, a.provider_label, "cookie_expiring",
                             f"the session cookie {verb} on {expires:%Y-%m-%d %H:%M} UTC",
                             action, member_action=MEMBER_ACTIONS["cookie_expiring"]))
    return out


# --- runs ----------------------------------------------------------------------------------

def recent_runs(limit: int = RECENT_RUNS, kind: str | None = None) -> list[RunRow]:
    """The latest sync, backfill and import runs, newest first."""
    acc = aliased(Account)
    query = (select(SyncRun, acc.name, acc.provider)
             .outerjoin(acc, acc.id == SyncRun.account_id)
             .order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit))
    if kind:
        query = query.where(SyncRun.kind == kind)
    return [RunRow(id=r.id, kind=r.kind, account=name, provider=provider, source=r.source,
                   window_start=r.window_start, window_end=r.window_end,
                   started_at=r.started_at, finished_at=r.finished_at, status=r.status,
                   fetched=int(r.fetched or 0), inserted=int(r.inserted or 0),
                   updated=int(r.updated or 0), unchanged=int(r.unchanged or 0),
                   rejected=int(r.rejected or 0), error=r.error, job_id=r.job_id)
            for r, name, provider in db.session.execute(query)]


# --- unmapped identities -------------------------------------------------------------------

def unmapped(start: date, end: date, limit: int = UNMAPPED_LIMIT
             ) -> tuple[list[UnmappedRow], int]:
    """Provider identities whose usage has no person yet (as `identities.unmapped()`), with
    their usage in start..end and overall; biggest cost in the range first.

    Returns (rows, how many identities there are in all).
    """
    in_window = D.day.between(start, end)
    range_cost = func.coalesce(func.sum(D.cost_usd).filter(in_window), literal(Decimal(0)))
    lifetime = int_sum(D.events)
    query = (select(D.provider, D.actor,
                    cast(func.coalesce(func.sum(D.events).filter(in_window), 0), BigInteger),
                    cast(func.coalesce(func.sum(TOKENS).filter(in_window), 0), BigInteger),
                    range_cost, lifetime, func.max(D.day),
                    cast(func.count().over(), Integer))
             .where(D.email.is_(None), D.actor.not_in(select(Bot.person)))
             .group_by(D.provider, D.actor)
             .order_by(range_cost.desc(), lifetime.desc(), D.provider, D.actor)
             .limit(limit))
    rows, total = [], 0
    for provider, actor, events, tokens, cost, life, last, count in db.session.execute(query):
        rows.append(UnmappedRow(provider, actor, int(events), int(tokens), Decimal(cost),
                                int(life), last))
        total = int(count)
    return rows, total


class Scheduled(Protocol):
    """A recurring job as `jobs.Schedule` describes it."""

    id: str
    cron: str
    func: str
    kwargs: dict[str, Any]


# --- schedules -----------------------------------------------------------------------------

def _schedule_text(func_name: str, kwargs: dict[str, Any]) -> str:
    if func_name.endswith("sync_provider"):
        provider = _provider(kwargs.get("provider", ""))
        label = provider.display_name if provider else kwargs.get("provider", "?")
        return f"Sync every {label} account"
    if func_name.endswith("backfill_all"):
        return "Backfill accounts whose history is not complete"
    if func_name.endswith("github_scheduled"):
        return "GitHub commits: missed pushes, line stats, pending history"
    if func_name.endswith("evaluate_budgets"):
        return "Budget alerts and anomaly incidents"
    return func_name


def schedules(wanted: Sequence[Scheduled], connection: Redis | None = None
              ) -> list[ScheduleRow]:
    """The recurring jobs (`jobs.schedules()`, handed in by the caller: jobs sit above this
    module) and their next run as the scheduler has it."""
    times: dict[str, datetime] = {}
    if connection is not None:
        from redis.exceptions import RedisError
        from rq_scheduler import Scheduler

        key = Scheduler.scheduled_jobs_key
        items = list(wanted)
        try:
            pipe = connection.pipeline(transaction=False)
            for s in items:
                pipe.zscore(key, s.id)
            scores = pipe.execute()
        except RedisError:  # the page still shows the schedule, without next-run times
            scores = []
        times = {s.id: datetime.fromtimestamp(score, UTC)
                 for s, score in zip(items, scores, strict=False) if score is not None}
    return [ScheduleRow(s.id, s.cron, _schedule_text(s.func, s.kwargs), times.get(s.id))
            for s in wanted]


# --- the page ------------------------------------------------------------------------------

def with_bills(rows: list[AccountRow], start: date, end: date) -> list[AccountRow]:
    """Rows of accounts whose provider reports a bill (or that have one stored) with their
    reported-vs-estimated days in start..end."""
    stored = billed_accounts()
    out = []
    for a in rows:
        provider = _provider(a.provider)
        if a.id in stored or (provider is not None and provider.capabilities.billed_costs):
            a = replace(a, bill=bill_comparison(a.id, start, end))
        out.append(a)
    return out


def status_page(start: date, end: date, settings: Settings, connection: Redis | None = None,
                now: datetime | None = None, config_error: str | None = None,
                wanted: Sequence[Scheduled] = ()) -> StatusPage:
    """Everything the Status page shows; `connection` is Redis (for schedule times),
    `config_error` what kept the environment's accounts from loading, `wanted` the
    recurring jobs (`jobs.schedules()`)."""
    now = now or datetime.now(UTC)
    rows = with_bills(accounts(settings.backfill_from), start, end)
    unmapped_rows, unmapped_total = unmapped(start, end)
    first_day = db.session.execute(select(func.min(D.day))).scalar()
    return StatusPage(
        accounts=rows, alerts=alerts(rows, now), runs=recent_runs(),
        unmapped=unmapped_rows, unmapped_total=unmapped_total,
        schedules=schedules(wanted, connection),
        complete_through=sync.data_complete_through(), tracking_since=first_day,
        last_success_at=max((a.last_success_at for a in rows if a.last_success_at),
                            default=None),
        config_error=config_error, github=github_status(settings, now))


def for_member(page: StatusPage, email: str) -> StatusPage:
    """The page as a member limited to their own figures (ABACUS_MEMBER_VISIBILITY=self) may
    see it: no unmapped identity's usage (only how many there are), and nothing of another
    person's seat account (its spend, invoice, gaps or runs) beyond its health."""
    email = email.lower()

    def personal(a: AccountRow) -> bool:
        return a.provider == "cursor_session" or a.seat is not None

    def others(a: AccountRow) -> bool:
        return personal(a) and (a.seat is None or (a.seat.owner or "").lower() != email)

    hidden = {a.name for a in page.accounts if others(a)}
    accounts = [replace(a, gaps=[], seat=replace(a.seat, owner=None, spend_limit=None,
                                                 on_demand_allowed=None, invoice_month=None,
                                                 invoice_total=None) if a.seat else None)
                if a.name in hidden else a for a in page.accounts]
    return replace(page, accounts=accounts, unmapped=[],
                   runs=[r for r in page.runs if r.account not in hidden])


def cursor_accounts() -> list[str]:
    """Names of accounts a Cursor CSV export can go into (for the upload form)."""
    from ..usage.imports import CURSOR_PROVIDERS

    return list(db.session.execute(
        select(Account.name).where(Account.provider.in_(CURSOR_PROVIDERS))
        .order_by(Account.name)).scalars())


def account_provider(name: str) -> str | None:
    return db.session.execute(select(Account.provider).where(Account.name == name)).scalar()


# --- jobs ----------------------------------------------------------------------------------

# RQ refreshes a running job's heartbeat every 30 s (job_monitoring_interval) with a 90 s TTL:
# a heartbeat older than that means nobody is running the job any more.
HEARTBEAT_STALE = timedelta(seconds=90)


def worker_gone(job, connection, now: datetime | None = None) -> bool:
    """True when a started job's worker is known dead: its heartbeat is stale, its worker
    has deregistered (or expired), or the worker ran on this host and its process is gone
    (a killed `make run` worker, seen at once instead of after the heartbeat TTL)."""
    from rq.worker import Worker

    now = now or datetime.now(UTC)
    beat = job.last_heartbeat
    if beat is not None:
        beat = beat if beat.tzinfo else beat.replace(tzinfo=UTC)
        if now - beat > HEARTBEAT_STALE:
            return True
    if not job.worker_name:
        return False
    info = connection.hgetall(Worker.redis_worker_namespace_prefix + job.worker_name)
    if not info or b"death" in info:
        return True
    pid = int(info.get(b"pid") or 0)
    if pid and info.get(b"hostname", b"").decode() == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
    return False


@dataclass(frozen=True)
class JobView:
    """A queued sync, backfill or import job as the progress fragment shows it."""

    id: str
    kind: str  # sync | backfill | import
    label: str  # the account, or the uploaded file
    state: str  # waiting | running | finished | failed
    enqueued_at: datetime | None
    stage: str | None = None
    done: int = 0
    total: int = 0
    percent: float | None = None
    rows: int = 0
    window: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    waiting_long: bool = False

    @property
    def ended(self) -> bool:
        return self.state in ("finished", "failed")

    @property
    def outcome(self) -> str:
        """success | partial | failed | skipped | refused (an import that stored nothing)."""
        if self.state == "failed":
            return "failed"
        r = self.result or {}
        if self.kind == "import":
            if not r.get("stored"):
                return "refused"
            return "partial" if r.get("rejected") else "success"
        return str(r.get("status") or "success")


def job_view(job_id: str, connection: Redis, now: datetime | None = None) -> JobView | None:
    """The job's state, progress (`job.meta["progress"]`) and outcome; None if unknown."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus


    if not JOB_ID.fullmatch(job_id):
        return None
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return None
    now = now or datetime.now(UTC)
    meta = job.meta or {}
    progress = meta.get("progress") or {}
    status = job.get_status(refresh=False)
    enqueued = job.enqueued_at
    if enqueued is not None and enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=UTC)
    result = error = None
    if status == JobStatus.FINISHED:
        state = "finished"
        value = job.return_value()
        result = value if isinstance(value, dict) else {"value": value}
    elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        state = "failed"
        error = _job_error(job, status)
    elif status == JobStatus.STARTED and worker_gone(job, connection, now):
        # RQ would notice only after its registry cleanup; say so as soon as it is known.
        state = "failed"
        error = WORKER_GONE
    elif status == JobStatus.STARTED:
        state = "running"
    else:
        state = "waiting"
    return JobView(
        id=job.id, kind=meta.get("kind", "job"), label=meta.get("label", job.id),
        state=state, enqueued_at=enqueued, stage=progress.get("stage"),
        done=int(progress.get("done") or 0), total=int(progress.get("total") or 0),
        percent=progress.get("percent"), rows=int(progress.get("rows") or 0),
        window=progress.get("window"), result=result, error=error,
        waiting_long=(state == "waiting" and enqueued is not None
                      and now - enqueued > WAITING_HINT_AFTER))


# "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) server closed …"
DB_ERROR_LINE = re.compile(r"^(?:sqlalchemy\.exc\.|psycopg2\.(?:errors\.)?)(?P<kind>\w+): "
                           r"(?:\([\w.]+\) )?(?P<message>.*)$")


def _job_error(job, status: str) -> str:
    if status != "failed":
        return f"the job was {status}"
    latest = job.latest_result()
    text = (getattr(latest, "exc_string", None) or "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # A database error ends in SQL, parameters and an error-reference URL: say what failed
    # and that the unfinished step was not stored instead.
    for line in reversed(lines):
        m = DB_ERROR_LINE.match(line)
        if m:
            return (f"a database error stopped it ({m['kind']}: {m['message'][:200]}); "
                    "what it had not committed was not stored")
    # The exception line, not the traceback: what went wrong, in one line.
    return lines[-1] if lines else "the job failed"
