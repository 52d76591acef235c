"""Read side: the numbers pages show, as plain dataclasses.

Every query reads the `usage_daily` rollup (never `usage_events`), so page time does not
grow with the number of raw events; aggregation happens in SQL. Money stays Decimal.
Date ranges are inclusive days in the org time zone (the rollup's `day` already is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, ColumnElement, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from .extensions import db
from .models import UsageDaily as D


class _Costed:
    """Rows whose cost may leave out unpriced events (a model without a known price)."""

    events: int
    unpriced_events: int

    @property
    def fully_unpriced(self) -> bool:
        """No event has a price: the cost is unknown, not $0."""
        return self.events > 0 and self.unpriced_events == self.events


@dataclass(frozen=True)
class ToolRow(_Costed):
    tool: str
    tokens: int
    cost_usd: Decimal
    people: int
    events: int
    unpriced_events: int = 0  # events whose cost is unknown (not in cost_usd)


@dataclass(frozen=True)
class ModelRow(_Costed):
    model: str
    tokens: int
    cost_usd: Decimal
    events: int
    unpriced_events: int


@dataclass(frozen=True)
class PersonRow(_Costed):
    person: str  # e-mail when mapped, else the provider's identity (API key, seat id)
    mapped: bool
    tokens: int
    cost_usd: Decimal
    events: int
    top_tool: str | None
    unpriced_events: int = 0  # events whose cost is unknown (not in cost_usd)


@dataclass(frozen=True)
class Overview:
    start: date
    end: date
    total_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    estimated_cost_usd: Decimal = Decimal(0)  # the part of cost_usd that is our estimate
    unpriced_events: int = 0
    events: int = 0
    active_people: int = 0
    by_tool: list[ToolRow] = field(default_factory=list)
    by_model: list[ModelRow] = field(default_factory=list)
    by_person: list[PersonRow] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def is_empty(self) -> bool:
        return self.events == 0


# Shared expressions. sum() over BIGINT is NUMERIC in PostgreSQL: cast back to a Python int.
_TOKENS = D.input_tokens + D.output_tokens + D.cache_write_tokens + D.cache_read_tokens
_PERSON = func.coalesce(D.email, D.actor)


def _int_sum(expr: ColumnElement) -> ColumnElement[int]:
    return cast(func.coalesce(func.sum(expr), 0), BigInteger)


def _money_sum(expr: ColumnElement) -> ColumnElement[Decimal]:
    return func.coalesce(func.sum(expr), literal(Decimal(0)))


def _in_range(start: date, end: date) -> ColumnElement[bool]:
    return D.day.between(start, end)


def default_range(today: date, days: int = 30) -> tuple[date, date]:
    """The last `days` days ending `today`, inclusive: 30 days = today and the 29 before."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    return today - timedelta(days=days - 1), today


def overview(start: date, end: date, limit: int = 50) -> Overview:
    """Totals and breakdowns by tool, model and person for the inclusive days start..end.

    Breakdowns are sorted by tokens (descending, then name); `by_person` keeps the top `limit`.
    """
    session = db.session
    where = _in_range(start, end)

    totals = session.execute(
        select(
            _int_sum(_TOKENS).label("tokens"),
            _money_sum(D.cost_usd).label("cost"),
            _money_sum(D.estimated_cost_usd).label("estimated"),
            _int_sum(D.unpriced_events).label("unpriced"),
            _int_sum(D.events).label("events"),
            func.count(func.distinct(_PERSON)).label("people"),
        ).where(where)
    ).one()

    tokens = _int_sum(_TOKENS).label("tokens")
    by_tool = [
        ToolRow(r.tool, int(r.tokens), Decimal(r.cost), int(r.people), int(r.events),
                int(r.unpriced))
        for r in session.execute(
            select(
                D.tool,
                tokens,
                _money_sum(D.cost_usd).label("cost"),
                func.count(func.distinct(_PERSON)).label("people"),
                _int_sum(D.events).label("events"),
                _int_sum(D.unpriced_events).label("unpriced"),
            ).where(where).group_by(D.tool).order_by(tokens.desc(), D.tool)
        )
    ]

    by_model = [
        ModelRow(r.model, int(r.tokens), Decimal(r.cost), int(r.events), int(r.unpriced))
        for r in session.execute(
            select(
                D.model,
                tokens,
                _money_sum(D.cost_usd).label("cost"),
                _int_sum(D.events).label("events"),
                _int_sum(D.unpriced_events).label("unpriced"),
            ).where(where).group_by(D.model).order_by(tokens.desc(), D.model)
        )
    ]

    return Overview(
        start=start,
        end=end,
        total_tokens=int(totals.tokens),
        cost_usd=Decimal(totals.cost),
        estimated_cost_usd=Decimal(totals.estimated),
        unpriced_events=int(totals.unpriced),
        events=int(totals.events),
        active_people=int(totals.people),
        by_tool=by_tool,
        by_model=by_model,
        by_person=_by_person(start, end, limit),
    )


def _by_person(start: date, end: date, limit: int) -> list[PersonRow]:
    # First per (person, tool), then per person: the second step picks the top tool with an
    # ordered array_agg, so the whole breakdown is one round trip.
    per_tool = (
        select(
            _PERSON.label("person"),
            D.tool,
            func.bool_or(D.email.is_not(None)).label("mapped"),
            _int_sum(_TOKENS).label("tokens"),
            _money_sum(D.cost_usd).label("cost"),
            _int_sum(D.events).label("events"),
            _int_sum(D.unpriced_events).label("unpriced"),
        )
        .where(_in_range(start, end))
        .group_by(_PERSON, D.tool)
        .subquery()
    )
    tokens = func.sum(per_tool.c.tokens).label("tokens")
    top_tool = func.array_agg(
        aggregate_order_by(per_tool.c.tool, per_tool.c.tokens.desc(), per_tool.c.tool)
    )[1]
    rows = db.session.execute(
        select(
            per_tool.c.person,
            func.bool_or(per_tool.c.mapped).label("mapped"),
            tokens,
            func.sum(per_tool.c.cost).label("cost"),
            func.sum(per_tool.c.events).label("events"),
            top_tool.label("top_tool"),
            func.sum(per_tool.c.unpriced).label("unpriced"),
        )
        .group_by(per_tool.c.person)
        .order_by(tokens.desc(), per_tool.c.person)
        .limit(limit)
    )
    return [
        PersonRow(r.person, bool(r.mapped), int(r.tokens), Decimal(r.cost), int(r.events),
                  r.top_tool, int(r.unpriced))
        for r in rows
    ]


KNOWN_TOOLS = ("claude_code", "cursor")  # always listed in stats, even with no usage yet


def lifetime_stats() -> dict:
    """Everything stored, for `flask abacus stats`: JSON-ready, cost as a cents string."""
    session = db.session
    totals = session.execute(
        select(_int_sum(D.events).label("events"),
               func.count(func.distinct(_PERSON)).label("people"),
               func.min(D.day).label("first"), func.max(D.day).label("last"))
    ).one()
    tools = {tool: _tool_stats(0, 0, 0, 0, 0, Decimal(0)) for tool in KNOWN_TOOLS}
    for r in session.execute(
        select(D.tool, _int_sum(D.events), _int_sum(D.input_tokens), _int_sum(D.output_tokens),
               _int_sum(D.cache_write_tokens), _int_sum(D.cache_read_tokens),
               _money_sum(D.cost_usd)).group_by(D.tool).order_by(D.tool)
    ):
        tools[r[0]] = _tool_stats(*r[1:])
    return {
        "events": int(totals.events),
        "people": int(totals.people),
        "first_day": totals.first.isoformat() if totals.first else None,
        "last_day": totals.last.isoformat() if totals.last else None,
        "tools": tools,
    }


def _tool_stats(events: int, inp: int, out: int, cw: int, cr: int, cost: Decimal) -> dict:
    return {"events": int(events), "input_tokens": int(inp), "output_tokens": int(out),
            "cache_write_tokens": int(cw), "cache_read_tokens": int(cr),
            "cost_usd": f"{Decimal(cost).quantize(Decimal('0.01')):f}"}
