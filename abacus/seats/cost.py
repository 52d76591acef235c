"""Seat cost prorated by day, beside usage cost per person.

A seat costs its monthly price / the days of that calendar month (org time zone) for each
day it is held, so any range has an exact seat cost. The days of one seat in one month at
one price are summed first and rounded to the cent once: a whole month costs exactly the
monthly price, and every total is the sum of the cents shown.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from ..analytics.common import Team, person_tool_rows
from ..analytics.overview import UsageCents, usage_cents
from ..analytics.scope import member_spans
from ..extensions import db
from ..models import Bot
from .assignments import SeatSpan, all_seats
from .plans import PlanPrices

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def monthly_price(span: SeatSpan, day: date, prices: PlanPrices) -> Decimal | None:
    """The seat's price per month on `day`: its own, else its plan's (None: unknown)."""
    if span.monthly_usd is not None:
        return span.monthly_usd
    price = prices.on(span.tool, span.plan, day, span.account_id)
    return price.monthly_usd if price else None


def seat_cost(span: SeatSpan, start: date, end: date, prices: PlanPrices
              ) -> Decimal | None:
    """What the seat costs over start..end (inclusive); None when its price is unknown."""
    first = max(start, span.valid_from)
    last = min(end, span.valid_to) if span.valid_to else end
    if first > last:
        return Decimal("0.00")
    cuts = {d for d in prices.changes(span.tool, span.plan, span.account_id)
            if first < d <= last} if span.monthly_usd is None else set()
    total, day = Decimal("0.00"), first
    while day <= last:
        month_days = calendar.monthrange(day.year, day.month)[1]
        month_end = day.replace(day=month_days)
        piece_end = min([last, month_end] + [c - timedelta(days=1) for c in cuts if c > day])
        price = monthly_price(span, day, prices)
        if price is None:
            return None
        total += cents(price * ((piece_end - day).days + 1) / month_days)
        day = piece_end + timedelta(days=1)
    return total


@dataclass
class PersonCost:
    seats_usd: Decimal = Decimal("0.00")
    usage_usd: Decimal = Decimal("0.00")
    unpriced_seats: int = 0  # seats whose plan has no known price: left out of seats_usd
    mapped: bool = True  # False: an unmapped identity holds a seat (no e-mail known)

    @property
    def total_usd(self) -> Decimal:
        return self.seats_usd + self.usage_usd


@dataclass
class CostReport:
    start: date
    end: date
    people: dict[str, PersonCost]
    active_people: int  # people with usage in the range

    @property
    def total(self) -> PersonCost:
        out = PersonCost()
        for row in self.people.values():
            out.seats_usd += row.seats_usd
            out.usage_usd += row.usage_usd
            out.unpriced_seats += row.unpriced_seats
        return out

    @property
    def per_active_person(self) -> Decimal | None:
        """Usage and seats of everyone over the people who used anything."""
        if not self.active_people:
            return None
        return cents(self.total.total_usd / self.active_people)


def usage_by_person(start: date, end: date, team: Team = None, person: str | None = None
                    ) -> dict[str, Decimal]:
    """Usage cost (reported or estimated) per person over start..end, in cents (in a team
    scope: its members' usage on their member days); only `person`'s when given."""
    rows = person_tool_rows(start, end, team=team)
    query = (select(rows.c.person, func.sum(rows.c.cost_usd)).group_by(rows.c.person)
             .having(func.sum(rows.c.events) > 0))
    if person is not None:
        query = query.where(rows.c.person == person)
    return {who: cents(cost or Decimal(0)) for who, cost in db.session.execute(query)}


@dataclass
class CostTotals:
    """`CostReport`'s totals alone (the Overview's cost card), without a row per person."""

    total: PersonCost
    active_people: int
    any: bool  # someone had usage or a seat costing something
    # As many as CostReport.people (with usage, or a seat costing something); None when
    # built from a caller's usage sums, which cannot tell who of them holds a seat.
    people: int | None

    @property
    def per_active_person(self) -> Decimal | None:
        return cents(self.total.total_usd / self.active_people) if self.active_people else None


def cost_totals(start: date, end: date, team: Team = None, usage: UsageCents | None = None
                ) -> CostTotals:
    """The same totals as `cost_report(start, end, team=team).total` (each person's usage
    rounded to the cent, then summed), with the per-person sums left in PostgreSQL; `usage`,
    when the caller has it already (`overview().usage`), saves that pass."""
    total = PersonCost()
    prices = PlanPrices()
    holders: set[str] = set()
    for span in in_team(all_seats(), team, start, end):
        cost = seat_cost(span, start, end, prices)
        if cost == 0:
            continue
        holders.add(span.holder)
        if cost is None:
            total.unpriced_seats += 1
        else:
            total.seats_usd += cost
    # The caller's sums cannot tell which seat holders had usage: no people count then.
    people = None
    if usage is None:
        usage = usage_cents(start, end, team, holders)
        people = usage.people + len(holders) - usage.holding
    total.usage_usd = usage.usd.quantize(CENT)
    return CostTotals(total, usage.active, bool(usage.people or holders), people)


def in_team(spans: list[SeatSpan], team: Team, start: date, end: date) -> list[SeatSpan]:
    """The seats cut to the days their holder was in the team scope (None: unchanged)."""
    if team is None:
        return spans
    member = member_spans(team, start, end)
    out = []
    for span in spans:
        for first, last in member.get(span.holder.lower(), []):
            first, last = max(first, span.valid_from), min(last, span.valid_to or last)
            if first <= last:
                out.append(replace(span, valid_from=first, valid_to=last))
    return out


def cost_report(start: date, end: date, seats: list[SeatSpan] | None = None,
                team: Team = None, person: str | None = None) -> CostReport:
    """Seats, usage and total per person (e-mail or unmapped identity) over start..end; in
    a team scope, its members' usage and seats on their member days. With `person`, only
    their usage is read (pass their seats as `seats`)."""
    prices = PlanPrices()
    usage = usage_by_person(start, end, team, person)
    people: dict[str, PersonCost] = {p: PersonCost(usage_usd=c) for p, c in usage.items()}
    for span in in_team(all_seats() if seats is None else seats, team, start, end):
        cost = seat_cost(span, start, end, prices)
        if cost == 0:
            continue
        row = people.setdefault(span.holder, PersonCost())
        row.mapped = row.mapped and span.mapped
        if cost is None:
            row.unpriced_seats += 1
        else:
            row.seats_usd += cost
    # Bots' usage and seats stay in the totals, but a bot is not a person to divide by.
    bots = set(db.session.execute(select(Bot.person)).scalars())
    return CostReport(start, end, dict(sorted(people.items())),
                      sum(1 for person in usage if person not in bots))


def money(value: Decimal) -> str:
    return format(cents(value), "f")


def report_json(report: CostReport) -> dict:
    """The documented `seats cost --json` shape: money as exact-cent strings."""
    def one(row: PersonCost) -> dict:
        out = {"seats_usd": money(row.seats_usd), "usage_usd": money(row.usage_usd),
               "total_usd": money(row.total_usd)}
        if row.unpriced_seats:
            out["unpriced_seats"] = row.unpriced_seats
        return out

    total = one(report.total)
    per = report.per_active_person
    total["active_people"] = report.active_people
    total["per_active_person_usd"] = money(per) if per is not None else None
    return {"from": report.start.isoformat(), "to": report.end.isoformat(),
            "people": {k: one(v) for k, v in report.people.items()}, "total": total}


@dataclass
class SeatRun:
    """Cumulative seat cost of some seats from `start` through each day to `end`."""

    start: date
    through: list[Decimal]  # through[i]: cost over start..start+i, exact to the cent
    unpriced: int  # seats held in the range whose price is unknown: left out

    def on(self, day: date) -> Decimal:
        """Cost over start..day (0 before start, the whole range after its end)."""
        i = (day - self.start).days
        if i < 0 or not self.through:
            return Decimal("0.00")
        return self.through[min(i, len(self.through) - 1)]


def seat_run(spans: list[SeatSpan], start: date, end: date) -> SeatRun:
    """Cost of `spans` over start..d for every d in start..end, by the same prorating as
    `cost_report`, so the figure through any day equals that range's seat cost."""
    prices = PlanPrices()
    days = (end - start).days + 1
    through = [Decimal("0.00")] * days
    unpriced = 0
    for span in spans:
        if seat_cost(span, start, end, prices) is None:
            unpriced += 1
            continue
        for i in range(days):
            through[i] += seat_cost(span, start, start + timedelta(days=i), prices) or 0
    return SeatRun(start, through, unpriced)
