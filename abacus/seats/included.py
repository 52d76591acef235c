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

from sqlalchemy import func, select

from ..analytics.common import person_tool_rows
from ..extensions import db
from ..models import UsageDayTotals as T
from .cost import cents


def included_by_tool(start: date, end: date, person: str | None = None
                     ) -> dict[str, Decimal]:
    """Included usage value per tool over start..end (everyone, or one person), in cents;
    tools with none are left out. Reads the rollups' `included_usd` (the rule is
    `usage.ingest.INCLUDED_USD`): the team-wide daily rollup, or the person's blocks."""
    if person is None:
        query = (select(T.tool, func.sum(T.included_usd)).where(T.day.between(start, end))
                 .group_by(T.tool))
    else:
        rows = person_tool_rows(start, end).c
        query = (select(rows.tool, func.sum(rows.included_usd))
                 .where(rows.person == person.lower()).group_by(rows.tool))
    out = {}
    for tool, total in db.session.execute(query):
        # Billed above the gross value (a revised bill) leaves nothing included, not less.
        if total is not None and cents(Decimal(total)) > 0:
            out[tool] = cents(Decimal(total))
    return dict(sorted(out.items()))
