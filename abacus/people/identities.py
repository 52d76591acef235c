"""Who is behind a provider identity (API key name, member id): identity_mappings.

Mappings come from providers (`sync_from_provider`) or from an admin (`assign`); an admin's
assignment is never overwritten by a later sync. Every change re-attributes stored usage
through `ingest.reattribute`, so past usage follows the mapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from ..extensions import db
from ..models import Bot, IdentityMapping, UsageDaily
from ..providers import identity_source
from ..providers.base import Identity
from ..usage.ingest import reattribute, release

SYNC_ASSIGNER = "sync"
GITHUB = "github"  # commit authors: login (or e-mail) → person; see github/store.py


@dataclass(frozen=True)
class Unmapped:
    provider: str
    actor: str
    events: int


def sync_from_provider(provider: str, identities: Iterable[Identity]) -> int:
    """Store what the provider says; returns how many mappings were added or changed."""
    existing = {m.external_id: m for m in db.session.execute(
        select(IdentityMapping).where(IdentityMapping.source == provider)).scalars()}
    changed: list[str] = []
    for ident in identities:
        email = ident.email.strip().lower()
        if not email:
            continue
        row = existing.get(ident.external_id)
        if row is None:
            row = IdentityMapping(source=provider, external_id=ident.external_id, email=email,
                                  assigned_by=SYNC_ASSIGNER)
            db.session.add(row)
            existing[ident.external_id] = row
            changed.append(ident.external_id)
        elif row.assigned_by == SYNC_ASSIGNER and row.email != email:
            row.email = email
            changed.append(ident.external_id)
    db.session.flush()
    if changed:
        reattribute(provider, changed)
    return len(changed)


def assign(provider: str, external_id: str, email: str, assigned_by: str) -> int:
    """An admin maps an identity to a person; returns how many events (and commits) were
    re-attributed. A Copilot login is stored under source `github`: one mapping per GitHub
    login serves its commits and its Copilot usage."""
    email = email.strip().lower()
    if "@" not in email:
        raise ValueError(f"{email!r} is not an e-mail address")
    provider = identity_source(provider)
    if provider == GITHUB:
        external_id = external_id.strip().lower()  # logins and e-mails are case-insensitive
    row = db.session.get(IdentityMapping, (provider, external_id))
    if row is None:
        db.session.add(IdentityMapping(source=provider, external_id=external_id, email=email,
                                       assigned_by=assigned_by))
    else:
        row.email, row.assigned_by = email, assigned_by
    db.session.flush()
    if provider == GITHUB:
        from ..github.store import reattribute as reattribute_commits

        return reattribute_commits([external_id]) + reattribute(GITHUB, [external_id])
    return reattribute(provider, [external_id])


def unassign(provider: str, external_id: str) -> tuple[str, int] | None:
    """Remove a mapping: its usage (and, for GitHub logins, commits) goes back to the
    identity, shown as unmapped again. Returns (the e-mail it pointed at, events and commits
    moved back), or None when there was no such mapping. A provider's mapping comes back at
    its next mappings sync; to keep an identity apart, assign it instead."""
    source = identity_source(provider)
    if source == GITHUB:
        external_id = external_id.strip().lower()
    row = db.session.get(IdentityMapping, (source, external_id))
    if row is None:
        return None
    email = row.email
    db.session.delete(row)
    db.session.flush()
    moved = release(source, [external_id], email)
    if source == GITHUB:
        from ..github.store import release as release_commits

        moved += release_commits(external_id, email)
    return email, moved


def mark_bot(person: str, marked_by: str) -> bool:
    """Mark a person (an e-mail, or an unmapped identity as pages name it) as a bot or service
    account: kept and shown apart, never counted as a person. False when it already is."""
    person = person.strip()
    if not person or len(person) > 255:
        raise ValueError("name the identity or address to mark as a bot")
    if "@" in person:
        person = person.lower()
    if db.session.get(Bot, person) is not None:
        return False
    db.session.add(Bot(person=person, marked_by=marked_by))
    db.session.flush()
    return True


def unmark_bot(person: str) -> bool:
    """Count a person as a person again; False when it was not marked."""
    row = db.session.get(Bot, person.strip())
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    return True


def mappings(provider: str | None = None) -> list[IdentityMapping]:
    query = select(IdentityMapping).order_by(IdentityMapping.source, IdentityMapping.external_id)
    if provider:
        query = query.where(IdentityMapping.source == provider)
    return list(db.session.execute(query).scalars())


def unmapped(provider: str | None = None) -> list[Unmapped]:
    """Actors whose usage has no person yet (kept under their own name, never dropped)."""
    query = (select(UsageDaily.provider, UsageDaily.actor, func.sum(UsageDaily.events))
             .where(UsageDaily.email.is_(None))
             .group_by(UsageDaily.provider, UsageDaily.actor)
             .order_by(func.sum(UsageDaily.events).desc()))
    if provider:
        query = query.where(UsageDaily.provider == provider)
    return [Unmapped(p, a, int(n)) for p, a, n in db.session.execute(query)]


@dataclass(frozen=True)
class MergeResult:
    old: str
    new: str
    events_moved: int
    mappings_repointed: int  # mappings that pointed at the old address
    mappings_added: int  # identities that carried the old address themselves


def merge_people(old_email: str, new_email: str, merged_by: str) -> MergeResult:
    """Make `old_email` (say a personal address) the same person as `new_email`.

    Mappings to the old address now point at the new one, and every identity whose usage
    carried the old address gets a mapping to the new one, so later syncs keep the merge.
    All record `merged_by`. Then the stored usage moves (`ingest.move_email`).
    """
    from ..usage.ingest import move_email

    old, new = old_email.strip().lower(), new_email.strip().lower()
    for value in (old, new):
        if "@" not in value or any(ch.isspace() for ch in value):
            raise ValueError(f"{value!r} is not an e-mail address")
    if old == new:
        raise ValueError("choose two different addresses")
    repointed = list(db.session.execute(
        select(IdentityMapping).where(IdentityMapping.email == old)).scalars())
    for row in repointed:
        row.email, row.assigned_by = new, merged_by
    carried = db.session.execute(
        select(UsageDaily.provider, UsageDaily.actor).where(UsageDaily.email == old)
        .distinct()).all()
    added = 0
    for source, actor in {(identity_source(p), a) for p, a in carried}:
        if db.session.get(IdentityMapping, (source, actor)) is None:
            db.session.add(IdentityMapping(source=source, external_id=actor, email=new,
                                           assigned_by=merged_by))
            added += 1
    from ..github.store import move_person

    commits_moved = move_person(old, new)
    if not repointed and not carried and not commits_moved:
        raise ValueError(f"nothing is recorded for {old}: no usage and no mapping")
    db.session.flush()
    return MergeResult(old, new, move_email(old, new), len(repointed), added)
