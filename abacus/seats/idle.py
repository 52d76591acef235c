"""Seat hygiene: seats per tool assigned vs active vs never used, and the idle list.

A seat's last activity is the later of its holder's last usage record for the tool and the
provider's own last-activity field (Copilot's `last_activity_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import SeatLeave
from ..models import UsagePersonDaily as P
from .assignments import SeatSpan, all_seats
from .cost import monthly_price
from .plans import PlanPrices

# Seat tool → the usage tools its activity shows up as.
USAGE_TOOLS = {"claude": ("claude_code",), "chatgpt": ("codex",), "codex": ("codex",)}


def usage_tools(tool: str) -> tuple[str, ...]:
    return USAGE_TOOLS.get(tool, (tool,))


@dataclass(frozen=True)
class SeatActivity:
    seat: SeatSpan
    last_active: date | None
    monthly_usd: Decimal | None  # today's price
    on_leave: bool


@dataclass(frozen=True)
class ToolHygiene:
    tool: str
    assigned: int
    active_7: int
    active_30: int
    never_used: int


def _last_usage(holders: set[str]) -> dict[tuple[str, str], date]:
    if not holders:
        return {}
    return {(p, t): d for p, t, d in db.session.execute(
        select(P.person, P.tool, func.max(P.day)).where(P.person.in_(holders), P.events > 0)
        .group_by(P.person, P.tool))}


def on_leave(day: date) -> set[str]:
    return set(db.session.execute(select(SeatLeave.holder).where(
        SeatLeave.leave_from <= day,
        or_(SeatLeave.leave_to.is_(None), SeatLeave.leave_to >= day))).scalars())


def current_seats(today: date) -> list[SeatActivity]:
    """Seats held today with their last activity and today's monthly price."""
    seats = [s for s in all_seats() if s.on(today)]
    used = _last_usage({s.holder for s in seats})
    prices, leave = PlanPrices(), on_leave(today)
    out = []
    for s in seats:
        days = [used.get((s.holder, t)) for t in usage_tools(s.tool)] + [s.last_activity]
        days = [d for d in days if d is not None]
        out.append(SeatActivity(s, max(days) if days else None,
                                monthly_price(s, today, prices), s.holder in leave))
    return out


def hygiene(seats: list[SeatActivity], today: date) -> list[ToolHygiene]:
    out = []
    for tool in sorted({a.seat.tool for a in seats}):
        rows = [a for a in seats if a.seat.tool == tool]
        def since(n: int, rows=rows) -> int:
            return sum(1 for a in rows
                       if a.last_active and a.last_active > today - timedelta(days=n))
        out.append(ToolHygiene(tool, len(rows), since(7), since(30),
                               sum(1 for a in rows if a.last_active is None)))
    return out


def idle_seats(seats: list[SeatActivity], today: date, days: int) -> list[SeatActivity]:
    """No activity in the last `days` days; seats younger than that and people on leave
    are left out."""
    cutoff = today - timedelta(days=days)
    return sorted((a for a in seats if a.seat.valid_from <= cutoff and not a.on_leave
                   and (a.last_active is None or a.last_active <= cutoff)),
                  key=lambda a: (a.seat.tool, a.seat.holder))


def savings(idle: list[SeatActivity]) -> Decimal:
    """What reclaiming the idle seats saves per month (unknown prices left out)."""
    return sum((a.monthly_usd for a in idle if a.monthly_usd is not None), Decimal("0"))


def set_leave(holder: str, leave_from: date, leave_to: date | None) -> None:
    """Mark a person on leave (uncommitted); the same start again updates its end."""
    row = db.session.get(SeatLeave, (holder.lower(), leave_from))
    if row is None:
        db.session.add(SeatLeave(holder=holder.lower(), leave_from=leave_from,
                                 leave_to=leave_to))
    else:
        row.leave_to = leave_to
    db.session.flush()
