"""The role policy: one object answers every "may this viewer see / do that?" question.

Roles (README "Roles"):
- admin: everything.
- finance: every figure, person row and export (Seats, every budget and incident,
  chargeback), but no admin action and no Admin area.
- member: with ABACUS_MEMBER_VISIBILITY=all, everyone's rows (the long-standing default);
  with `self`, only their own rows, while team and org figures stay visible as aggregates
  over at least ABACUS_MIN_GROUP_SIZE people.
- team lead: a member who leads a team today (TeamMembership.lead); under `self` they also
  see the rows of the people in their teams' subtrees on some day of the range shown.

Built only from a role, an e-mail and the settings, so the web pages (Flask-Login's user)
and the JSON API (a bearer token's role and e-mail) get the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..analytics import scope
from ..analytics.usage import PeopleAmong, people_among
from ..extensions import db
from ..models import ROLES


@dataclass
class Viewer:
    """Who is asking. `role` is admin | finance | member (anything else sees nothing);
    `email` the person they are (None for a token that is no one); `label` how the access
    log names them (the e-mail, or `token:NAME`)."""

    role: str
    email: str | None
    member_visibility: str = "all"
    min_group_size: int = 5
    today: date = field(default_factory=date.today)
    label: str | None = None
    _led: list[int] | None = field(default=None, init=False, repr=False)
    _visible: dict[tuple[date, date], frozenset[str]] = field(default_factory=dict,
                                                             init=False, repr=False)

    def __post_init__(self) -> None:
        self.email = self.email.lower() if self.email else None
        if self.label is None:
            self.label = self.email or "anonymous"

    # --- what they may do -------------------------------------------------------------

    @property
    def may_admin(self) -> bool:
        """Admin area, sync now, uploads, mappings, pricing, roles, budgets' edits."""
        return self.role == "admin"

    @property
    def sees_all_figures(self) -> bool:
        """Every figure and person row: admins and finance (Seats, chargeback, budgets)."""
        return self.role in ("admin", "finance")

    @property
    def may_export(self) -> bool:
        """CSV exports: anyone signed in with a role; each export holds only the rows its page
        shows this viewer (the same policy)."""
        return self.role in ROLES

    def may_handle_incident(self, person: str) -> bool:
        """Acknowledge / resolve: admins any incident, everyone else their own."""
        return self.may_admin or (self.email is not None and person.lower() == self.email)

    # --- whose rows they see -----------------------------------------------------------

    def led_team_ids(self) -> list[int]:
        """Teams this viewer leads today (a member's role; admins and finance see all)."""
        if self._led is None:
            self._led = (scope.led_team_ids(self.email, self.today)
                         if self.email and self.role == "member" else [])
        return self._led

    @property
    def is_lead(self) -> bool:
        return bool(self.led_team_ids())

    @property
    def restricted(self) -> bool:
        """True when person rows are limited (a member or lead under `self`, or no role)."""
        if self.role not in ROLES:
            return True
        return self.role == "member" and self.member_visibility == "self"

    def visible_people(self, start: date, end: date) -> frozenset[str] | None:
        """The lower-cased e-mails whose rows this viewer sees over start..end, or None for
        everyone (unmapped identities included)."""
        if not self.restricted:
            return None
        key = (start, end)
        if key not in self._visible:
            people = {self.email} if self.email and self.role in ROLES else set()
            led = self.led_team_ids()
            if led:
                people.update(db.session.scalars(
                    scope.members(scope.subtree_ids(led), start, end)))
            self._visible[key] = frozenset(p.lower() for p in people)
        return self._visible[key]

    def may_view_person(self, person: str, start: date, end: date) -> bool:
        """The person page, its raw records and exports (`person` as in the URL)."""
        visible = self.visible_people(start, end)
        return visible is None or person.lower() in visible

    def only_person(self, start: date, end: date) -> frozenset[str] | None:
        """Alias of visible_people, named for the per-person row filters."""
        return self.visible_people(start, end)

    # --- aggregates ---------------------------------------------------------------------

    def aggregate_ok(self, n_people: int, n_in_scope: int = 0) -> bool:
        """May this viewer see a figure summed over `n_people` people, `n_in_scope` of whom
        they may see anyway? Unrestricted viewers always; restricted ones when the figure
        covers at least ABACUS_MIN_GROUP_SIZE people or nobody outside their scope (it adds
        nothing they could not see row by row). An empty figure (0 people) is shown."""
        if not self.restricted or n_people == 0:
            return True
        return n_people >= self.min_group_size or n_people <= n_in_scope

    def hidden_notice(self) -> str:
        return f"hidden: fewer than {self.min_group_size} people"

    def groups(self, start: date, end: date) -> GroupCheck:
        """The minimum-group-size check for the aggregates of start..end."""
        return GroupCheck(self, start, end)


@dataclass
class GroupCheck:
    """Which aggregates of one range a viewer may see: `ok(n)` for a figure over everyone
    (n active people), `ok(n, "tools", tool)` / `ok(n, "models", model)` for a per-tool or
    per-model figure. How many of those people are in the viewer's own scope is read once,
    and only for restricted viewers."""

    viewer: Viewer
    start: date
    end: date
    _among: PeopleAmong | None = field(default=None, init=False, repr=False)

    @property
    def notice(self) -> str:
        return self.viewer.hidden_notice()

    def ok(self, n_people: int, view: str | None = None, key: str | None = None) -> bool:
        if not self.viewer.restricted or n_people == 0 or n_people >= self.viewer.min_group_size:
            return True
        if self._among is None:
            visible = self.viewer.visible_people(self.start, self.end) or frozenset()
            self._among = people_among(self.start, self.end, visible)
        in_scope = self._among.total if view is None else self._among.of(view, key)
        return self.viewer.aggregate_ok(n_people, in_scope)
