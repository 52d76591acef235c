"""What the Seats page and the person page's seats section show, in one call each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..analytics.common import Team
from ..analytics.scope import member_spans
from .assignments import SeatSpan, all_seats
from .cost import CostReport, PersonCost, cost_report, seat_cost
from .idle import SeatActivity, ToolHygiene, current_seats, hygiene, idle_seats, savings
from .included import included_by_tool
from .plans import PlanPrices


@dataclass(frozen=True)
class SeatsOverview:
    hygiene: list[ToolHygiene]
    idle: list[SeatActivity]
    idle_days: int
    monthly_savings_usd: Decimal
    current: list[SeatActivity]
    cost: CostReport
    included: dict[str, Decimal]  # per tool: usage the seats already pay for (a part of it)

    def costliest(self, limit: int = 50) -> list[tuple[str, PersonCost]]:
        """The `limit` people who cost the most (seats + usage), then by name: the page lists
        these; the Team export has everyone with the same figures."""
        return sorted(self.cost.people.items(), key=lambda kv: (-kv[1].total_usd, kv[0]))[:limit]


def seats_overview(start: date, end: date, today: date, idle_days: int,
                   team: Team = None) -> SeatsOverview:
    """In a team scope: the seats of today's members, and cost over the members' days."""
    current = current_seats(today)
    if team is not None:
        members = set(member_spans(team, today, today))
        current = [a for a in current if a.seat.holder.lower() in members]
    idle = idle_seats(current, today, idle_days)
    return SeatsOverview(hygiene(current, today), idle, idle_days, savings(idle), current,
                         cost_report(start, end, team=team), included_by_tool(start, end))


@dataclass(frozen=True)
class PersonSeat:
    seat: SeatSpan
    cost_usd: Decimal | None  # over the range; None: unknown price


@dataclass(frozen=True)
class PersonSeats:
    seats: list[PersonSeat]
    cost: PersonCost
    included: dict[str, Decimal]


def person_seats(person: str, start: date, end: date) -> PersonSeats:
    """One person's seats (any held during the range, or later) and their cost split."""
    spans = [s for s in all_seats() if s.holder == person.lower()
             and (s.valid_to is None or s.valid_to >= start)]
    prices = PlanPrices()
    rows = [PersonSeat(s, seat_cost(s, start, end, prices)) for s in spans]
    report = cost_report(start, end, seats=spans, person=person.lower())
    return PersonSeats(rows, report.people.get(person.lower(), PersonCost()),
                       included_by_tool(start, end, person))
