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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from ..extensions import db
from ..models import WebhookDelivery
from . import store as commits

log = logging.getLogger(__name__)

PAYLOAD_COMMIT_CAP = 2048  # GitHub lists at most this many commits in one push event
ZERO_SHA = "0" * 40
MAX_ID = 2**63 - 1  # ids are BIGINT columns
MAX_NAME = 255  # names, e-mails, logins and branches are VARCHAR(255)
EARLIEST_COMMIT = datetime(1970, 1, 1, tzinfo=UTC)  # git's epoch; before it is a broken clock


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
    """ISO 8601 with the author's offset → aware UTC, between 1970 and a day from now."""
    shown = _shown(value)
    if not isinstance(value, str) or len(value) > 64:
        raise BadPayload(f"{where}: timestamp {shown} is not ISO 8601")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise BadPayload(f"{where}: timestamp {shown} has no UTC offset")
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # year 1 at +02:00 is before datetime.min in UTC
        raise BadPayload(f"{where}: timestamp {shown} is not a time Abacus can store") from None
    if not EARLIEST_COMMIT <= parsed <= datetime.now(UTC) + timedelta(days=1):
        raise BadPayload(f"{where}: timestamp {shown} is not between 1970 and tomorrow")
    return parsed


def _shown(value: Any) -> str:
    """A payload value in an error message: short, and never a raw NUL."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _object(value: Any, where: str) -> dict[str, Any]:
    """A nested object; missing or null is an empty one, any other type is refused."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadPayload(f"{where}: expected an object, not {type(value).__name__}")
    return value


def _text(obj: dict[str, Any], key: str, where: str, max_length: int | None = MAX_NAME
          ) -> str | None:
    """A string field: missing or null is None; another type, a NUL byte (PostgreSQL text
    cannot hold one) or more than the column holds is refused."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadPayload(f"{where}.{key}: expected a string, not {type(value).__name__}")
    if "\0" in value:
        raise BadPayload(f"{where}.{key}: contains a NUL byte")
    if max_length is not None and len(value) > max_length:
        raise BadPayload(f"{where}.{key}: longer than {max_length} characters")
    return value


def _id(obj: dict[str, Any], key: str, where: str) -> int | None:
    """A GitHub numeric id: missing is None; not a positive BIGINT is refused."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_ID:
        raise BadPayload(f"{where}.{key}: {_shown(value)} is not a GitHub id")
    return value


def _commit_in(raw: Any, index: int, sender: dict[str, Any]) -> commits.CommitIn:
    where = f"commits[{index}]"
    raw = _object(raw, where)
    sha = raw.get("id")
    # SHA-1 is 40 hex digits, SHA-256 64; GitHub never abbreviates them in a push.
    if not isinstance(sha, str) or not 7 <= len(sha) <= 64 or any(
            ch not in "0123456789abcdef" for ch in sha.lower()):
        raise BadPayload(f"{where}.id: {_shown(sha)} is not a commit SHA")
    author = _object(raw.get("author"), f"{where}.author")
    committer = _object(raw.get("committer"), f"{where}.committer")
    author_email = _text(author, "email", f"{where}.author")
    login = _text(author, "username", f"{where}.author") or None
    github_id, noreply_login = commits.noreply_identity(author_email)
    if github_id is not None and github_id > MAX_ID:
        raise BadPayload(f"{where}.author.email: the noreply id {github_id} is not a GitHub id")
    login = login or noreply_login
    if github_id is None and login and sender.get("login") == login:
        github_id = sender.get("id")
    return commits.CommitIn(
        sha=sha.lower(), message=_text(raw, "message", where, None) or "",
        committed_at=parse_time(raw.get("timestamp"), f"{where}.timestamp"),
        author_name=_text(author, "name", f"{where}.author"), author_email=author_email,
        author_login=login, author_github_id=github_id,
        committer_name=_text(committer, "name", f"{where}.committer"),
        committer_email=_text(committer, "email", f"{where}.committer"),
        html_url=_text(raw, "url", where, 2048))


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
    except RecursionError:
        raise BadPayload("body is nested too deeply to be a push payload") from None
    except ValueError:
        raise BadPayload("body is not JSON (configure the webhook with content type "
                         "application/json)") from None
    if not isinstance(payload, dict):
        raise BadPayload("body is not a JSON object")
    repo_info = _object(payload.get("repository"), "repository")
    full_name = _text(repo_info, "full_name", "repository")
    if not full_name or "/" not in full_name:
        raise BadPayload("repository.full_name is missing")
    for key in ("before", "after"):
        _text(payload, key, "push", 64)  # SHAs: they name the delivery and the follow-up job
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
    default_branch = (_text(repo_info, "default_branch", "repository")
                      or _text(repo_info, "master_branch", "repository"))
    ref = _text(payload, "ref", "push", None) or ""
    if not default_branch or ref != f"refs/heads/{default_branch}":
        return Outcome(200, "ignored", f"{ref or 'no ref'} is not the default branch",
                       full_name)
    if payload.get("deleted"):
        return Outcome(200, "ignored", "branch deleted", full_name)
    raw_commits = payload.get("commits") or []
    if not isinstance(raw_commits, list):
        raise BadPayload("commits: expected a list")
    sender = _object(payload.get("sender"), "sender")
    sender = {"login": _text(sender, "login", "sender"), "id": _id(sender, "id", "sender")}
    parsed = [_commit_in(raw, i, sender) for i, raw in enumerate(raw_commits)]
    repo = commits.repository(
        full_name, external_id=_id(repo_info, "id", "repository"),
        default_branch=default_branch,
        html_url=_text(repo_info, "html_url", "repository", 2048),
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
