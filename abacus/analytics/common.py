"""Shared pieces of the read side: rollup expressions and the cost-completeness mixin.

Every query reads the `usage_daily` rollup (never `usage_events`) unless it shows raw
records, so page time does not grow with the number of raw events; aggregation, sorting and
paging happen in SQL. Money stays Decimal. Date ranges are inclusive days in the org time
zone (the rollup's `day` already is).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, ColumnElement, cast, func, literal

from ..models import UsageDaily as D


class Costed:
    """Rows whose cost may leave out unpriced events (a model without a known price)."""

    events: int
    unpriced_events: int

    @property
    def fully_unpriced(self) -> bool:
        """No event has a price: the cost is unknown, not $0."""
        return self.events > 0 and self.unpriced_events == self.events


# Shared expressions. sum() over BIGINT is NUMERIC in PostgreSQL: cast back to a Python int.
TOKENS = D.input_tokens + D.output_tokens + D.cache_write_tokens + D.cache_read_tokens
PERSON = func.coalesce(D.email, D.actor)


def int_sum(expr: ColumnElement) -> ColumnElement[int]:
    return cast(func.coalesce(func.sum(expr), 0), BigInteger)


def money_sum(expr: ColumnElement) -> ColumnElement[Decimal]:
    return func.coalesce(func.sum(expr), literal(Decimal(0)))


def in_range(start: date, end: date) -> ColumnElement[bool]:
    return D.day.between(start, end)


def default_range(today: date, days: int = 30) -> tuple[date, date]:
    """The last `days` days ending `today`, inclusive: 30 days = today and the 29 before."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    return today - timedelta(days=days - 1), today
