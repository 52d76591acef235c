"""Commit history from the GitHub REST API: backfill, line stats, missed pushes.

Every repository is walked on its own, under its own advisory lock, and committed page by page,
so a worker killed mid-run loses nothing and a re-run only costs list calls (commits already
stored with line stats are not fetched again). A rate limit parks the repository (and ends the
run: GitHub's limit is per token), a failing repository is marked `failed` with the error, and
only a repository whose every page down to the target day was read is `complete`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import func, select

from ..extensions import LockSpace, advisory_lock, db
from ..models import Commit, Repository, SyncRun
from ..providers import github as gh
from ..providers.base import AuthExpired, ProviderError, RateLimited
from . import store as commits

log = logging.getLogger(__name__)

LOCK_NAMESPACE = LockSpace.REPOSITORY  # pg_try_advisory_lock(ns, repository id)
POLL_OVERLAP = timedelta(days=2)  # a missed webhook is found by re-listing recent days
RATE_LIMIT_PAUSE = timedelta(minutes=15)  # when GitHub gives no reset time
STATS_BATCH = 100

Progress = Callable[[int, int, int, str], None]  # repos done, repos total, commits, label


class NotConfigured(ProviderError):
    """No GitHub token or App is configured."""


def client(settings) -> gh.GitHubClient:
    creds = gh.GitHubCredentials(
        token=settings.github_token, app_id=settings.github_app_id,
        app_private_key=settings.github_app_private_key,
        app_installation_id=settings.github_app_installation_id)
    if not creds.configured:
        raise NotConfigured("GitHub API access is not configured: set GITHUB_TOKEN, or "
                            "GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and "
                            "GITHUB_APP_INSTALLATION_ID")
    return gh.GitHubClient(creds, api_url=settings.github_api_url)


# Not sync.engine.Outcome: a repository's backfill counts what GitHub lists (merges, line
# stats), not provider windows; only the write counts every store reports are alike.
@dataclass
class RepoOutcome:
    repository: str
    status: str  # complete | partial | failed | rate_limited | busy | skipped
    listed: int = 0
    merges_skipped: int = 0
    stats_filled: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None
    retry_after: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunOutcome:
    repositories: list[RepoOutcome] = field(default_factory=list)
    stopped: str | None = None  # why the run ended early (rate limit, bad credentials)

    @property
    def ok(self) -> bool:
        return self.stopped is None and all(
            r.status in ("complete", "busy", "skipped") for r in self.repositories)

    def as_dict(self) -> dict[str, Any]:
        return {"repositories": [r.as_dict() for r in self.repositories],
                "stopped": self.stopped}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, dtime.min, tzinfo=UTC)


def repository_lock(repo_id: int) -> AbstractContextManager[bool]:
    """Keeps two workers off one repository; yields False when another holds it."""
    return advisory_lock(LOCK_NAMESPACE, repo_id)


def targets(api: gh.GitHubClient, org: str | None = None,
            repos: tuple[str, ...] = ()) -> list[str]:
    """Repositories to walk: the organization's (archived ones skipped) and the named ones."""
    names: dict[str, str] = {}
    if org:
        for repo in api.org_repos(org):
            if not repo.archived:
                names.setdefault(repo.full_name.lower(), repo.full_name)
    for name in repos:
        names.setdefault(name.lower(), name)
    return sorted(names.values(), key=str.lower)


def _commit_in(c: gh.Commit) -> commits.CommitIn:
    author, committer = c.author, c.committer
    github_id, noreply_login = commits.noreply_identity(author.email)
    return commits.CommitIn(
        sha=c.sha.lower(), message=c.message, committed_at=c.authored_at,
        author_name=author.name, author_email=author.email,
        author_login=author.login or noreply_login, author_github_id=author.id or github_id,
        committer_name=committer.name, committer_email=committer.email,
        additions=c.additions, deletions=c.deletions, html_url=c.html_url)


def _with_stats(repo: Repository, since: datetime | None) -> set[str]:
    """SHAs stored with line stats (no detail call needed), from the walk's window only: an
    hourly poll of two days must not load a big repository's whole history."""
    query = select(Commit.sha).where(Commit.repository_id == repo.id,
                                     Commit.additions.is_not(None))
    if since is not None:  # GitHub filters by commit date; authored may be a little earlier
        query = query.where(Commit.committed_at >= since - timedelta(days=30))
    return set(db.session.execute(query).scalars())


def _park(repo: Repository, exc: RateLimited) -> None:
    wait = timedelta(seconds=exc.retry_after) if exc.retry_after else RATE_LIMIT_PAUSE
    repo.parked_until = utcnow() + wait
    repo.last_error = f"rate limited until {repo.parked_until.isoformat(timespec='seconds')}"


def _start_run(full_name: str, kind: str, start: datetime | None,
               end: datetime | None) -> int:
    run = SyncRun(kind=kind, source=f"github:{full_name}", window_start=start, window_end=end,
                  status="running", details={})
    db.session.add(run)
    db.session.commit()
    return run.id


def _finish_run(run_id: int, outcome: RepoOutcome) -> None:
    run = db.session.get(SyncRun, run_id)
    run.finished_at = utcnow()
    run.status = {"complete": "success", "partial": "partial"}.get(outcome.status, "failed")
    if outcome.status == "rate_limited":
        run.status = "partial" if outcome.inserted or outcome.updated else "failed"
    run.fetched, run.inserted = outcome.listed, outcome.inserted
    run.updated, run.unchanged = outcome.updated, outcome.unchanged
    run.error = outcome.error
    run.details = {"merges_skipped": outcome.merges_skipped,
                   "stats_filled": outcome.stats_filled}
    db.session.commit()


def walk_repository(api: gh.GitHubClient, full_name: str, since: date | None,
                    until: date | None = None, *, kind: str = "commits-backfill",
                    stop_at_sha: str | None = None,
                    on_commit: Callable[[int], None] | None = None) -> RepoOutcome:
    """Store the default branch's commits from `since` (None: from `stop_at_sha` or the
    start of history) to `until`, with line stats; one repository, resumable.

    A backfill (`kind="commits-backfill"`) marks the repository complete down to `since`
    once every page was read.
    """
    outcome = RepoOutcome(full_name, "complete")
    repo = commits.repository(full_name)
    db.session.commit()
    with repository_lock(repo.id) as got:
        if not got:
            outcome.status = "busy"
            return outcome
        start = _midnight(since) if since else None
        end = _midnight(until + timedelta(days=1)) if until else None
        run_id = _start_run(repo.full_name, kind, start, end)
        failure: AuthExpired | None = None
        try:
            _walk(api, repo, start, end, kind, stop_at_sha, outcome, on_commit)
        except RateLimited as exc:
            db.session.rollback()
            repo = db.session.get(Repository, repo.id)
            _park(repo, exc)
            outcome.status, outcome.error = "rate_limited", repo.last_error
            outcome.retry_after = exc.retry_after
            if kind == "commits-backfill":
                repo.backfill_status = "pending"  # resumes once the limit resets
        except (ProviderError, ValueError) as exc:
            db.session.rollback()
            repo = db.session.get(Repository, repo.id)
            outcome.status, outcome.error = "failed", str(exc) or type(exc).__name__
            repo.last_error = outcome.error
            if kind == "commits-backfill":
                repo.backfill_status = "failed"
            if isinstance(exc, AuthExpired):
                failure = exc
        db.session.commit()
        _finish_run(run_id, outcome)
    if failure is not None:  # the next repository would fail the same way
        raise failure
    return outcome


def _walk(api: gh.GitHubClient, repo: Repository, start: datetime | None,
          end: datetime | None, kind: str, stop_at_sha: str | None, outcome: RepoOutcome,
          on_commit: Callable[[int], None] | None) -> None:
    info = api.repo(repo.full_name)  # a rate limit here must not pass as "complete"
    repo = commits.repository(repo.full_name, external_id=info.id,
                              default_branch=info.default_branch, html_url=info.html_url,
                              private=info.private, archived=info.archived)
    if kind == "commits-backfill":
        repo.backfill_status = "running"
    repo.parked_until = None
    db.session.commit()
    known = _with_stats(repo, start)
    page: list[commits.CommitIn] = []
    for c in api.list_commits(repo.full_name, info.default_branch, since=start, until=end):
        if stop_at_sha and c.sha.lower() == stop_at_sha.lower():
            break
        outcome.listed += 1
        if c.parents > 1:
            outcome.merges_skipped += 1
            commits.delete_commit(repo, c.sha)  # stored earlier by a webhook, before we knew
            continue
        if c.sha.lower() not in known:
            c = api.commit(repo.full_name, c.sha)  # the list has no line stats
            outcome.stats_filled += 1
        page.append(_commit_in(c))
        if len(page) >= STATS_BATCH:
            _store(repo, page, outcome, on_commit)
            page = []
    _store(repo, page, outcome, on_commit)
    repo.last_error = None
    repo.synced_through = utcnow() if end is None else max(
        filter(None, (repo.synced_through, min(end, utcnow()))))
    if kind == "commits-backfill" and start is not None:
        day = start.date()
        repo.backfill_from = min(day, repo.backfill_from) if repo.backfill_from else day
        repo.backfill_status = "complete"


def _store(repo: Repository, page: list[commits.CommitIn], outcome: RepoOutcome,
           on_commit: Callable[[int], None] | None) -> None:
    result = commits.store(repo, page, "api")
    outcome.inserted += result.inserted
    outcome.updated += result.updated
    outcome.unchanged += result.unchanged
    db.session.commit()  # page by page: an interrupted walk keeps what it stored
    if on_commit:
        on_commit(len(page))


def backfill(api: gh.GitHubClient, names: list[str], since: date, until: date | None = None,
             progress: Progress | None = None) -> RunOutcome:
    """Walk each repository from `since`; a rate limit or bad credentials end the run."""
    run = RunOutcome()
    stored = 0
    for i, name in enumerate(names):
        def counted(n: int, i: int = i, name: str = name) -> None:
            nonlocal stored
            stored += n
            if progress:
                progress(i, len(names), stored, name)

        if progress:
            progress(i, len(names), stored, name)
        try:
            outcome = walk_repository(api, name, since, until, on_commit=counted)
        except AuthExpired as exc:
            run.repositories.append(RepoOutcome(name, "failed", error=str(exc)))
            run.stopped = f"GitHub refused the credentials: {exc}"
            break
        run.repositories.append(outcome)
        if outcome.status == "rate_limited":
            run.stopped = f"GitHub rate limit: {outcome.error}; the rest resumes later"
            break
    if progress:
        progress(len(run.repositories), len(names), stored, "done")
    return run


def fill_stats(api: gh.GitHubClient, limit: int = 1000,
               repository: str | None = None) -> dict[str, int]:
    """Line stats for commits that came in without them (webhook pushes), newest first.

    A commit that turns out to be a merge (two parents) is dropped: merges are not counted.
    """
    query = (select(Commit.id, Commit.sha, Repository.full_name)
             .join(Repository, Repository.id == Commit.repository_id)
             .where(Commit.additions.is_(None))
             .where(func.coalesce(Repository.parked_until, _midnight(date.min)) < utcnow())
             .order_by(Commit.committed_at.desc()).limit(limit))
    if repository:
        query = query.where(func.lower(Repository.full_name) == repository.lower())
    done = {"filled": 0, "merges_dropped": 0, "missing": 0}
    for commit_id, sha, full_name in db.session.execute(query).all():
        try:
            detail = api.commit(full_name, sha)
        except gh.NotFound:
            done["missing"] += 1  # force-pushed away; keep the commit, stats stay unknown
            continue
        except RateLimited as exc:
            _park(commits.repository(full_name), exc)
            db.session.commit()
            break
        row = db.session.get(Commit, commit_id)
        if detail.parents > 1:
            db.session.delete(row)
            done["merges_dropped"] += 1
        else:
            row.additions, row.deletions = detail.additions or 0, detail.deletions or 0
            if row.author_github_id is None and detail.author.id:
                row.author_github_id = detail.author.id
            done["filled"] += 1
        db.session.commit()
    return done


def poll_recent(api: gh.GitHubClient, now: datetime | None = None) -> RunOutcome:
    """Re-list the last days of every known repository: pushes a webhook missed land now."""
    now = now or utcnow()
    run = RunOutcome()
    repos = db.session.execute(select(Repository).where(
        Repository.archived.is_(False)).order_by(Repository.full_name)).scalars().all()
    for repo in repos:
        if repo.parked_until and repo.parked_until > now:
            run.repositories.append(RepoOutcome(repo.full_name, "skipped",
                                                error=repo.last_error))
            continue
        since = ((repo.synced_through or now) - POLL_OVERLAP).date()
        outcome = walk_repository(api, repo.full_name, since, kind="commits-poll")
        run.repositories.append(outcome)
        if outcome.status == "rate_limited":
            run.stopped = outcome.error
            break
    return run


def fill_push(api: gh.GitHubClient, full_name: str, before: str | None,
              after: str | None) -> RepoOutcome:
    """A push over GitHub's 2048-commit payload cap: list the branch down to `before`."""
    stop = None if not before or set(before) == {"0"} else before
    return walk_repository(api, full_name, None, kind="commits-push", stop_at_sha=stop)


def needs_backfill(names: list[str], target: date) -> list[str]:
    """Of `names`, the repositories whose history is not complete down to `target`."""
    rows = {r.full_name.lower(): r for r in db.session.execute(select(Repository)).scalars()}
    out = []
    for name in names:
        repo = rows.get(name.lower())
        if repo is None or repo.backfill_status != "complete" or (
                repo.backfill_from is None or repo.backfill_from > target):
            out.append(name)
    return out


def scheduled(settings, now: datetime | None = None) -> dict[str, Any]:
    """The hourly GitHub job: missed pushes, line stats, then history still to backfill."""
    now = now or utcnow()
    api = client(settings)
    report: dict[str, Any] = {}
    started = time.monotonic()
    names = targets(api, settings.github_org, settings.github_repos)
    todo = needs_backfill(names, now.date() - timedelta(days=settings.github_backfill_days))
    if todo:
        report["backfill"] = backfill(
            api, todo, now.date() - timedelta(days=settings.github_backfill_days)).as_dict()
    report["poll"] = poll_recent(api, now).as_dict()
    report["stats"] = fill_stats(api)
    report["seconds"] = round(time.monotonic() - started, 1)
    return report
