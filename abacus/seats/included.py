"""Included allowances: usage a seat subscription already pays for, shown as what it is.

- Copilot's pooled AI credits: an event's cost is its gross usage value and
  `extras.billed_usd` what GitHub billed after the included pool, so the included part is
  cost − billed (only where billing was readable).
- Cursor's included usage: events of an `…INCLUDED…` kind count against the plan's
  allowance and are not billed; their stored cost is the included part.

The figure is a part *of* the usage cost already shown, never taken off it or off the total
a second time (the seat price is what pays for it).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Numeric, and_, case, func, or_, select

from ..analytics.person import is_person
from ..extensions import db
from ..models import UsageEvent as E
from .cost import cents


def included_by_tool(start: date, end: date, person: str | None = None
                     ) -> dict[str, Decimal]:
    """Included usage value per tool over start..end (everyone, or one person), in cents;
    tools with none are left out."""
    cost = func.coalesce(E.cost_usd, 0)
    copilot = and_(E.tool == "copilot", E.extras.has_key("billed_usd"))
    cursor = and_(E.tool == "cursor", E.kind.ilike("%included%"))
    value = case((copilot, cost - E.extras["billed_usd"].astext.cast(Numeric)), else_=cost)
    query = (select(E.tool, func.sum(value)).where(E.day >= start, E.day <= end,
                                                  or_(copilot, cursor)).group_by(E.tool))
    if person is not None:
        query = query.where(is_person(person.lower(), E))
    out = {}
    for tool, total in db.session.execute(query):
        # Billed above the gross value (a revised bill) leaves nothing included, not less.
        if total is not None and cents(Decimal(total)) > 0:
            out[tool] = cents(Decimal(total))
    return dict(sorted(out.items()))
