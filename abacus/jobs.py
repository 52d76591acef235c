"""RQ job functions and the schedule table. Jobs call the same services as the CLI and web.

Progress is published in `job.meta["progress"]` so a page can poll it.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from flask import has_app_context
from rq import get_current_job


def _app_context() -> AbstractContextManager:
    """Jobs run inside the worker's app context; a bare `rq worker` gets its own app."""
    if has_app_context():
        return nullcontext()
    from . import create_app

    return create_app().app_context()


def _publish(meta: dict[str, Any], every: float = 0.5):
    """Return a progress callback that saves job.meta at most every `every` seconds."""
    job = get_current_job()
    last = [0.0]

    def update(stage: str, done: int, total: int, rows: int) -> None:
        meta.update(stage=stage, done=done, total=total, rows=rows,
                    percent=round(100 * done / total, 1) if total else 100.0)
        now = time.monotonic()
        if job is not None and (now - last[0] >= every or stage != "reading"):
            last[0] = now
            job.meta["progress"] = dict(meta)
            job.save_meta()

    return update


def import_csv(path: str, account: str | None = None, user: str | None = None,
               skip_invalid: bool = False) -> dict[str, Any]:
    """Import a Cursor CSV export; returns the report (also when the file was refused)."""
    from .imports import ImportFailed, import_cursor_csv

    with _app_context():
        meta: dict[str, Any] = {"stage": "queued"}
        try:
            report = import_cursor_csv(path, account_name=account, user=user,
                                       skip_invalid=skip_invalid, progress=_publish(meta),
                                       job_id=_job_id())
        except ImportFailed as exc:
            return exc.report.as_dict()
        return report.as_dict()


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


@dataclass(frozen=True)
class Schedule:
    """A recurring job registered by the scheduler process."""

    id: str
    cron: str
    func: str
    kwargs: dict[str, Any]


# Filled by the sync engine; the scheduler registers exactly these (idempotently).
SCHEDULES: tuple[Schedule, ...] = ()


def register_schedules(scheduler, schedules: tuple[Schedule, ...] = SCHEDULES) -> list[str]:
    """Make the scheduler hold exactly `schedules`: add missing ones, drop stale ones."""
    wanted = {s.id: s for s in schedules}
    for job in scheduler.get_jobs():
        if job.id.startswith("abacus:") and (
                job.id not in wanted or job.meta.get("cron_string") != wanted[job.id].cron):
            scheduler.cancel(job)
    present = {job.id for job in scheduler.get_jobs()}
    for s in schedules:
        if s.id not in present:
            scheduler.cron(s.cron, func=s.func, kwargs=s.kwargs, id=s.id, queue_name="default",
                           use_local_timezone=False)
    return sorted(wanted)
