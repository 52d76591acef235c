"""The team tree and memberships, edited one at a time (Admin → Teams, and the sources).

Rules:
- A team's name is unique (case-insensitively looked up, stored as written). A team is
  found by its id or its name (`find_team`).
- Moving a team under a parent inside its own subtree is refused (no cycles).
- Delete vs archive: a team that never had a member and has no child teams may be deleted.
  Any other team is *archived* instead: every membership still open on the day is ended the
  day before (one starting on or after it is removed), so its history stays right for
  chargeback; its child teams stay where they are. A team is shown as archived while it has
  no current or future member.
- Memberships are effective-dated (valid_from..valid_to, inclusive days in the org time zone,
  valid_to None: still in it). The same person's memberships of one team never overlap; a
  person may be in several teams at once (`share` sets their part of the cost, else equal).

Everything here writes in the caller's transaction (flush, never commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select

from ..analytics.scope import subtree_ids
from ..extensions import db
from ..models import Team, TeamMembership

MAX_NAME = 255
MAX_COST_CENTRE = 64


class TeamError(ValueError):
    """An edit that cannot be made; the message says what and why."""


def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise TeamError("a team needs a name")
    if len(name) > MAX_NAME:
        raise TeamError(f"a team name is at most {MAX_NAME} characters")
    return name


def clean_cost_centre(code: str | None) -> str | None:
    code = (code or "").strip()
    if len(code) > MAX_COST_CENTRE:
        raise TeamError(f"a cost centre is at most {MAX_COST_CENTRE} characters")
    return code or None


def find_team(ref: str | int) -> Team | None:
    """A team by its id (digits) or its name (exact first, then case-insensitive)."""
    text = str(ref).strip()
    if text.isascii() and text.isdigit() and len(text) < 10:
        team = db.session.get(Team, int(text))
        if team is not None:
            return team
    return by_name(text)


def get_team(team_id: int) -> Team | None:
    return db.session.get(Team, team_id)


def get_membership(membership_id: int) -> TeamMembership | None:
    return db.session.get(TeamMembership, membership_id)


def by_name(name: str) -> Team | None:
    """The team called `name`: exact first, then case-insensitively."""
    team = db.session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = db.session.scalar(select(Team).where(func.lower(Team.name) == name.lower())
                                 .order_by(Team.id).limit(1))
    return team


def all_teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(func.lower(Team.name), Team.id)))


def create_team(name: str, *, parent: Team | None = None, cost_centre: str | None = None,
                source: str = "manual", external_id: str | None = None) -> Team:
    name = clean_name(name)
    if by_name(name) is not None:
        raise TeamError(f"a team named “{name}” exists already")
    team = Team(name=name, parent_id=parent.id if parent else None,
                cost_centre=clean_cost_centre(cost_centre), source=source,
                external_id=external_id)
    db.session.add(team)
    db.session.flush()
    return team


def rename_team(team: Team, name: str) -> None:
    name = clean_name(name)
    other = by_name(name)
    if other is not None and other.id != team.id:
        raise TeamError(f"a team named “{name}” exists already")
    team.name = name
    db.session.flush()


def set_parent(team: Team, parent: Team | None) -> None:
    """Move `team` (with its subtree) under `parent` (None: to the top)."""
    if parent is not None and parent.id in subtree_ids([team.id]):
        raise TeamError(f"“{parent.name}” is inside “{team.name}”'s subtree: a team cannot "
                        "be moved under itself")
    team.parent_id = parent.id if parent else None
    db.session.flush()


def set_cost_centre(team: Team, code: str | None) -> None:
    team.cost_centre = clean_cost_centre(code)
    db.session.flush()


def has_history(team: Team) -> bool:
    return db.session.scalar(select(func.count()).select_from(TeamMembership)
                             .where(TeamMembership.team_id == team.id)) > 0


def has_children(team: Team) -> bool:
    return db.session.scalar(select(func.count()).select_from(Team)
                             .where(Team.parent_id == team.id)) > 0


def delete_team(team: Team) -> None:
    """Delete a team that never had members and has no child teams; else TeamError."""
    if has_children(team):
        raise TeamError(f"“{team.name}” has child teams: move them first")
    if has_history(team):
        raise TeamError(f"“{team.name}” has memberships (its history counts for chargeback): "
                        "archive it instead")
    db.session.delete(team)
    db.session.flush()


def archive_team(team: Team, day: date) -> int:
    """End every membership of `team` still open on `day` the day before; returns how many
    memberships were ended or removed."""
    changed = 0
    for m in db.session.scalars(select(TeamMembership).where(
            TeamMembership.team_id == team.id,
            or_(TeamMembership.valid_to.is_(None), TeamMembership.valid_to >= day))):
        end_membership(m, day - timedelta(days=1))
        changed += 1
    db.session.flush()
    return changed


def add_membership(team: Team, person: str, valid_from: date, valid_to: date | None = None,
                   *, lead: bool = False, share: Decimal | None = None,
                   source: str = "manual") -> TeamMembership:
    person = clean_person(person)
    check_dates(valid_from, valid_to)
    check_share(share)
    clash = db.session.scalar(select(TeamMembership).where(
        TeamMembership.team_id == team.id, TeamMembership.person == person,
        TeamMembership.valid_from <= (valid_to or date.max),
        or_(TeamMembership.valid_to.is_(None), TeamMembership.valid_to >= valid_from)))
    if clash is not None:
        raise TeamError(f"{person} is already in “{team.name}” from {clash.valid_from} "
                        f"to {clash.valid_to or 'now'}")
    m = TeamMembership(team_id=team.id, person=person, valid_from=valid_from,
                       valid_to=valid_to, lead=lead, share=share, source=source)
    db.session.add(m)
    db.session.flush()
    return m


def end_membership(m: TeamMembership, last_day: date) -> bool:
    """The membership's last day becomes `last_day`; one that would end before it starts is
    removed. Returns False when it was removed."""
    if last_day < m.valid_from:
        db.session.delete(m)
        db.session.flush()
        return False
    m.valid_to = last_day
    db.session.flush()
    return True


def clean_person(person: str) -> str:
    person = (person or "").strip().lower()
    if "@" not in person or len(person) > 255 or any(c.isspace() for c in person):
        raise TeamError(f"“{person}” is not an e-mail address")
    return person


def check_dates(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise TeamError(f"the last day ({valid_to}) is before the first ({valid_from})")


def check_share(share: Decimal | None) -> None:
    if share is not None and not (Decimal(0) < share <= Decimal(1)):
        raise TeamError(f"a share is more than 0 and at most 1 (not {share})")


@dataclass(frozen=True)
class TeamRow:
    """A team as Admin → Teams lists it."""

    id: int
    name: str
    path: str  # "Engineering › Platform"
    depth: int
    parent_id: int | None
    cost_centre: str | None
    source: str
    members: int  # on `day`
    leads: list[str]
    archived: bool  # had members, but nobody in it on or after `day`


def team_rows(day: date) -> list[TeamRow]:
    """Every team in tree order (parents before children, names A→Z) with its members and
    leads on `day`."""
    teams = all_teams()
    by_parent: dict[int | None, list[Team]] = {}
    ids = {t.id for t in teams}
    for t in teams:
        by_parent.setdefault(t.parent_id if t.parent_id in ids else None, []).append(t)
    # One aggregate row per team that ever had a member (not every membership as an object:
    # the page header's selector asks on every scoped page).
    current = TeamMembership.valid_from <= day
    future = or_(TeamMembership.valid_to.is_(None), TeamMembership.valid_to >= day)
    stats = {r.team_id: r for r in db.session.execute(
        select(TeamMembership.team_id,
               func.count(TeamMembership.person.distinct()).filter(current, future)
               .label("members"),
               func.array_agg(TeamMembership.person.distinct()).filter(
                   current, future, TeamMembership.lead.is_(True)).label("leads"),
               func.bool_or(future).label("future"))
        .group_by(TeamMembership.team_id))}
    out: list[TeamRow] = []

    def walk(parent: int | None, path: list[str], seen: set[int]) -> None:
        for t in by_parent.get(parent, []):
            if t.id in seen:  # a cycle written behind our back: show it once
                continue
            r = stats.get(t.id)
            out.append(TeamRow(t.id, t.name, " › ".join([*path, t.name]), len(path),
                               t.parent_id, t.cost_centre, t.source,
                               r.members if r else 0, sorted(r.leads or []) if r else [],
                               r is not None and not r.future))
            walk(t.id, [*path, t.name], seen | {t.id})

    walk(None, [], set())
    return out


def memberships_of(team: Team) -> list[TeamMembership]:
    return list(db.session.scalars(select(TeamMembership).where(
        TeamMembership.team_id == team.id).order_by(
        TeamMembership.person, TeamMembership.valid_from)))
