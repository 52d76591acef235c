"""Stored commits: the one place that writes `repositories`, `commits` and their attributions.

The webhook (`github.webhook`) and the REST backfill (`github.backfill`) both hand
`CommitIn` values to `store`, which is idempotent: storing the same commit again changes
nothing, and a later source can only fill in what an earlier one did not know (line stats, the
GitHub account behind an e-mail). Each commit's AI attribution is recomputed from its message
and identities by `attribution.detect`, so the stored signal is always the current table's.

People: a commit belongs to the person its GitHub login (or, without a login, its e-mail) is
mapped to in `identity_mappings` (source "github"), else to its author e-mail when that is a
real work address (not a noreply address; inside ALLOWED_DOMAINS when those are set). A login
seen with a work address is remembered as a mapping, so that person's later noreply commits
resolve too; an admin's assignment is never overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..extensions import db
from ..models import Commit, CommitAttribution, IdentityMapping, Repository
from ..usage.ingest import reattribute as reattribute_usage
from . import attribution

SOURCE = "github"  # identity_mappings.source and repositories.source
LEARNED_BY = "commits"  # assigned_by of mappings learned from commit e-mails
_NOREPLY = re.compile(r"^(?:(\d{1,20})\+)?([A-Za-z0-9-]{1,39}(?:\[bot\])?)"
                      r"@users\.noreply\.github\.com$", re.IGNORECASE)
_BATCH = 500


@dataclass(frozen=True)
class CommitIn:
    """A commit as a source reported it (webhook payload or REST API), normalized."""

    sha: str
    message: str
    committed_at: datetime  # author date, tz-aware
    author_name: str | None = None
    author_email: str | None = None
    author_login: str | None = None
    author_github_id: int | None = None
    committer_name: str | None = None
    committer_email: str | None = None
    additions: int | None = None
    deletions: int | None = None
    html_url: str | None = None

    def __post_init__(self) -> None:
        if self.committed_at.tzinfo is None:
            raise ValueError(f"commit {self.sha}: committed_at must be timezone-aware")


@dataclass
class StoreResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: StoreResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def noreply_identity(email: str | None) -> tuple[int | None, str | None]:
    """`123+login@users.noreply.github.com` → (123, "login"); other addresses → (None, None)."""
    match = _NOREPLY.match((email or "").strip())
    if not match:
        return None, None
    return (int(match.group(1)) if match.group(1) else None), match.group(2)


def identity_key(login: str | None, email: str | None) -> str | None:
    """The identity_mappings external id of a commit author: the login, else the e-mail."""
    if login:
        return login.strip().lower()
    return (email or "").strip().lower() or None


def is_work_email(email: str | None, allowed_domains: Sequence[str] = ()) -> bool:
    value = (email or "").strip().lower()
    if "@" not in value or "noreply" in value:
        return False
    return not allowed_domains or value.rsplit("@", 1)[1] in allowed_domains


def repository(full_name: str, **facts: Any) -> Repository:
    """The repository row for `owner/name` (created on first sight); facts given update it."""
    repo = db.session.execute(select(Repository).where(
        Repository.source == SOURCE, func.lower(Repository.full_name) == full_name.lower())
    ).scalar_one_or_none()
    if repo is None:
        repo = Repository(source=SOURCE, full_name=full_name, backfill_status="pending")
        db.session.add(repo)
    for key, value in facts.items():
        if value is not None and getattr(repo, key) != value:
            setattr(repo, key, value)
    db.session.flush()
    return repo


def _allowed_domains() -> tuple[str, ...]:
    return current_app.config["ABACUS"].allowed_domains


def _mappings(keys: set[str]) -> dict[str, IdentityMapping]:
    if not keys:
        return {}
    rows = db.session.execute(select(IdentityMapping).where(
        IdentityMapping.source == SOURCE, IdentityMapping.external_id.in_(keys))).scalars()
    return {m.external_id: m for m in rows}


def _resolve(c: CommitIn, mappings: dict[str, IdentityMapping],
             domains: Sequence[str]) -> str | None:
    key = identity_key(c.author_login, c.author_email)
    if key and key in mappings:
        return mappings[key].email
    if is_work_email(c.author_email, domains):
        return c.author_email.strip().lower()
    email_key = (c.author_email or "").strip().lower()
    if email_key in mappings:  # mapped by e-mail before the login was known
        return mappings[email_key].email
    return None


def _learn(commits: Sequence[CommitIn], mappings: dict[str, IdentityMapping],
           domains: Sequence[str]) -> list[str]:
    """Remember login → work e-mail for logins without a mapping; returns the new keys."""
    learned: list[str] = []
    for c in commits:
        if c.author_login and is_work_email(c.author_email, domains):
            key = identity_key(c.author_login, None)
            if key not in mappings:
                row = IdentityMapping(source=SOURCE, external_id=key,
                                      email=c.author_email.strip().lower(),
                                      assigned_by=LEARNED_BY)
                db.session.add(row)
                mappings[key] = row
                learned.append(key)
    return learned


def _detect(c: CommitIn) -> list[attribution.Attribution]:
    return attribution.detect(c.message, author_name=c.author_name, author_email=c.author_email,
                              committer_name=c.committer_name,
                              committer_email=c.committer_email, author_login=c.author_login)


def _merged(row: Commit, c: CommitIn) -> dict[str, Any]:
    """What `c` adds to a stored commit: only fields the stored row does not know yet."""
    changes: dict[str, Any] = {}
    for name in ("author_login", "author_github_id", "additions", "deletions", "html_url",
                 "committer_name", "committer_email", "author_name", "author_email"):
        new = getattr(c, name)
        if new is not None and getattr(row, name) is None:
            changes[name] = new
    if c.message and not row.message:
        changes["message"] = c.message
    return changes


def store(repo: Repository, commits: Iterable[CommitIn], source: str) -> StoreResult:
    """Insert new commits and fill in what stored ones lack; the caller commits."""
    result = StoreResult()
    batch: list[CommitIn] = []
    for c in commits:
        batch.append(c)
        if len(batch) >= _BATCH:
            result.add(_store_batch(repo, batch, source))
            batch = []
    if batch:
        result.add(_store_batch(repo, batch, source))
    return result


def _store_batch(repo: Repository, batch: list[CommitIn], source: str) -> StoreResult:
    result = StoreResult()
    unique: dict[str, CommitIn] = {}
    for c in batch:  # a payload may list a commit twice: the first one wins
        unique.setdefault(c.sha.lower(), c)
    existing = {row.sha: row for row in db.session.execute(
        select(Commit).where(Commit.repository_id == repo.id,
                             Commit.sha.in_(list(unique)))).scalars()}
    domains = _allowed_domains()
    keys = {k for c in unique.values()
            for k in (identity_key(c.author_login, c.author_email),
                      (c.author_email or "").strip().lower()) if k}
    mappings = _mappings(keys)
    learned = _learn(list(unique.values()), mappings, domains)
    new: list[tuple[str, CommitIn]] = []
    for sha, c in unique.items():
        row = existing.get(sha)
        if row is None:
            new.append((sha, c))
            continue
        changes = _merged(row, c)
        if not changes:
            result.unchanged += 1
            continue
        for name, value in changes.items():
            setattr(row, name, value)
        if {"author_login", "author_name", "author_email", "committer_name",
                "committer_email", "message"} & changes.keys():
            merged = CommitIn(sha=sha, message=row.message, committed_at=row.committed_at,
                              author_name=row.author_name, author_email=row.author_email,
                              author_login=row.author_login, committer_name=row.committer_name,
                              committer_email=row.committer_email)
            found = _detect(merged)
            first = attribution.primary(found)
            row.ai_tool, row.ai_model = (first.tool, first.model) if first else (None, None)
            db.session.flush()
            _set_attributions(row.id, found)
            if row.person is None:
                row.person = _resolve(merged, mappings, domains)
        result.updated += 1
    db.session.flush()
    if new:
        _insert(repo, new, source, mappings, domains, result)
    if learned:
        reattribute(learned)
        # The same login's Copilot usage (mapped under "github" too) follows.
        reattribute_usage(SOURCE, learned)
    return result


def _insert(repo: Repository, new: list[tuple[str, CommitIn]], source: str,
            mappings: dict[str, IdentityMapping], domains: Sequence[str],
            result: StoreResult) -> None:
    """One multi-row INSERT for the commits and one for their attributions (a 2048-commit
    push must be answered within a second). A commit another request stored meanwhile is
    skipped by ON CONFLICT and counts as unchanged."""
    found = {sha: _detect(c) for sha, c in new}
    rows = []
    for sha, c in new:
        first = attribution.primary(found[sha])
        rows.append(dict(
            repository_id=repo.id, sha=sha, committed_at=c.committed_at,
            message=c.message or "", author_name=c.author_name, author_email=c.author_email,
            author_login=c.author_login, author_github_id=c.author_github_id,
            committer_name=c.committer_name, committer_email=c.committer_email,
            additions=c.additions, deletions=c.deletions, html_url=c.html_url, source=source,
            person=_resolve(c, mappings, domains), ai_tool=first.tool if first else None,
            ai_model=first.model if first else None))
    table = Commit.__table__  # Core executemany: SQLAlchemy batches it into few statements
    ids = dict(db.session.connection().execute(
        pg_insert(table).on_conflict_do_nothing(index_elements=["repository_id", "sha"])
        .returning(table.c.sha, table.c.id), rows).all())
    attributions = [dict(commit_id=ids[sha], tool=a.tool, model=a.model, signal=a.signal,
                         evidence=a.evidence)
                    for sha, _ in new if sha in ids for a in found[sha]]
    if attributions:
        db.session.connection().execute(pg_insert(CommitAttribution.__table__), attributions)
    result.inserted += len(ids)
    result.unchanged += len(new) - len(ids)


def _set_attributions(commit_id: int, found: Sequence[attribution.Attribution]) -> None:
    db.session.execute(delete(CommitAttribution).where(CommitAttribution.commit_id == commit_id))
    for a in found:
        db.session.add(CommitAttribution(commit_id=commit_id, tool=a.tool, model=a.model,
                                         signal=a.signal, evidence=a.evidence))


def reattribute(external_ids: Iterable[str]) -> int:
    """Point commits of these GitHub identities at their mapped person; returns rows changed.

    An identity is a login, or an e-mail for commits without a login. Called whenever a
    "github" mapping is added or changed (by an admin, or learned from a work e-mail).
    """
    ids = sorted({i.strip().lower() for i in external_ids if i and i.strip()})
    if not ids:
        return 0
    changed = 0
    for m in _mappings(set(ids)).values():
        key = m.external_id
        who = or_(func.lower(Commit.author_login) == key,
                  and_(Commit.author_login.is_(None), func.lower(Commit.author_email) == key))
        changed += db.session.execute(
            update(Commit).where(who, Commit.person.is_distinct_from(m.email))
            .values(person=m.email).execution_options(synchronize_session=False)).rowcount
    return changed


def release(external_id: str, email: str) -> int:
    """A removed mapping: commits of this identity that it gave to `email` go back to their
    author's work address, or to nobody (unmapped again). Returns rows changed."""
    key = external_id.strip().lower()
    who = or_(func.lower(Commit.author_login) == key,
              and_(Commit.author_login.is_(None), func.lower(Commit.author_email) == key))
    domains = _allowed_domains()
    changed = 0
    for row in db.session.execute(select(Commit).where(who, Commit.person == email)).scalars():
        row.person = (row.author_email.strip().lower()
                      if is_work_email(row.author_email, domains) else None)
        changed += row.person != email
    db.session.flush()
    return changed


def move_person(old: str, new: str) -> int:
    """Merging two people: commits of `old` now belong to `new`."""
    return db.session.execute(
        update(Commit).where(Commit.person == old).values(person=new)
        .execution_options(synchronize_session=False)).rowcount


def delete_commit(repo: Repository, sha: str) -> bool:
    """Drop a stored commit (a merge commit found out by its details); True if one went."""
    return bool(db.session.execute(delete(Commit).where(
        Commit.repository_id == repo.id, Commit.sha == sha.lower())).rowcount)

