"""GitHub Copilot activity for the person page and the Usage page's Copilot view.

Copilot's counts (acceptances, lines, features, IDEs, models) live in the `extras` of its
one-record-per-person-day events, so this reads `usage_events` of tool `copilot` over the
range (one row per person and day; organization-level spend rows carry no activity). Money:
`usage_value_usd` is the gross figure every tool breakdown shows as Copilot's cost; `billed_usd`
is what GitHub billed after the included credits, known only where billing was readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from ..extensions import db
from ..models import UsageEvent as E
from .person import is_person_event

TOOL = "copilot"
ORG_SPEND = "org_spend"


# Sums of the report's counters: alike in shape to the writers' tallies (sync.seats,
# usage.billing, github.backfill), not in meaning.
@dataclass
class Counts:
    """The report's counters, summed."""

    interactions: int = 0
    generations: int = 0
    acceptances: int = 0
    loc_suggested: int = 0
    loc_added: int = 0
    loc_deleted: int = 0

    def add(self, extras: dict) -> None:
        self.interactions += int(extras.get("user_initiated_interaction_count") or 0)
        self.generations += int(extras.get("code_generation_activity_count") or 0)
        self.acceptances += int(extras.get("code_acceptance_activity_count") or 0)
        self.loc_suggested += int(extras.get("loc_suggested_to_add_sum") or 0)
        self.loc_added += int(extras.get("loc_added_sum") or 0)
        self.loc_deleted += int(extras.get("loc_deleted_sum") or 0)

    @property
    def acceptance_rate(self) -> Decimal | None:
        """Accepted / generated code suggestions (None when nothing was generated)."""
        if not self.generations:
            return None
        return Decimal(self.acceptances) / Decimal(self.generations)


@dataclass
class Named(Counts):
    name: str = ""
    people: set[str] = field(default_factory=set)

    @property
    def users(self) -> int:
        return len(self.people)


@dataclass
class DayRow(Counts):
    day: date | None = None
    active_users: int = 0
    credits: Decimal = Decimal(0)


@dataclass
class Activity(Counts):
    """Copilot over a range, for one person or everyone."""

    days_active: int = 0
    people: int = 0
    agent_days: int = 0
    chat_days: int = 0
    cli_days: int = 0
    credits: Decimal = Decimal(0)  # AI credits used, where the report says
    credits_unknown_days: int = 0  # person-days from before the report carried credits
    usage_value_usd: Decimal = Decimal(0)
    billed_usd: Decimal | None = None  # None: billing was never readable in the range
    org_spend_usd: Decimal = Decimal(0)  # spend GitHub reports without a user
    credits_basis_days: int = 0  # person-days costed as credits × $0.01 (no billing access)
    unpriced_days: int = 0  # person-days whose cost is not known
    features: list[Named] = field(default_factory=list)
    ides: list[Named] = field(default_factory=list)
    models: list[Named] = field(default_factory=list)
    languages: list[Named] = field(default_factory=list)
    days: list[DayRow] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.days_active > 0 or self.org_spend_usd > 0

    @property
    def cost_basis(self) -> str:
        """Which figure `usage_value_usd` is: billing, ai_credits, or mixed."""
        if self.credits_basis_days and self.billed_usd is None:
            return "ai_credits"
        return "mixed" if self.credits_basis_days else "billing"


def _ranked(found: dict[str, Named]) -> list[Named]:
    return sorted(found.values(), key=lambda n: (-n.generations, -n.interactions, n.name))


def _add_breakdown(into: dict[str, Named], breakdown: dict | None, person: str) -> None:
    for name, counters in (breakdown or {}).items():
        row = into.setdefault(name, Named(name=name))
        row.add(counters)
        row.people.add(person)


def activity(start: date, end: date, person: str | None = None) -> Activity:
    """Copilot activity in [start, end] for `person` (an e-mail or unmapped login) or all."""
    query = (select(E.day, E.actor, E.email, E.kind, E.cost_usd, E.cost_source, E.extras)
             .where(E.tool == TOOL, E.day >= start, E.day <= end))
    if person is not None:
        query = query.where(is_person_event(person))
    out = Activity()
    features: dict[str, Named] = {}
    ides: dict[str, Named] = {}
    models: dict[str, Named] = {}
    languages: dict[str, Named] = {}
    days: dict[date, DayRow] = {}
    people: set[str] = set()
    person_days: set[tuple[str, date]] = set()
    for day, actor, email, kind, cost, source, extras in db.session.execute(query):
        extras = extras or {}
        billed = extras.get("billed_usd")
        if billed is not None:
            out.billed_usd = (out.billed_usd or Decimal(0)) + Decimal(billed)
        if kind == ORG_SPEND:
            out.org_spend_usd += cost or Decimal(0)
            continue
        who = email or actor
        people.add(who)
        person_days.add((who, day))
        out.add(extras)
        out.usage_value_usd += cost or Decimal(0)
        if source == "unpriced":
            out.unpriced_days += 1
        if extras.get("cost_basis") == "ai_credits":
            out.credits_basis_days += 1
        credits = extras.get("ai_credits_used")
        if credits is None:
            out.credits_unknown_days += 1
        else:
            out.credits += Decimal(credits)
        out.agent_days += bool(extras.get("used_agent"))
        out.chat_days += bool(extras.get("used_chat"))
        out.cli_days += bool(extras.get("used_cli"))
        row = days.setdefault(day, DayRow(day=day))
        row.add(extras)
        row.active_users += 1
        row.credits += Decimal(credits) if credits is not None else Decimal(0)
        _add_breakdown(features, extras.get("features"), who)
        _add_breakdown(ides, extras.get("ides"), who)
        _add_breakdown(models, extras.get("models"), who)
        _add_breakdown(languages, extras.get("languages"), who)
    out.people = len(people)
    out.days_active = len({d for _, d in person_days})
    out.features, out.ides = _ranked(features), _ranked(ides)
    out.models, out.languages = _ranked(models), _ranked(languages)
    out.days = [days[d] for d in sorted(days)]
    return out
