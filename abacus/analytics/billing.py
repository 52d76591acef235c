"""Reported against estimated: a provider's own bill (`billed_costs`) per day beside the
cost of the account's usage records (estimated from tokens × prices where the provider gives
no per-person money), for the Status page. The bill is what was charged; the estimate is what
the per-person figures add up to; the difference says how far to trust them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from ..extensions import db
from ..models import BilledCostLine as B
from ..models import UsageDayTotals as D


@dataclass(frozen=True)
class BillDay:
    day: date
    reported: Decimal  # the provider's bill (billed)
    estimated: Decimal  # the usage records' cost (estimated from tokens × prices)
    unpriced_events: int  # usage with no price: left out of `estimated`

    @property
    def difference(self) -> Decimal:
        """Bill minus estimate, of the figures as shown (to the cent), so the three add up;
        positive when the estimate falls short of the bill."""
        return cents(self.reported) - cents(self.estimated)


@dataclass(frozen=True)
class BillComparison:
    days: list[BillDay]  # newest first

    @property
    def reported(self) -> Decimal:
        return sum((d.reported for d in self.days), Decimal(0))

    @property
    def estimated(self) -> Decimal:
        return sum((d.estimated for d in self.days), Decimal(0))

    @property
    def difference(self) -> Decimal:
        return cents(self.reported) - cents(self.estimated)

    @property
    def unpriced_events(self) -> int:
        return sum(d.unpriced_events for d in self.days)


def cents(amount: Decimal) -> Decimal:
    """Rounded to the cent like every figure on a page (half-up, as an invoice)."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def bill_comparison(account_id: int, start: date, end: date) -> BillComparison:
    """Days start..end with a bill or usage for the account. Bill days are the provider's
    UTC days; usage days are the org's (records of whole UTC days sit at noon UTC, so the
    two agree in every time zone from UTC-11 to UTC+11). Usage comes from the team-wide
    daily rollup (days × models rows, not days × people)."""
    reported = dict(db.session.execute(
        select(B.day, func.sum(B.amount_usd))
        .where(B.account_id == account_id, B.day.between(start, end))
        .group_by(B.day)).all())
    estimated = {day: (Decimal(cost), int(unpriced)) for day, cost, unpriced in
                 db.session.execute(
                     select(D.day, func.sum(D.cost_usd), func.sum(D.unpriced_events))
                     .where(D.account_id == account_id, D.day.between(start, end))
                     .group_by(D.day)).all()}
    days = sorted(set(reported) | set(estimated), reverse=True)
    return BillComparison([BillDay(d, Decimal(reported.get(d, 0)),
                                   estimated.get(d, (Decimal(0), 0))[0],
                                   estimated.get(d, (Decimal(0), 0))[1]) for d in days])


def billed_accounts() -> set[int]:
    """Accounts that have a stored bill."""
    return set(db.session.execute(select(B.account_id).distinct()).scalars())
