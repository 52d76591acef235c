"""GitHub push webhook: signature check, delivery de-duplication, storing pushed commits.

The view (`web/webhooks.py`) only hands over the raw body and headers. Everything here is
fast: the push's commits are stored in the request (no GitHub API calls); line stats and the
commits past the payload's 2048-commit cap are left to RQ jobs (`jobs.github_*`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from ..extensions import db
from ..models import WebhookDelivery
from . import store as commits

log = logging.getLogger(__name__)

PAYLOAD_COMMIT_CAP = 2048  # GitHub lists at most this many commits in one push event
ZERO_SHA = "0" * 40


class BadPayload(ValueError):
    """The delivery is not a push payload Abacus can read; the message says what is wrong."""


@dataclass(frozen=True)
class Outcome:
    status: int
    outcome: str  # ping | stored | duplicate | ignored
    detail: str
    repository: str | None = None
    commits: int = 0
    follow_up: tuple[str, ...] = ()  # jobs the view should enqueue: "stats", "overflow"
    before: str | None = None
    after: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "detail": self.detail, "repository": self.repository,
                "commits": self.commits}


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256` = "sha256=" + HMAC-SHA256(secret, raw body), compared in
    constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def parse_time(value: Any, where: str) -> datetime:
    """ISO 8601 with the author's offset → aware UTC."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadPayload(f"{where}: timestamp {value!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise BadPayload(f"{where}: timestamp {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


def _commit_in(raw: Any, index: int, sender: dict[str, Any]) -> commits.CommitIn:
    where = f"commits[{index}]"
    if not isinstance(raw, dict):
        raise BadPayload(f"{where}: expected an object")
    sha = str(raw.get("id") or "").lower()
    if len(sha) < 7 or any(ch not in "0123456789abcdef" for ch in sha):
        raise BadPayload(f"{where}.id: {raw.get('id')!r} is not a commit SHA")
    author = raw.get("author") or {}
    committer = raw.get("committer") or {}
    login = author.get("username") or None
    github_id, noreply_login = commits.noreply_identity(author.get("email"))
    login = login or noreply_login
    if github_id is None and login and sender.get("login") == login:
        github_id = sender.get("id") if isinstance(sender.get("id"), int) else None
    return commits.CommitIn(
        sha=sha, message=str(raw.get("message") or ""),
        committed_at=parse_time(raw.get("timestamp"), f"{where}.timestamp"),
        author_name=author.get("name"), author_email=author.get("email"), author_login=login,
        author_github_id=github_id, committer_name=committer.get("name"),
        committer_email=committer.get("email"), html_url=raw.get("url"))


def _claim(delivery_id: str, event: str, repository: str | None) -> bool:
    """Record the delivery; False when it was handled before (a redelivery)."""
    inserted = db.session.execute(
        insert(WebhookDelivery).values(delivery_id=delivery_id, event=event,
                                       repository=repository, outcome="received", commits=0)
        .on_conflict_do_nothing(index_elements=["delivery_id"])
        .returning(WebhookDelivery.delivery_id)).first()
    return inserted is not None


def _finish(delivery_id: str, result: Outcome) -> Outcome:
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is not None:
        row.outcome, row.commits = result.outcome, result.commits
    db.session.commit()
    return result


def handle(event: str, delivery_id: str | None, body: bytes) -> Outcome:
    """Handle one verified delivery; the caller has checked the signature."""
    if event == "ping":
        return Outcome(200, "ping", "pong")
    if event != "push":
        return Outcome(202, "ignored", f"event {event!r} is not used")
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadPayload("body is not JSON (configure the webhook with content type "
                         "application/json)") from None
    if not isinstance(payload, dict):
        raise BadPayload("body is not a JSON object")
    repo_info = payload.get("repository") or {}
    full_name = repo_info.get("full_name")
    if not isinstance(full_name, str) or "/" not in full_name:
        raise BadPayload("repository.full_name is missing")
    delivery_id = (delivery_id or "").strip()[:64] or f"push:{payload.get('after')}"
    if not _claim(delivery_id, event, full_name):
        db.session.rollback()
        return Outcome(200, "duplicate", "delivery already handled", full_name)
    try:
        result = _push(payload, repo_info, full_name)
    except Exception:
        db.session.rollback()  # nothing of a refused delivery is kept, not even its id
        raise
    return _finish(delivery_id, result)


def _push(payload: dict[str, Any], repo_info: dict[str, Any], full_name: str) -> Outcome:
    default_branch = repo_info.get("default_branch") or repo_info.get("master_branch")
    ref = payload.get("ref") or ""
    if not default_branch or ref != f"refs/heads/{default_branch}":
        return Outcome(200, "ignored", f"{ref or 'no ref'} is not the default branch",
                       full_name)
    if payload.get("deleted"):
        return Outcome(200, "ignored", "branch deleted", full_name)
    raw_commits = payload.get("commits") or []
    if not isinstance(raw_commits, list):
        raise BadPayload("commits: expected a list")
    sender = payload.get("sender") or {}
    parsed = [_commit_in(raw, i, sender) for i, raw in enumerate(raw_commits)]
    repo = commits.repository(
        full_name, external_id=repo_info.get("id") if isinstance(repo_info.get("id"), int)
        else None, default_branch=default_branch, html_url=repo_info.get("html_url"),
        private=repo_info.get("private") if isinstance(repo_info.get("private"), bool)
        else None)
    result = commits.store(repo, parsed, "webhook")
    follow_up = ["stats"] if result.inserted else []
    if len(raw_commits) >= PAYLOAD_COMMIT_CAP:
        follow_up.append("overflow")  # GitHub truncated the list: fetch the rest via the API
    log.info("push to %s: %d commits (%d new)", full_name, len(parsed), result.inserted)
    return Outcome(200, "stored", f"{result.inserted} new, {result.updated} updated, "
                   f"{result.unchanged} unchanged", full_name, result.inserted + result.updated,
                   tuple(follow_up), before=payload.get("before"), after=payload.get("after"))
