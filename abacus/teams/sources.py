"""Sources of teams: a team CSV (an HR export), GitHub's user–team report and Cursor billing
groups, each turned into a `Plan` that says what would be added, moved, ended or changed,
shown as a preview, then applied. Applying the same source twice changes nothing.

What a source means (each source owns the memberships it wrote, `team_memberships.source`;
it never touches another source's or a manual one):
- It is the **full truth for its memberships**: a membership (team, person, from) it lists is
  added, or its last day / lead flag updated when they differ; an open membership of that
  source it no longer lists is **ended** the day before the import's day (in the org time
  zone; one that would start on or after that day is removed); a membership that already has
  an explicit last day stays as it is (history).
- **Moved**: a person whose open membership of team A is no longer listed while the source adds
  them to team B. A ends the day before B's first day (removed if B starts on or before A's
  first day), so the re-org splits their days exactly and earlier months stay as they were.
- Teams it names are created when missing (found by name for the CSV, by the provider's id
  for GitHub and Cursor, else by name). The CSV sets a team's parent and cost centre when a
  row states them; an empty cell keeps what is there. A parent that is neither a team of
  the file nor an existing team is an error, and so is a parent that would make a cycle.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import IdentityMapping, Team, TeamMember, TeamMembership
from ..providers.cursor import BillingGroup
from ..usage.csvrows import fixed_rows
from .tree import (
    TeamError,
    by_name,
    clean_cost_centre,
    clean_name,
    clean_person,
    end_membership,
)

HEADER = ("email", "team", "parent", "cost_centre", "lead", "from", "to")
MAX_PROBLEMS = 50  # a file with thousands of bad rows: the first ones say enough


class SourceError(ValueError):
    """The source was refused as a whole; `problems` name file, row and field of each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class WantedTeam:
    name: str
    parent: str | None = None  # a team name; None: not stated (keep what is there)
    cost_centre: str | None = None  # None: not stated
    external_id: str | None = None  # the provider's id (GitHub team, Cursor group)
    where: str = ""  # where the parent was stated (for errors)


@dataclass(frozen=True)
class Wanted:
    """A membership as the source states it."""

    team: str  # a WantedTeam's name
    person: str
    valid_from: date
    valid_to: date | None
    lead: bool = False


@dataclass(frozen=True)
class Change:
    person: str
    team: str
    valid_from: date
    valid_to: date | None
    detail: str = ""

    def line(self) -> str:
        span = f"{self.valid_from} → {self.valid_to or 'now'}"
        return f"{self.person} in {self.team} ({span}){' ' + self.detail if self.detail else ''}"


@dataclass
class Plan:
    """What applying a source would do (the preview), and the operations that do it."""

    source: str
    day: date  # the import's day: a membership no longer listed ends the day before
    teams_added: list[str] = field(default_factory=list)
    teams_changed: list[str] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)
    moved: list[Change] = field(default_factory=list)
    ended: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)
    _new_teams: list[WantedTeam] = field(default_factory=list)
    _team_updates: list[tuple[int, str, object]] = field(default_factory=list)
    _adds: list[Wanted] = field(default_factory=list)
    _updates: list[tuple[int, dict]] = field(default_factory=list)
    _ends: list[tuple[int, date]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.teams_added or self.teams_changed or self.added or self.moved
                    or self.ended or self.changed)

    def summary(self) -> str:
        return (f"{len(self.teams_added)} teams added, {len(self.teams_changed)} teams "
                f"changed, {len(self.added)} memberships added, {len(self.moved)} moved, "
                f"{len(self.ended)} ended, {len(self.changed)} changed, "
                f"{self.unchanged} unchanged")

    def lines(self) -> list[str]:
        out = [f"team added: {n}" for n in self.teams_added]
        out += [f"team changed: {n}" for n in self.teams_changed]
        out += [f"added: {c.line()}" for c in self.added]
        out += [f"moved: {c.line()}" for c in self.moved]
        out += [f"ended: {c.line()}" for c in self.ended]
        out += [f"changed: {c.line()}" for c in self.changed]
        out += [f"note: {n}" for n in self.notes]
        return out


# --- the plan: shared by every source --------------------------------------------------------

def make_plan(source: str, teams: Iterable[WantedTeam], wanted: Iterable[Wanted],
              day: date) -> Plan:
    """Compare what `source` states with what it stored before (see the module docstring)."""
    plan = Plan(source, day)
    teams = list(teams)
    resolved = _resolve_teams(plan, teams)
    _check_parents(teams, resolved)
    key_of = {name.lower(): (t.id if t else f"new:{name.lower()}")
              for name, t in resolved.items()}
    shown = {name.lower(): (t.name if t else name) for name, t in resolved.items()}
    existing = {(m.team_id, m.person, m.valid_from): m for m in db.session.scalars(
        select(TeamMembership).where(TeamMembership.source == source))}
    names = {t.id: t.name for t in db.session.scalars(select(Team))}
    wanted_keys = set()
    added_by_person: dict[str, list[Wanted]] = {}
    for w in wanted:
        key = (key_of[w.team.lower()], w.person, w.valid_from)
        wanted_keys.add(key)
        row = existing.get(key)
        team = shown[w.team.lower()]
        if row is None:
            plan._adds.append(w)
            added_by_person.setdefault(w.person, []).append(w)
            continue
        changes = {}
        if row.valid_to != w.valid_to:
            changes["valid_to"] = w.valid_to
        if bool(row.lead) != w.lead:
            changes["lead"] = w.lead
        if changes:
            plan._updates.append((row.id, changes))
            what = ", ".join(f"{k} {getattr(row, k)} → {v}" for k, v in changes.items())
            plan.changed.append(Change(w.person, team, w.valid_from, w.valid_to, what))
        else:
            plan.unchanged += 1
    moved_to: dict[int, Wanted] = {}
    gone = sorted((m for key, m in existing.items()
                   if key not in wanted_keys and m.valid_to is None),
                  key=lambda m: (m.person, names.get(m.team_id, ""), m.valid_from))
    for m in gone:
        into = added_by_person.get(m.person)
        if into:
            target = into.pop(0)
            moved_to[m.id] = target
            last = target.valid_from - timedelta(days=1)
            plan._ends.append((m.id, last))
            plan.moved.append(Change(
                m.person, shown[target.team.lower()], target.valid_from, target.valid_to,
                f"from {names.get(m.team_id)}" + (f" (ends {last})" if last >= m.valid_from
                                                  else " (replaced)")))
        else:
            last = day - timedelta(days=1)
            plan._ends.append((m.id, last))
            plan.ended.append(Change(m.person, names.get(m.team_id, "?"), m.valid_from,
                                     last if last >= m.valid_from else None,
                                     "" if last >= m.valid_from else "(removed: not begun)"))
    moved_targets = {id(w) for w in moved_to.values()}
    for w in plan._adds:
        if id(w) not in moved_targets:
            plan.added.append(Change(w.person, shown[w.team.lower()], w.valid_from,
                                     w.valid_to, "lead" if w.lead else ""))
    return plan


def _resolve_teams(plan: Plan, teams: list[WantedTeam]) -> dict[str, Team | None]:
    """Each wanted team's stored team (None: to be created); records team changes."""
    out: dict[str, Team | None] = {}
    for wt in teams:
        team = None
        if wt.external_id:
            team = db.session.scalar(select(Team).where(
                Team.source == plan.source, Team.external_id == wt.external_id))
        if team is None:
            team = by_name(wt.name)
        out[wt.name] = team
        if team is None:
            plan.teams_added.append(wt.name + (f" (in {wt.parent})" if wt.parent else "")
                                    + (f", cost centre {wt.cost_centre}"
                                       if wt.cost_centre else ""))
            plan._new_teams.append(wt)
            continue
        if wt.external_id and team.name != wt.name and by_name(wt.name) in (None, team):
            plan._team_updates.append((team.id, "name", wt.name))
            plan.teams_changed.append(f"{team.name}: renamed to {wt.name}")
        if wt.cost_centre is not None and team.cost_centre != wt.cost_centre:
            plan._team_updates.append((team.id, "cost_centre", wt.cost_centre))
            plan.teams_changed.append(f"{team.name}: cost centre {team.cost_centre or '—'} → "
                                      f"{wt.cost_centre}")
        if wt.parent is not None:
            parent = by_name(wt.parent)
            current = db.session.get(Team, team.parent_id) if team.parent_id else None
            if parent is None or parent.id != team.parent_id:
                plan._team_updates.append((team.id, "parent", wt.parent))
                plan.teams_changed.append(f"{team.name}: parent {current.name if current else '—'}"
                                          f" → {wt.parent}")
    return out


def _check_parents(teams: list[WantedTeam], resolved: dict[str, Team | None]) -> None:
    """Unknown parents and cycles in the tree the plan would leave."""
    stored = list(db.session.scalars(select(Team)))
    names = {t.id: t.name.lower() for t in stored}
    parent_of = {t.name.lower(): names.get(t.parent_id) for t in stored}
    node_of = {}
    for wt in teams:
        found = resolved[wt.name]
        node_of[wt.name] = (found.name if found else wt.name).lower()
        parent_of.setdefault(node_of[wt.name], None)
    problems = []
    for wt in teams:
        if wt.parent is None:
            continue
        if wt.parent.lower() not in parent_of:
            problems.append(f"{wt.where}, field parent: “{wt.parent}” is not a team of the "
                            "file nor an existing team")
            continue
        parent_of[node_of[wt.name]] = wt.parent.lower()
    for wt in teams:
        start = node_of[wt.name]
        seen, node = set(), parent_of.get(start)
        while node is not None and node not in seen and node != start:
            seen.add(node)
            node = parent_of.get(node)
        if node == start and wt.parent is not None:
            problems.append(f"{wt.where}, field parent: “{wt.parent}” would put “{wt.name}” "
                            "inside its own subtree (a cycle)")
    if problems:
        raise SourceError(problems)


def apply_plan(plan: Plan) -> Plan:
    """Carry the plan out in the caller's transaction (flush, no commit)."""
    created: dict[str, Team] = {}
    for wt in plan._new_teams:
        team = Team(name=wt.name, cost_centre=wt.cost_centre, source=plan.source,
                    external_id=wt.external_id)
        db.session.add(team)
        created[wt.name.lower()] = team
    db.session.flush()

    def team_named(name: str) -> Team:
        return created.get(name.lower()) or by_name(name)

    for wt in plan._new_teams:
        if wt.parent:
            created[wt.name.lower()].parent_id = team_named(wt.parent).id
    for team_id, what, value in plan._team_updates:
        team = db.session.get(Team, team_id)
        if what == "parent":
            team.parent_id = team_named(str(value)).id
        else:
            setattr(team, what, value)
    db.session.flush()
    for row_id, last in plan._ends:
        end_membership(db.session.get(TeamMembership, row_id), last)
    for row_id, changes in plan._updates:
        row = db.session.get(TeamMembership, row_id)
        for k, v in changes.items():
            setattr(row, k, v)
    for w in plan._adds:
        db.session.add(TeamMembership(team_id=team_named(w.team).id, person=w.person,
                                      valid_from=w.valid_from, valid_to=w.valid_to,
                                      lead=w.lead, source=plan.source))
    db.session.flush()
    return plan


# --- CSV -------------------------------------------------------------------------------------

def parse_csv(text: str, name: str = "file") -> tuple[list[WantedTeam], list[Wanted]]:
    """The file's teams and memberships, checked whole: SourceError names file, row and field
    of every problem (the first MAX_PROBLEMS)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise SourceError([f"{name} row 1: not a CSV file ({exc})"]) from None
    if tuple(header) != HEADER:
        raise SourceError([f"{name} row 1: the header must be exactly {','.join(HEADER)} "
                           f"(found {','.join(header) or 'nothing'})"])
    problems: list[str] = []
    teams: dict[str, dict] = {}
    wanted: list[Wanted] = []
    seen: dict[tuple, int] = {}
    try:
        for where, n, cells in fixed_rows(reader, len(HEADER), name, problems):
            row = _parse_row(dict(zip(HEADER, cells, strict=True)), where, n, teams, seen,
                             problems)
            if row is not None:
                wanted.append(row)
    except csv.Error as exc:
        problems.append(f"{name} row {reader.line_num}: not valid CSV ({exc})")
    problems += _overlaps(wanted, seen, name)
    if problems:
        more = len(problems) - MAX_PROBLEMS
        raise SourceError(problems[:MAX_PROBLEMS] + ([f"… and {more} more"] if more > 0 else []))
    return [WantedTeam(t["name"], t["parent"], t["cost_centre"], where=t["where"])
            for t in teams.values()], wanted


def _parse_row(cells: dict[str, str], where: str, n: int, teams: dict[str, dict],
               seen: dict[tuple, int], problems: list[str]) -> Wanted | None:
    mine: list[str] = []

    def bad(fieldname: str, problem: str) -> None:
        mine.append(f"{where}, field {fieldname}: {problem}")

    def cleaned(fieldname: str, clean: Callable[[str], str | None]) -> str | None:
        """The field cleaned, or None with the cleaner's refusal noted."""
        try:
            return clean(cells[fieldname])
        except TeamError as exc:
            bad(fieldname, str(exc))
            return None

    person = None
    try:
        person = clean_person(cells["email"])
    except TeamError:
        bad("email", f"“{cells['email']}” is not an e-mail address")
    team = cleaned("team", clean_name)
    parent = None
    if cells["parent"]:
        parent = cleaned("parent", clean_name)
        if team and parent and parent.lower() == team.lower():
            bad("parent", f"“{parent}” is the team itself")
    cost_centre = cleaned("cost_centre", clean_cost_centre)
    lead = cells["lead"].lower()
    if lead not in ("", "yes"):
        bad("lead", f"“{cells['lead']}” must be yes or empty")
    valid_from = _day(cells["from"], "from", bad, required=True)
    valid_to = _day(cells["to"], "to", bad, required=False)
    if valid_from and valid_to and valid_to < valid_from:
        bad("to", f"{valid_to} is before from ({valid_from})")
    if team and not mine:
        known = teams.setdefault(team.lower(), {"name": team, "parent": None,
                                                "cost_centre": None, "where": where})
        for key, value in (("parent", parent), ("cost_centre", cost_centre)):
            if value is None:
                continue
            if known[key] is not None and known[key].lower() != value.lower():
                bad(key, f"“{value}” differs from “{known[key]}” given for team “{team}” "
                         f"in {known['where']}")
            elif known[key] is None:
                known[key] = value
                if key == "parent":
                    known["where"] = where
    if not mine:
        key = (person, team.lower(), valid_from)
        if key in seen:
            bad("from", f"same email, team and from as row {seen[key]}")
        seen.setdefault(key, n)
    problems += mine
    if mine:
        return None
    return Wanted(team, person, valid_from, valid_to, lead == "yes")


def _day(value: str, fieldname: str, bad, *, required: bool) -> date | None:
    if not value:
        if required:
            bad(fieldname, "empty; write the day as YYYY-MM-DD")
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        bad(fieldname, f"“{value}” is not a day; write it as YYYY-MM-DD")
        return None


def _overlaps(wanted: list[Wanted], seen: dict[tuple, int], name: str) -> list[str]:
    """Two rows putting one person in one team on the same day."""
    problems = []
    by: dict[tuple, list[Wanted]] = {}
    for w in wanted:
        by.setdefault((w.person, w.team.lower()), []).append(w)
    for rows in by.values():
        rows.sort(key=lambda w: w.valid_from)
        for a, b in zip(rows, rows[1:], strict=False):
            if a.valid_to is None or a.valid_to >= b.valid_from:
                row_b = seen[(b.person, b.team.lower(), b.valid_from)]
                row_a = seen[(a.person, a.team.lower(), a.valid_from)]
                problems.append(f"{name} row {row_b}, field from: {b.person} is already in "
                                f"“{b.team}” on {b.valid_from} (row {row_a})")
    return problems


def csv_plan(text: str, name: str, day: date) -> Plan:
    teams, wanted = parse_csv(text, name)
    return make_plan("csv", teams, wanted, day)


# --- GitHub teams (the Copilot user–team report) --------------------------------------------

def github_plan(day: date) -> Plan:
    """Memberships from `team_members` (GitHub's user–team report per day, stored by the
    Copilot sync). Each run of consecutive report days a login is in a team becomes one
    membership from its first to its last day; a run that reaches the account's latest
    report stays open. Logins become people through `github` identity mappings; unmapped
    logins are left out (noted)."""
    people = {m.external_id.lower(): m.email.lower() for m in db.session.scalars(
        select(IdentityMapping).where(IdentityMapping.source == "github"))}
    rows = db.session.execute(select(TeamMember.account_id, TeamMember.day, TeamMember.team_id,
                                     TeamMember.slug, TeamMember.login)
                              .order_by(TeamMember.account_id, TeamMember.day)).all()
    report_days: dict[int, list[date]] = {}
    present: dict[tuple[int, str, str], set[date]] = {}
    slugs: dict[tuple[int, str], str] = {}
    unmapped: set[str] = set()
    for r in rows:
        days = report_days.setdefault(r.account_id, [])
        if not days or days[-1] != r.day:
            days.append(r.day)
        slugs[(r.account_id, r.team_id)] = r.slug
        person = people.get(r.login.lower())
        if person is None:
            unmapped.add(r.login)
            continue
        present.setdefault((r.account_id, r.team_id, person), set()).add(r.day)
    teams = {key: WantedTeam(slug, external_id=f"{key[0]}:{key[1]}")
             for key, slug in sorted(slugs.items())}
    wanted = [Wanted(teams[(account, team_id)].name, person, first, last)
              for (account, team_id, person), days in sorted(present.items())
              for first, last in _runs(days, report_days[account])]
    plan = make_plan("github", teams.values(), wanted, day)
    if unmapped:
        plan.notes.append(f"{len(unmapped)} GitHub login(s) without an identity mapping left "
                          f"out: {', '.join(sorted(unmapped)[:10])}"
                          + (" …" if len(unmapped) > 10 else ""))
    return plan


def _runs(days: set[date], report_days: list[date]) -> list[tuple[date, date | None]]:
    """Runs of consecutive report days in `days`; the run holding the last report is open."""
    out, start, prev = [], None, None
    for d in report_days:
        if d in days:
            start = start or d
            prev = d
        elif start is not None:
            out.append((start, prev))
            start = None
    if start is not None:
        out.append((start, None))
    return out


# --- Cursor billing groups -----------------------------------------------------------------

def cursor_plan(accounts: Iterable[tuple[int, list[BillingGroup]]], day: date) -> Plan:
    """Memberships from Cursor billing groups (current and former members): from the org day
    of `joinedAt`, to the day before the org day of `leftAt` (the leaving day itself when
    they joined that day). The "Unassigned" pseudo-group is no team."""
    tz = ZoneInfo(current_app.config["ABACUS"].timezone)
    teams: dict[tuple[int, str], WantedTeam] = {}
    wanted: dict[tuple, Wanted] = {}
    for account_id, g in ((a, g) for a, groups in accounts for g in groups):
        wt = teams.setdefault((account_id, g.id),
                              WantedTeam(g.name, external_id=f"{account_id}:{g.id}"))
        for m in g.members:
            try:
                person = clean_person(m.email)
            except TeamError:
                continue
            first = m.joined_at.astimezone(tz).date() if m.joined_at else day
            last = None
            if m.left_at is not None:
                last = max(first, m.left_at.astimezone(tz).date() - timedelta(days=1))
            wanted.setdefault((wt.name, person, first), Wanted(wt.name, person, first, last))
    return make_plan("cursor", teams.values(), wanted.values(), day)


def share_of(value: str | None) -> Decimal | None:
    """A membership share typed in a form: empty = equal shares."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        share = Decimal(value)
    except ArithmeticError:
        raise TeamError(f"“{value}” is not a share (a number above 0, at most 1)") from None
    if not share.is_finite() or not (0 < share <= 1):
        raise TeamError(f"“{value}” is not a share (a number above 0, at most 1)")
    return share
