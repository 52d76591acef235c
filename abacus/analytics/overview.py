"""The Overview page's numbers, and lifetime totals (`flask abacus stats`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from ..extensions import db
from ..models import UsageDaily as D
from .common import PERSON, TOKENS, Costed, in_range, int_sum, money_sum


@dataclass(frozen=True)
class ToolRow(Costed):
    tool: str
    tokens: int
    cost_usd: Decimal
    people: int
    events: int
    unpriced_events: int = 0  # events whose cost is unknown (not in cost_usd)


@dataclass(frozen=True)
class ModelRow(Costed):
    model: str
    tokens: int
    cost_usd: Decimal
    events: int
    unpriced_events: int


@dataclass(frozen=True)
class PersonRow(Costed):
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


def overview(start: date, end: date, limit: int = 50) -> Overview:
    """Totals and breakdowns by tool, model and person for the inclusive days start..end.

    Breakdowns are sorted by tokens (descending, then name); `by_person` keeps the top `limit`.
    """
    session = db.session
    where = in_range(start, end)

    totals = session.execute(
        select(
            int_sum(TOKENS).label("tokens"),
            money_sum(D.cost_usd).label("cost"),
            money_sum(D.estimated_cost_usd).label("estimated"),
            int_sum(D.unpriced_events).label("unpriced"),
            int_sum(D.events).label("events"),
            func.count(func.distinct(PERSON)).label("people"),
        ).where(where)
    ).one()

    tokens = int_sum(TOKENS).label("tokens")
    by_tool = [
        ToolRow(r.tool, int(r.tokens), Decimal(r.cost), int(r.people), int(r.events),
                int(r.unpriced))
        for r in session.execute(
            select(
                D.tool,
                tokens,
                money_sum(D.cost_usd).label("cost"),
                func.count(func.distinct(PERSON)).label("people"),
                int_sum(D.events).label("events"),
                int_sum(D.unpriced_events).label("unpriced"),
            ).where(where).group_by(D.tool).order_by(tokens.desc(), D.tool)
        )
    ]

    by_model = [
        ModelRow(r.model, int(r.tokens), Decimal(r.cost), int(r.events), int(r.unpriced))
        for r in session.execute(
            select(
                D.model,
                tokens,
                money_sum(D.cost_usd).label("cost"),
                int_sum(D.events).label("events"),
                int_sum(D.unpriced_events).label("unpriced"),
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
            PERSON.label("person"),
            D.tool,
            func.bool_or(D.email.is_not(None)).label("mapped"),
            int_sum(TOKENS).label("tokens"),
            money_sum(D.cost_usd).label("cost"),
            int_sum(D.events).label("events"),
            int_sum(D.unpriced_events).label("unpriced"),
        )
        .where(in_range(start, end))
        .group_by(PERSON, D.tool)
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
        select(int_sum(D.events).label("events"),
               func.count(func.distinct(PERSON)).label("people"),
               func.min(D.day).label("first"), func.max(D.day).label("last"))
    ).one()
    tools = {tool: _tool_stats(0, 0, 0, 0, 0, Decimal(0)) for tool in KNOWN_TOOLS}
    for r in session.execute(
        select(D.tool, int_sum(D.events), int_sum(D.input_tokens), int_sum(D.output_tokens),
               int_sum(D.cache_write_tokens), int_sum(D.cache_read_tokens),
               money_sum(D.cost_usd)).group_by(D.tool).order_by(D.tool)
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
