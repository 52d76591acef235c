"""Status page `/status`, and the admin job routes it drives: "Sync now" / "Backfill"
(`POST /admin/sync`), CSV upload (`/admin/upload`) and live job progress
(`GET /admin/jobs/<id>`, polled by htmx every second until the job ends).

Jobs run on the RQ worker; the page only enqueues them and reads `job.meta["progress"]` and
the job's result, so a slow provider never holds a web request.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from redis.exceptions import RedisError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from .. import jobs
from ..extensions import queue, redis_connection
from ..providers import UnknownProvider
from ..sync import status as data
from ..sync.accounts import env_accounts_problem
from ..sync.engine import selected_accounts
from ..telemetry import status as telemetry_status
from ..usage import uploads
from . import params
from .access import admin_required, is_admin, viewer
from .htmx import render, wants_fragment
from .limits import MB, UPLOAD_ENDPOINT, body_limit
from .ranges import current_range

bp = Blueprint("status", __name__)

JOB_DONE_EVENT = "abacus-job-done"  # pages refresh their tables when a job ends
JOB_RESULT_TTL = 86400  # a finished job's outcome stays readable for a day
JOB_FAILURE_TTL = 7 * 86400
IMPORT_TIMEOUT = 3 * 3600  # a multi-GB export on a small machine
MAX_JOBS_IN_URL = 20


# --- small presentation helpers (passed to the templates) -----------------------------------

def _tz():
    return current_app.config["ABACUS"].tz


def when(value: datetime | None) -> str:
    """A timestamp in the org time zone: "Mar 4, 14:05" (the year when it is not this one)."""
    if value is None:
        return "—"
    local = value.astimezone(_tz())
    now = datetime.now(_tz())
    year = f", {local.year}" if local.year != now.year else ""
    return f"{local:%b} {local.day}{year}, {local:%H:%M}"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "just now", "5 min ago", "3 h ago", "2 days ago"; "in 10 min" for the future."""
    if value is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - value).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now" if not future else "in under a minute"
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size:
            n = int(seconds // size)
            text = f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    raise AssertionError("unreachable")


def duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def window(start: datetime | None, end: datetime | None) -> str:
    """A run's window as days in UTC (provider windows are UTC days)."""
    if start is None or end is None:
        return "—"
    last = (end - timedelta(microseconds=1)).date()
    first = start.date()
    return first.isoformat() if first == last else f"{first.isoformat()} → {last.isoformat()}"


PROBLEM_LINE = re.compile(r"^(?P<file>.+?): row (?P<row>\d+)"
                          r"(?:, column (?P<col>'[^']*'|\"[^\"]*\"))?:(?P<rest>.*)$")


def problem_rows(lines: list[str]) -> list[dict[str, str]]:
    """The import report's problem lines split into row / column / problem for a table."""
    out = []
    for line in lines:
        m = PROBLEM_LINE.match(line)
        if m:
            out.append({"row": m["row"], "column": (m["col"] or "")[1:-1],
                        "problem": m["rest"].strip()})
        else:  # "… and 12 more bad rows"
            out.append({"row": "", "column": "", "problem": line})
    return out


def _helpers() -> dict[str, Any]:
    return {"when": when, "ago": ago, "duration": duration, "window": window,
            "problem_rows": problem_rows, "is_admin": is_admin()}


# --- jobs ----------------------------------------------------------------------------------

def _jobs_from_args() -> list[data.JobView]:
    """Jobs named in `?jobs=` (after a no-JavaScript POST), for admins only."""
    if not is_admin():
        return []
    ids = [j for j in params.text("jobs", max_length=params.MAX_ANY).split(",") if j
           ][:MAX_JOBS_IN_URL]
    views = (data.job_view(j, redis_connection()) for j in ids)
    return [v for v in views if v is not None]


def _jobs_response(views: list[data.JobView], status: int = 200) -> Response:
    response = make_response(render_template("status/_jobs.html", jobs=views, **_helpers()),
                             status)
    if any(v.ended for v in views):
        response.headers["HX-Trigger"] = JOB_DONE_EVENT
    return response


class QueueDown(Exception):
    """Redis did not answer: nothing was enqueued."""


def _enqueue(func, label: str, kind: str, timeout: int, **kwargs: Any) -> str:
    try:
        return _enqueue_job(func, label, kind, timeout, **kwargs)
    except RedisError as exc:
        raise QueueDown(f"The job queue (Redis) is not reachable ({type(exc).__name__}): "
                        "nothing was started. Check REDIS_URL and try again.") from None


def _enqueue_job(func, label: str, kind: str, timeout: int, **kwargs: Any) -> str:
    job = queue().enqueue_call(func, kwargs=kwargs, timeout=timeout, result_ttl=JOB_RESULT_TTL,
                               failure_ttl=JOB_FAILURE_TTL,
                               meta={"kind": kind, "label": label,
                                     "by": getattr(current_user, "email", None)})
    return job.id


# --- routes --------------------------------------------------------------------------------

@bp.get("/status")
def index() -> ResponseReturnValue:
    rng = current_range()
    settings = current_app.config["ABACUS"]
    # The accounts named in the environment, as the worker and scheduler see them at start.
    problem = env_accounts_problem()
    st = data.status_page(rng.start, rng.end, settings, redis_connection(),
                          config_error=problem, wanted=jobs.schedules(settings))
    if viewer().restricted:
        st = data.for_member(st, viewer().email or "")
    return render("status/index.html", "status/_body.html", st=st, rng=rng,
                  jobs=_jobs_from_args(), timezone=settings.timezone,
                  telemetry=telemetry_status.comparison(rng.start, rng.end),
                  ingest_tokens=telemetry_status.token_rows() if is_admin() else [],
                  **_helpers())


@bp.post("/admin/sync")
@admin_required
def sync_now() -> ResponseReturnValue:
    """Enqueue one sync (or backfill) job per account of `source` (or the one `account`)."""
    source = request.form.get("source", "").strip() or None
    name = request.form.get("account", "").strip() or None
    kind = request.form.get("kind", "sync").strip() or "sync"
    if kind not in ("sync", "backfill"):
        return _problem(f"Unknown kind {kind!r}: use sync or backfill.", 400)
    if source is None and name is None:
        return _problem("Say which provider (source) or account to sync.", 400)
    if source == "github":
        return _sync_github()
    try:
        accounts = selected_accounts(source, name, bootstrap=True)
    except UnknownProvider:
        return _problem(f"No provider called {source!r} is installed.", 400)
    accounts = [a for a in accounts if a.status != "disabled"]
    if not accounts:
        what = f"account {name!r}" if name else f"{source} account"
        return _problem(f"No enabled {what} with credentials to {kind}. Add or enable one "
                        "under Admin → Accounts.", 404)
    func = jobs.sync_account if kind == "sync" else jobs.backfill_account
    try:
        ids = [_enqueue(func, a.name, kind, jobs.SYNC_JOB_TIMEOUT, account_id=a.id)
               for a in accounts]
    except QueueDown as exc:
        return _problem(str(exc), 503)
    if not wants_fragment():
        return redirect(url_for("status.index", jobs=",".join(ids)), code=303)
    views = [v for v in (data.job_view(i, redis_connection()) for i in ids) if v]
    return _jobs_response(views, 202)


def _sync_github() -> ResponseReturnValue:
    """GitHub commits: missed pushes, line stats and pending history, as the schedule does."""
    if not current_app.config["ABACUS"].github_api_configured:
        return _problem("The GitHub API is not configured: set GITHUB_TOKEN or a GitHub App.",
                        404)
    try:
        job_id = _enqueue(jobs.github_scheduled, "GitHub commits", "sync",
                          jobs.SYNC_JOB_TIMEOUT)
    except QueueDown as exc:
        return _problem(str(exc), 503)
    if not wants_fragment():
        return redirect(url_for("status.index", jobs=job_id), code=303)
    views = [v for v in (data.job_view(job_id, redis_connection()),) if v]
    return _jobs_response(views, 202)


def _problem(message: str, status: int) -> ResponseReturnValue:
    """A refused job request: a notice in the jobs panel (htmx) or on the status page."""
    if wants_fragment():
        return render_template("status/_notice.html", message=message), status
    return render_template("status/notice_page.html", message=message), status


@bp.get("/admin/jobs/<job_id>")
@admin_required
def job(job_id: str) -> ResponseReturnValue:
    """One job's progress; once it has ended the fragment has no polling trigger any more."""
    view = data.job_view(job_id, redis_connection())
    if view is None:
        if wants_fragment():
            return render_template("status/_notice.html",
                                   message="This job is no longer known (finished jobs are "
                                           "kept for a day)."), 404
        abort(404)
    if wants_fragment():
        return _jobs_response([view])
    return render_template("status/job.html", job=view, **_helpers())


@bp.route("/admin/upload", methods=["GET", "POST"])
@admin_required
def upload() -> ResponseReturnValue:
    """Upload a Cursor usage export; an import job validates and stores it."""
    empty = {"account": "", "user": "", "skip_invalid": False}
    accounts = data.cursor_accounts()
    if request.method == "GET":
        form = {**empty, "account": params.text("account")}
        # The recent-imports card alone when it refreshes after a job ended.
        return render("status/upload.html", "status/_import_runs.html", form=form, errors={},
                      accounts=accounts, jobs=_jobs_from_args(),
                      runs=data.recent_runs(kind="import"), **_helpers())
    form, errors, stored = _save_upload()
    if errors:
        return _upload_refused(form, errors, accounts, 422)
    assert stored is not None
    try:
        job_id = _enqueue(jobs.import_csv, stored.filename, "import", IMPORT_TIMEOUT,
                          upload=stored.id, account=form["account"] or None,
                          user=form["user"] or None, skip_invalid=form["skip_invalid"])
    except QueueDown as exc:
        uploads.delete_upload(stored.id)
        return _upload_refused(form, {"queue": str(exc)}, accounts, 503)
    if not wants_fragment():
        return redirect(url_for("status.upload", jobs=job_id), code=303)
    view = data.job_view(job_id, redis_connection())
    # A fresh form (so the same file is not sent twice) plus the job, out of band.
    return render_template("status/_upload_form.html", form=empty, errors={},
                           accounts=accounts, new_jobs=[view] if view else [],
                           **_helpers()), 202


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """A body over the limit (web/limits.py): on the upload form, said next to the file."""
    limit = body_limit() // MB
    if request.endpoint == UPLOAD_ENDPOINT and is_admin():
        message = (f"The file is larger than {limit} MB, the most an upload may be "
                   "(ABACUS_MAX_UPLOAD_MB). Split the export into smaller date ranges.")
        form = {"account": "", "user": "", "skip_invalid": False}
        return _upload_refused(form, {"file": message}, data.cursor_accounts(), 413)
    return _problem(f"The request is larger than {limit} MB, the most this address accepts.",
                    413)


def _upload_refused(form: dict[str, Any], errors: dict[str, str], accounts: list[str],
                    status: int) -> ResponseReturnValue:
    """The form again with what to fix: the card alone for htmx, else the whole page."""
    context = {"form": form, "errors": errors, "accounts": accounts, **_helpers()}
    if wants_fragment():
        return render_template("status/_upload_form.html", new_jobs=[], **context), status
    return render_template("status/upload.html", jobs=[], runs=data.recent_runs(kind="import"),
                           **context), status


def _save_upload() -> tuple[dict[str, Any], dict[str, str], uploads.StoredUpload | None]:
    """Check the form and store the file in PostgreSQL, where the worker reads it (the worker
    may run in another container, without this process's disk)."""
    form = {"account": request.form.get("account", "").strip(),
            "user": request.form.get("user", "").strip().lower(),
            "skip_invalid": request.form.get("skip_invalid") in ("1", "on", "true", "yes")}
    errors: dict[str, str] = {}
    file = request.files.get("file")
    filename = secure_filename(file.filename or "") if file else ""
    if file is None or not file.filename:
        errors["file"] = "Choose the CSV file exported from Cursor's usage page."
    elif not filename.lower().endswith(".csv"):
        errors["file"] = "That is not a .csv file: export the usage as CSV from Cursor."
    account = form["account"]
    if account:
        provider = data.account_provider(account)
        if provider is None and (len(account) > 128
                                 or not re.fullmatch(r"[A-Za-z0-9._-]+", account)):
            errors["account"] = ("A new account name may use letters, digits, dots, dashes "
                                 "and underscores.")
        elif provider is not None and provider not in ("cursor", "cursor_session"):
            errors["account"] = (f"{account!r} is an account of the {provider} provider, not "
                                 "Cursor: pick a Cursor account or a new name.")
    if form["user"] and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", form["user"]):
        errors["user"] = "Enter the e-mail address of the person whose export this is."
    if errors:
        return form, errors, None
    assert file is not None
    uploads.sweep()  # what killed workers or unrun jobs left behind
    return form, errors, uploads.store(file.stream, filename)

