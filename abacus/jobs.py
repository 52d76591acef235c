"""RQ job functions and the schedule table. Jobs call the same services as the CLI and web.

A face, like web/ and cli/: may import services (sync, usage, github, …), models,
extensions and the provider registry; nothing imports it but web/, cli/ and worker.py.

Progress is published in `job.meta["progress"]` so a page can poll it.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from flask import has_app_context
from redis.exceptions import RedisError
from rq import get_current_job

log = logging.getLogger("abacus.jobs")


def _app_context() -> AbstractContextManager:
    """Jobs run inside the app context `python worker.py` gives its worker (and forked work
    horses); jobs never build an app themselves, so this module stays below the factory."""
    if has_app_context():
        return nullcontext()
    raise RuntimeError("abacus jobs need the app: run workers with `python worker.py`")


ACCESS_LOG_PRUNE_CRON = "40 3 * * *"
SYNC_JOB_TIMEOUT = 3 * 3600  # a first sync of a busy Cursor team, paced, can take a while
BACKFILL_BUDGET = 15 * 60.0  # one backfill job's share before it yields to the schedule


class _MetaPublisher:
    """Saves job progress to job.meta["progress"], at most every `every` seconds.

    Best effort: progress is for the page, so a Redis outage never fails the job (the data
    goes to PostgreSQL either way); the next save after Redis is back catches up."""

    def __init__(self, every: float = 0.5):
        self.job = get_current_job()
        self.every = every
        self.meta: dict[str, Any] = {}
        self.last = 0.0
        self.failing = False  # log an outage once, not on every save

    def publish(self, force: bool = False, **fields: Any) -> None:
        done, total = fields.get("done", 0), fields.get("total", 0)
        self.meta.update(fields, percent=round(100 * done / total, 1) if total else 100.0)
        now = time.monotonic()
        if self.job is not None and (force or now - self.last >= self.every):
            self.last = now
            self.job.meta["progress"] = dict(self.meta)
            try:
                self.job.save_meta()
            except RedisError as exc:
                if not self.failing:
                    log.warning("job %s: progress not saved, Redis unavailable (%s)",
                                self.job.id, type(exc).__name__)
                self.failing = True
            else:
                self.failing = False


def _publish():
    """Progress callback for imports (stage, bytes done, bytes total, rows)."""
    publisher = _MetaPublisher()

    def update(stage: str, done: int, total: int, rows: int) -> None:
        publisher.publish(force=stage != "reading", stage=stage, done=done, total=total,
                          rows=rows)

    return update


def import_csv(path: str | None = None, account: str | None = None, user: str | None = None,
               skip_invalid: bool = False, upload: str | None = None) -> dict[str, Any]:
    """Import a Cursor CSV export; returns the report (also when the file was refused).

    The file is a path the worker can read, or a web upload stored in PostgreSQL (`upload`,
    its id), which is deleted when the import ends, whatever the outcome.
    """
    from .usage import uploads
    from .usage.imports import ImportFailed, import_cursor_csv

    with _app_context():
        try:
            if upload is not None:
                uploads.sweep()  # what killed workers or unrun jobs left behind
            source = uploads.reader(upload) if upload is not None else path
            try:
                report = import_cursor_csv(source, account_name=account, user=user,
                                           skip_invalid=skip_invalid, progress=_publish(),
                                           job_id=_job_id())
            except ImportFailed as exc:
                return exc.report.as_dict()
            _after_usage_change(report.result.inserted + report.result.updated)
            return report.as_dict()
        finally:
            if upload is not None:
                uploads.delete_upload(upload)


def _after_usage_change(changed_rows: int) -> None:
    """Budgets and anomalies are judged again whenever stored usage changed."""
    from .budgets.runs import after_usage_change

    after_usage_change(changed_rows)


def evaluate_budgets() -> dict[str, Any]:
    """Scheduled: `flask abacus budgets evaluate` (alerts, then anomaly incidents)."""
    from .budgets.runs import evaluate_all

    with _app_context():
        return evaluate_all()


def prune_access_log() -> dict[str, Any]:
    """Scheduled daily: delete access log entries older than ABACUS_ACCESS_LOG_DAYS."""
    from flask import current_app

    from .people.access_log import prune

    with _app_context():
        days = current_app.config["ABACUS"].access_log_days
        return {"deleted": prune(days), "days": days}


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


def _sync_progress():
    """Progress callback of the sync engine (windows done, windows total, records)."""
    publisher = _MetaPublisher()

    def update(done: int, total: int, records: int, label: str) -> None:
        publisher.publish(stage="syncing", done=done, total=total, rows=records, window=label)

    return update


def sync_account(account_id: int, first: str | None = None, last: str | None = None,
                 scheduled: bool = False) -> dict[str, Any]:
    """One account's sync (incremental, or the days first..last as YYYY-MM-DD)."""
    from datetime import date

    from .sync import engine as sync

    with _app_context():
        outcome = sync.sync_account(
            account_id, first=date.fromisoformat(first) if first else None,
            last=date.fromisoformat(last) if last else None, scheduled=scheduled,
            job_id=_job_id(), progress=_sync_progress())
        _after_usage_change(outcome.inserted + outcome.updated)
        return outcome.as_dict()


def backfill_account(account_id: int, budget_seconds: float = BACKFILL_BUDGET) -> dict[str, Any]:
    """Backfill one account for at most `budget_seconds`; the schedule continues it later."""
    from .sync import engine as sync

    with _app_context():
        outcome = sync.backfill_account(account_id, deadline=time.monotonic() + budget_seconds,
                                        job_id=_job_id(), progress=_sync_progress())
        _after_usage_change(outcome.inserted + outcome.updated)
        return outcome.as_dict()


def _enqueue_once(job_id: str, func, **kwargs: Any) -> bool:
    """Enqueue unless the same job is already waiting or running (the lock would skip it)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from .extensions import queue, redis_connection

    try:
        status = Job.fetch(job_id, connection=redis_connection()).get_status()
    except NoSuchJobError:
        status = None
    if status in ("queued", "started", "deferred", "scheduled"):
        return False
    queue().enqueue(func, job_id=job_id, job_timeout=SYNC_JOB_TIMEOUT, result_ttl=86400,
                    failure_ttl=7 * 86400, kwargs=kwargs)
    return True


def sync_provider(provider: str) -> list[str]:
    """Scheduled: one job per account of `provider` (each account syncs on its own)."""
    from .sync.engine import selected_accounts

    with _app_context():
        accounts = [a for a in selected_accounts(provider, bootstrap=True)
                    if a.status != "disabled"]
        return [a.name for a in accounts
                if _enqueue_once(f"abacus-sync-{a.id}", sync_account, account_id=a.id,
                                 scheduled=True)]


def backfill_all() -> list[str]:
    """Scheduled: a backfill job for every account whose history is not complete yet."""
    from .models import SyncState
    from .sync.engine import selected_accounts

    with _app_context():
        from .extensions import db
        from .sync.engine import recover_stale

        recover_stale()  # a backfill whose job died is pending again, so it is queued here
        names = []
        for account in selected_accounts(bootstrap=True):
            state = db.session.get(SyncState, account.id)
            if account.status == "disabled" or (state and state.backfill_status == "complete"):
                continue
            if _enqueue_once(f"abacus-backfill-{account.id}", backfill_account,
                             account_id=account.id):
                names.append(account.name)
        return names


def github_scheduled() -> dict[str, Any]:
    """Scheduled: missed pushes, line stats and pending history for GitHub commits."""
    from flask import current_app

    from .github.backfill import scheduled

    with _app_context():
        return scheduled(current_app.config["ABACUS"])


def github_backfill(since: str, org: str | None = None,
                    repos: list[str] | None = None) -> dict[str, Any]:
    """Backfill commit history from `since` (YYYY-MM-DD) for an org and/or repositories."""
    from datetime import date

    from flask import current_app

    from .github import backfill as commit_backfill

    with _app_context():
        settings = current_app.config["ABACUS"]
        api = commit_backfill.client(settings)
        names = commit_backfill.targets(api, org, tuple(repos or ()))
        publisher = _MetaPublisher()

        def update(done: int, total: int, stored: int, label: str) -> None:
            publisher.publish(stage="backfilling", done=done, total=total, rows=stored,
                              window=label)

        return commit_backfill.backfill(api, names, date.fromisoformat(since),
                                        progress=update).as_dict()


def github_push_follow_up(repository: str, follow_up: list[str], before: str | None = None,
                          after: str | None = None) -> dict[str, Any]:
    """After a push: fetch what a truncated payload left out, then line stats."""
    from flask import current_app

    from .github import backfill as commit_backfill

    with _app_context():
        api = commit_backfill.client(current_app.config["ABACUS"])
        out: dict[str, Any] = {}
        if "overflow" in follow_up:
            out["overflow"] = commit_backfill.fill_push(api, repository, before, after).as_dict()
        out["stats"] = commit_backfill.fill_stats(api, repository=repository)
        return out


def after_push(repository: str, follow_up: tuple[str, ...], before: str | None,
               after: str | None) -> bool:
    """Queue a push's follow-up work when the GitHub API is configured; False otherwise."""
    from flask import current_app

    if not current_app.config["ABACUS"].github_api_configured:
        return False
    from .extensions import queue

    queue().enqueue(github_push_follow_up, job_timeout=SYNC_JOB_TIMEOUT, result_ttl=86400,
                    failure_ttl=7 * 86400,
                    kwargs={"repository": repository, "follow_up": list(follow_up),
                            "before": before, "after": after})
    return True


TELEMETRY_DRAIN_BUDGET = 10 * 60.0


def drain_telemetry() -> dict[str, Any]:
    """Write the telemetry batches the receiver queued (telemetry/queue.py). Budgets are not
    judged per drain (exporters post every few seconds): their hourly schedule covers it."""
    from dataclasses import asdict

    from .telemetry.queue import drain

    with _app_context():
        result = drain(TELEMETRY_DRAIN_BUDGET)
        if result.more:
            _enqueue_drain()
        return asdict(result)


def _enqueue_drain() -> None:
    from .extensions import queue

    queue().enqueue(drain_telemetry, job_timeout=int(TELEMETRY_DRAIN_BUDGET * 2),
                    result_ttl=600, failure_ttl=7 * 86400)


def enqueue_telemetry(batch: dict[str, Any]) -> None:
    """Queue a batch for `drain_telemetry`: QueueFull when ABACUS_OTLP_MAX_QUEUED batches
    wait already (the exporter gets 429 and retries), QueueDown when Redis is unreachable."""
    from flask import current_app

    from .telemetry.queue import push

    push(batch, current_app.config["ABACUS"].otlp_max_queued, _enqueue_drain)


def update_prices(url: str | None = None) -> dict[str, Any]:
    """Scheduled (weekly, when ABACUS_PRICING_AUTO_UPDATE=1): `flask abacus pricing update`."""
    from flask import current_app

    from .extensions import db
    from .usage.price_updates import update_prices as update

    with _app_context():
        report = update(url or current_app.config["ABACUS"].pricing_url)
        db.session.commit()
        return report.as_dict()


# A value type with its own fields; alike in shape to sync.accounts.EnvAccount only.
@dataclass(frozen=True)
class Schedule:
    """A recurring job registered by the scheduler process."""

    id: str
    cron: str
    func: str
    kwargs: dict[str, Any]


def schedules(settings) -> tuple[Schedule, ...]:
    """The recurring jobs: one sync per provider (cron from the environment), backfills,
    the GitHub commits job when the GitHub API is configured, and the weekly price update
    when ABACUS_PRICING_AUTO_UPDATE is on; the daily access log pruning."""
    from .providers import providers

    crons = {"anthropic": settings.schedule_claude_code, "cursor": settings.schedule_cursor,
             "cursor_session": settings.schedule_cursor_session,
             "openai": settings.schedule_openai, "codex": settings.schedule_codex,
             "copilot": settings.schedule_copilot,
             "openrouter": settings.schedule_openrouter}
    out = [Schedule(f"abacus-schedule-sync-{pid}", crons.get(pid, provider.schedule),
                    "abacus.jobs.sync_provider", {"provider": pid})
           for pid, provider in sorted(providers().items())]
    out.append(Schedule("abacus-schedule-backfill", settings.schedule_backfill,
                        "abacus.jobs.backfill_all", {}))
    out.append(Schedule("abacus-schedule-budgets", settings.schedule_budgets,
                        "abacus.jobs.evaluate_budgets", {}))
    # Daily, at a quiet hour: the access log keeps ABACUS_ACCESS_LOG_DAYS.
    out.append(Schedule("abacus-schedule-access-log", ACCESS_LOG_PRUNE_CRON,
                        "abacus.jobs.prune_access_log", {}))
    if settings.github_api_configured:
        out.append(Schedule("abacus-schedule-github", settings.schedule_github,
                            "abacus.jobs.github_scheduled", {}))
    if settings.pricing_auto_update:
        out.append(Schedule("abacus-schedule-pricing", settings.schedule_pricing,
                            "abacus.jobs.update_prices", {}))
    return tuple(out)


def run_schedules_now(wanted_schedules: tuple[Schedule, ...]) -> None:
    """Enqueue every scheduled job once, so a fresh start syncs without waiting for cron."""
    from .extensions import queue

    for s in wanted_schedules:
        queue().enqueue(s.func, kwargs=s.kwargs, job_timeout=SYNC_JOB_TIMEOUT)


def register_schedules(scheduler, wanted_schedules: tuple[Schedule, ...]) -> list[str]:
    """Make the scheduler hold exactly `wanted_schedules`: add missing ones, drop stale ones."""
    wanted = {s.id: s for s in wanted_schedules}
    for job in scheduler.get_jobs():
        if job.id.startswith("abacus-schedule-") and (
                job.id not in wanted or job.meta.get("cron_string") != wanted[job.id].cron
                or job.kwargs != wanted[job.id].kwargs):
            scheduler.cancel(job)
    present = {job.id for job in scheduler.get_jobs()}
    for s in wanted_schedules:
        if s.id not in present:
            scheduler.cron(s.cron, func=s.func, kwargs=s.kwargs, id=s.id, queue_name="default",
                           use_local_timezone=False, timeout=SYNC_JOB_TIMEOUT)
    return sorted(wanted)


class NotConfigured(Exception):
    """The requested source cannot run here: the message says what to set."""


def trigger_sync(source: str) -> list[str]:
    """Enqueue what the scheduler would for `source`: one sync job per account of a
    provider, every provider with `all`, the pending backfills with `backfill`, or the
    GitHub commits job with `github`."""
    from .extensions import queue
    from .providers import get_provider, providers

    if source == "backfill":
        return backfill_all()
    if source == "github":
        from flask import current_app

        if not current_app.config["ABACUS"].github_api_configured:
            raise NotConfigured("the GitHub API is not configured: set GITHUB_TOKEN or a "
                                "GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, "
                                "GITHUB_APP_INSTALLATION_ID)")
        queue().enqueue(github_scheduled, job_timeout=3 * 3600)
        return ["github"]
    ids = sorted(providers()) if source == "all" else [get_provider(source).id]
    return [name for pid in ids for name in sync_provider(pid)]
