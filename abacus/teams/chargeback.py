"""Chargeback: a month × cost centre × tool report of usage, seats and total, exact to the cent.

How a month is charged (days in the org time zone):
- **Each person once.** A person's usage of a tool in the month is the sum of their days'
  usage cost (reported or estimated, as every total), rounded to the cent once; their seats
  of a tool cost what `seats.cost` prorates for the month (cents per seat). That amount is
  split between the teams they were in, day by day: a day's usage (a seat's day) goes to the
  memberships in force that day, in equal parts, or by the memberships' `share` (shares are
  scaled to add up to 1 on each day; memberships without one split what the others leave).
  Each part is rounded down to the cent and the remainder cents go to one membership: the
  one with the largest part (ties: the oldest membership). So the rows add up exactly to the
  sum of everyone's costs.
- **Direct members only.** A team's cost centre carries the people who are members of that
  very team; a parent team's subtree is a view (`?team=`), never a charge.
- A team without a cost centre is charged under its name in brackets (`(Platform)`), so
  the money stays visible and traceable; days a person was in no team (and every unmapped
  identity) go to the row `unassigned`.
- **Provisional**: a month is provisional while today is inside it or a syncing account's
  data is not yet complete through its last day (`sync.engine.data_complete_through`:
  providers may still revise those days). With no syncing account (CSV imports only) only
  the calendar decides.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, select

from ..analytics.scope import on_days
from ..extensions import db
from ..models import Team, TeamMembership
from ..models import UsagePersonDaily as P
from ..seats.assignments import all_seats
from ..seats.cost import cents, monthly_price, seat_cost
from ..seats.plans import PlanPrices
from ..sync.engine import data_complete_through
from ..usage.prices import org_today

UNASSIGNED = "unassigned"
HEADER = ("month", "cost_centre", "tool", "usage_usd", "seats_usd", "total_usd")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ChargeRow:
    month: str  # YYYY-MM
    cost_centre: str
    tool: str
    usage_usd: Decimal
    seats_usd: Decimal

    @property
    def total_usd(self) -> Decimal:
        return self.usage_usd + self.seats_usd

    def as_json(self) -> dict[str, str]:
        return {"month": self.month, "cost_centre": self.cost_centre, "tool": self.tool,
                "usage_usd": money(self.usage_usd), "seats_usd": money(self.seats_usd),
                "total_usd": money(self.total_usd)}


@dataclass(frozen=True)
class Chargeback:
    month: date  # the first day
    rows: list[ChargeRow]
    provisional: bool
    why_provisional: str | None
    unpriced_seats: int  # seats with no known price: left out of seats_usd

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def usage_usd(self) -> Decimal:
        return sum((r.usage_usd for r in self.rows), Decimal("0.00"))

    @property
    def seats_usd(self) -> Decimal:
        return sum((r.seats_usd for r in self.rows), Decimal("0.00"))

    @property
    def total_usd(self) -> Decimal:
        return self.usage_usd + self.seats_usd


def money(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


def parse_month(value: str) -> date:
    """`YYYY-MM` → its first day; ValueError naming the expected shape."""
    text = (value or "").strip()
    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError
        first = date(int(text[:4]), int(text[5:]), 1)
    except ValueError:
        raise ValueError(f"“{value}” is not a month; write it as YYYY-MM") from None
    if not date(2000, 1, 1) <= first <= date(2100, 12, 1):
        raise ValueError(f"“{value}” is out of range (2000-01 to 2100-12)")
    return first


def month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


@dataclass(frozen=True)
class _Member:
    id: int
    bucket: str  # the cost-centre row it charges
    valid_from: date
    valid_to: date | None
    share: Decimal | None

    def on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def chargeback(first: date, today: date | None = None) -> Chargeback:
    """The month starting `first`: rows sorted by cost centre (unassigned last) and tool."""
    last = month_end(first)
    today = today or org_today()
    members = _memberships(first, last)
    amounts: dict[tuple[str, str], list[Decimal]] = defaultdict(
        lambda: [Decimal("0.00"), Decimal("0.00")])

    # Usage: per person and tool, the month's cost in cents, split by each day's teams. Most
    # people are in one team (or none) all month: their month is one sum, charged whole (the
    # same cents as day by day, each day's weight being 1); only the others' days are read.
    def whole_month(ms: list[_Member]) -> bool:
        return not ms or (len(ms) == 1 and ms[0].valid_from <= first
                          and (ms[0].valid_to is None or ms[0].valid_to >= last))

    days: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    split = []
    for r in db.session.execute(
            select(P.person, P.tool, func.sum(P.cost_usd).label("cost"))
            .where(P.day.between(first, last)).group_by(P.person, P.tool)):
        if whole_month(members.get(r.person.lower(), [])):
            days[(r.person, r.tool)][first] = Decimal(r.cost or 0)
        else:
            split.append(r.person)
    if split:
        for r in db.session.execute(
                select(P.person, P.tool, P.day, func.sum(P.cost_usd).label("cost"))
                .where(P.day.between(first, last), P.person.in_(sorted(set(split))))
                .group_by(P.person, P.tool, P.day)):
            days[(r.person, r.tool)][r.day] = Decimal(r.cost or 0)
    for (person, tool), per_day in days.items():
        total = cents(sum(per_day.values(), Decimal(0)))
        for bucket, part in _split(total, per_day, members.get(person.lower(), [])):
            amounts[(bucket, tool)][0] += part

    # Seats: each seat's month in cents, split by the teams of the days it was held.
    prices = PlanPrices()
    unpriced = 0
    for span in all_seats():
        cost = seat_cost(span, first, last, prices)
        if cost is None:
            unpriced += 1
            continue
        if not cost:
            continue
        month_days = (last - first).days + 1
        weights: dict[date, Decimal] = {}
        d = max(first, span.valid_from)
        while d <= min(last, span.valid_to or last):
            weights[d] = (monthly_price(span, d, prices) or Decimal(0)) / month_days
            d += timedelta(days=1)
        for bucket, part in _split(cost, weights, members.get(span.holder.lower(), [])):
            amounts[(bucket, span.tool)][1] += part

    label = f"{first:%Y-%m}"
    rows = [ChargeRow(label, bucket, tool, usage, seats)
            for (bucket, tool), (usage, seats) in amounts.items() if usage or seats]
    rows.sort(key=lambda r: (r.cost_centre == UNASSIGNED, r.cost_centre.lower(), r.tool))
    why = _provisional(last, today)
    return Chargeback(first, rows, why is not None, why, unpriced)


def _memberships(first: date, last: date) -> dict[str, list[_Member]]:
    buckets = {t.id: t.cost_centre or f"({t.name})" for t in db.session.execute(
        select(Team.id, Team.name, Team.cost_centre))}
    out: dict[str, list[_Member]] = defaultdict(list)
    m = TeamMembership
    for r in db.session.execute(select(m.id, m.team_id, m.person, m.valid_from, m.valid_to,
                                       m.share).where(on_days(first, last)).order_by(m.id)):
        out[r.person.lower()].append(_Member(r.id, buckets[r.team_id], r.valid_from,
                                             r.valid_to, r.share))
    return out


def day_weights(members: list[_Member]) -> dict[int, Decimal]:
    """Each membership's part of a day (adding up to 1): its share, scaled when the shares
    add up to more than 1; memberships without a share split what is left equally (or
    everything, when nobody has one)."""
    if not members:
        return {}
    fixed = {m.id: m.share for m in members if m.share is not None}
    rest = [m.id for m in members if m.share is None]
    fixed_sum = sum(fixed.values(), Decimal(0))
    weights = dict(fixed)
    left = max(Decimal(1) - fixed_sum, Decimal(0))
    for mid in rest:
        weights[mid] = left / len(rest)
    total = sum(weights.values(), Decimal(0))
    if total == 0:  # shares given for all, summing to 0: cannot happen (share > 0)
        return {m.id: Decimal(1) / len(members) for m in members}
    return {k: v / total for k, v in weights.items()}


def _split(amount: Decimal, per_day: dict[date, Decimal], members: list[_Member]
           ) -> list[tuple[str, Decimal]]:
    """`amount` (cents) charged to buckets in proportion to each day's figure times the
    day's membership weights; days in no team go to `unassigned`. Parts are rounded down to
    the cent; the remainder goes to the largest part (ties: the oldest membership)."""
    if not amount:
        return []
    raw: dict[tuple[str, int], Decimal] = defaultdict(Decimal)  # (bucket, member id)
    base = sum(per_day.values(), Decimal(0))
    if base == 0:  # refunds cancelling charges: fall back to counting days
        per_day = {d: Decimal(1) for d in per_day}
        base = Decimal(len(per_day))
    weights_of: dict[tuple[int, ...], dict[int, Decimal]] = {}  # the same teams, many days
    for d, value in per_day.items():
        on = [m for m in members if m.on(d)]
        if not on:
            raw[(UNASSIGNED, 0)] += value
            continue
        key = tuple(m.id for m in on)
        weights = weights_of.get(key)
        if weights is None:
            weights = weights_of[key] = day_weights(on)
        for m in on:
            raw[(m.bucket, m.id)] += value * weights[m.id]
    parts = {key: (amount * v / base).quantize(CENT, rounding=ROUND_DOWN)
             for key, v in raw.items()}
    remainder = amount - sum(parts.values(), Decimal(0))
    if remainder:
        winner = max(raw, key=lambda k: (raw[k], -k[1]))
        parts[winner] += remainder
    out: dict[str, Decimal] = defaultdict(Decimal)
    for (bucket, _), value in parts.items():
        out[bucket] += value
    return list(out.items())


def _provisional(last: date, today: date) -> str | None:
    if today <= last:
        return "the month is not over yet"
    complete = data_complete_through()
    if complete is not None and complete < last:
        return f"provider data is complete only through {complete}"
    return None


def months_with_data() -> list[date]:
    """First days of the months that have usage, newest first (the month picker)."""
    rows = db.session.execute(select(func.min(P.day), func.max(P.day))).one()
    if rows[0] is None:
        return []
    out, d = [], rows[1].replace(day=1)
    while d >= rows[0].replace(day=1):
        out.append(d)
        d = (d - timedelta(days=1)).replace(day=1)
    return out
