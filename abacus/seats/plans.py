"""Seat plan prices: a small shipped list, overridable per account from a day on.

Shipped prices are list prices per seat per month, billed monthly (annual billing is often
cheaper: enter it as an override). Sources, read 2026-12:
- Cursor Teams $40: https://cursor.com/pricing
- GitHub Copilot Business $19, Enterprise $39: https://github.com/features/copilot/plans
- Claude Team standard $30, premium $150: https://claude.com/pricing
- ChatGPT Business $30: https://chatgpt.com/pricing
Enterprise plans of Claude and ChatGPT have no public price: give `monthly_usd` or an
override.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from ..extensions import db
from ..models import SeatPlanPrice

SHIPPED: dict[tuple[str, str], Decimal] = {
    ("cursor", "teams"): Decimal("40"),
    ("cursor", "business"): Decimal("40"),  # Cursor's former name of Teams
    ("copilot", "business"): Decimal("19"),
    ("copilot", "enterprise"): Decimal("39"),
    ("claude", "team"): Decimal("30"),
    ("claude", "team-premium"): Decimal("150"),
    ("chatgpt", "business"): Decimal("30"),
    ("chatgpt", "team"): Decimal("30"),  # ChatGPT Business's former name
}


@dataclass(frozen=True)
class PlanPrice:
    valid_from: date
    monthly_usd: Decimal
    source: str  # shipped | override


class PlanPrices:
    """Every override, read once; `on` answers the price of a plan on a day."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], list[SeatPlanPrice]] = {}
        for row in db.session.execute(select(SeatPlanPrice).order_by(
                SeatPlanPrice.valid_from)).scalars():
            self._rows.setdefault((row.tool, row.plan), []).append(row)

    def on(self, tool: str, plan: str, day: date, account_id: int | None = None
           ) -> PlanPrice | None:
        """An override for this account wins over one for every account, which wins over
        the shipped price; within each, the latest row starting on or before `day`."""
        rows = [r for r in self._rows.get((tool, plan), []) if r.valid_from <= day]
        for scope in ((account_id,) if account_id is not None else ()) + (None,):
            scoped = [r for r in rows if r.account_id == scope]
            if scoped:
                return PlanPrice(scoped[-1].valid_from, scoped[-1].monthly_usd, "override")
        shipped = SHIPPED.get((tool, plan))
        return PlanPrice(date.min, shipped, "shipped") if shipped is not None else None

    def changes(self, tool: str, plan: str, account_id: int | None = None) -> list[date]:
        """Days a price of this plan starts (proration splits a month there)."""
        return sorted({r.valid_from for r in self._rows.get((tool, plan), [])
                       if r.account_id in (None, account_id)})


def set_plan_price(tool: str, plan: str, monthly_usd: Decimal, valid_from: date,
                   account_id: int | None = None, created_by: str | None = None) -> bool:
    """Store an override (uncommitted); returns False when it was already so."""
    row = db.session.execute(select(SeatPlanPrice).where(
        SeatPlanPrice.tool == tool, SeatPlanPrice.plan == plan,
        SeatPlanPrice.valid_from == valid_from,
        SeatPlanPrice.account_id.is_(None) if account_id is None
        else SeatPlanPrice.account_id == account_id)).scalar_one_or_none()
    if row is not None and row.monthly_usd == monthly_usd:
        return False
    if row is None:
        db.session.add(SeatPlanPrice(tool=tool, plan=plan, account_id=account_id,
                                     valid_from=valid_from, monthly_usd=monthly_usd,
                                     created_by=created_by))
    else:
        row.monthly_usd = monthly_usd
    db.session.flush()
    return True
