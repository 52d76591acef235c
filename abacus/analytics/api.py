"""Reads the JSON API needs beyond what a page module already answers: usage per day (per
tool, for one person), cost per day or month and tool, and the team list with head counts.

Per-person and per-model/tool figures come from the pages' own functions (`team.team_pivot`,
`usage.breakdown`), so the API and the pages agree by construction. Paging happens in SQL
(LIMIT/OFFSET with the matching row count as a window aggregate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, cast, func, select

from ..extensions import db
from ..models import Team, TeamMembership
from ..models import UsageDayTotals as T
from ..models import UsagePersonDaily as P
from .common import TokenCost, int_sum, money_sum
from .scope import on_days

GRAINS = ("day", "month")


@dataclass(frozen=True)
class Figures(TokenCost):
    """A usage row's figures; not-charged events cost $0 by the provider's word."""

    not_charged_events: int


@dataclass(frozen=True)
class PeriodRow:
    period: date  # the day, or the first day of the month
    tool: str | None  # None: every tool together
    figures: Figures


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int  # rows matching, over every page
    page: int
    per_page: int


@dataclass(frozen=True)
class TeamInfo:
    id: int
    name: str
    parent_id: int | None
    cost_centre: str | None
    source: str
    members: int  # distinct people in the team (not its subtree) on some day of the range
    leads: int


def _figures(table: Any) -> list:
    return [int_sum(table.input_tokens).label("inp"), int_sum(table.output_tokens).label("out"),
            int_sum(table.cache_write_tokens).label("cw"),
            int_sum(table.cache_read_tokens).label("cr"),
            money_sum(table.cost_usd).label("cost"),
            money_sum(table.estimated_cost_usd).label("est"),
            int_sum(table.events).label("events"),
            int_sum(table.unpriced_events).label("unpriced"),
            int_sum(table.not_charged_events).label("not_charged")]


def _row_figures(r: Any) -> Figures:
    return Figures(int(r.inp), int(r.out), int(r.cw), int(r.cr), Decimal(r.cost),
                   Decimal(r.est), int(r.events), int(r.unpriced), int(r.not_charged))


def usage_by_period(start: date, end: date, *, grain: str = "day", by_tool: bool = False,
                    tool: str | None = None, person: str | None = None, page: int = 1,
                    per_page: int = 100) -> Page:
    """Usage per day (or calendar month) of start..end, oldest first, only periods with
    usage; per tool with `by_tool`. `tool` keeps one tool; `person` (an e-mail, or an
    unmapped identity) reads that person's rollup instead of the team-wide one."""
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, got {grain!r}")
    table: Any = T if person is None else P
    period = (table.day if grain == "day"
              else cast(func.date_trunc("month", table.day), Date)).label("period")
    keys = [period, table.tool.label("tool")] if by_tool else [period]
    query = select(*keys, *_figures(table), func.count().over().label("matching")).where(
        table.day.between(start, end))
    if tool is not None:
        query = query.where(table.tool == tool)
    if person is not None:
        query = query.where(func.lower(P.person) == person.lower())
    rows = db.session.execute(
        query.group_by(*keys).order_by(*keys)
        .limit(per_page).offset((page - 1) * per_page)).all()
    total = int(rows[0].matching) if rows else _count(query.group_by(*keys))
    return Page([PeriodRow(r.period, r.tool if by_tool else None, _row_figures(r))
                 for r in rows], total, page, per_page)


def _count(grouped: Any) -> int:
    """Rows a grouped query has (for a page past the end, which carries no count)."""
    return int(db.session.execute(select(func.count()).select_from(grouped.subquery()))
               .scalar_one())


def teams(start: date, end: date) -> list[TeamInfo]:
    """Every team (A→Z) with its parent, cost centre, and how many people (and leads) were
    members on some day of start..end."""
    m = TeamMembership
    counts = (select(m.team_id, func.count(func.distinct(m.person)).label("members"),
                     func.count(func.distinct(m.person)).filter(m.lead).label("leads"))
              .where(on_days(start, end)).group_by(m.team_id).subquery())
    rows = db.session.execute(
        select(Team, func.coalesce(counts.c.members, 0), func.coalesce(counts.c.leads, 0))
        .outerjoin(counts, counts.c.team_id == Team.id).order_by(Team.name)).all()
    return [TeamInfo(t.id, t.name, t.parent_id, t.cost_centre, t.source, int(n), int(leads))
            for t, n, leads in rows]
