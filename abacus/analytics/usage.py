"""The Usage page's numbers: models and tools over time, the breakdown, active people.

Everything reads the `usage_daily` rollup. A "view" is the dimension the page breaks usage
down by: `models` (the canonical model) or `tools`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Date, case, cast, func, literal, select, tuple_, union_all
from sqlalchemy.sql.expression import ColumnElement

from ..extensions import db
from ..models import UsageDaily as D
from ..models import UsageDayTotals as T
from ..models import UsagePersonDaily as P
from .common import PERSON, TOKENS, Costed, in_range, int_sum, money_sum
from .overview import T_TOKENS, Totals, totals  # noqa: F401 - the cards of this page too

VIEWS = ("models", "tools")
METRICS = ("tokens", "cost")
TOP_SERIES = 7  # the chart shows this many models (or tools), the rest as "other" (key None)


def _dimension(view: str) -> ColumnElement[str]:
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    return D.model if view == "models" else D.tool


@dataclass(frozen=True)
class BreakdownRow(Costed):
    key: str  # the model or the tool
    tokens: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal
    estimated_cost_usd: Decimal
    events: int
    unpriced_events: int
    people: int


@dataclass(frozen=True)
class Breakdown:
    view: str
    rows: list[BreakdownRow]
    total: BreakdownRow  # sums of every row; `people` counts each person once

    @property
    def is_empty(self) -> bool:
        return self.total.events == 0


@dataclass(frozen=True)
class Trend:
    """Daily values of the top keys (most of the metric first) and the rest under None."""

    view: str
    metric: str
    days: list[date]
    keys: list[str | None]
    values: dict[str | None, list]  # key -> one value per day (int tokens or Decimal cost)


@dataclass(frozen=True)
class ActivePeriod:
    start: date  # the day, or the Monday of the week
    by_tool: dict[str, int]  # distinct people per tool
    people: int  # distinct people on any tool


@dataclass(frozen=True)
class ToolPeople:
    tool: str
    people: int
    tokens: int

    @property
    def tokens_per_person(self) -> int:
        return self.tokens // self.people if self.people else 0


@dataclass(frozen=True)
class ActivePeople:
    grain: str  # day | week
    tools: list[str]  # most people first
    periods: list[ActivePeriod] = field(default_factory=list)  # newest first
    by_tool: list[ToolPeople] = field(default_factory=list)
    people: int = 0  # distinct people in the whole range


def breakdown(view: str, start: date, end: date) -> Breakdown:
    """One row per model (or tool), most tokens first, plus a totals row.

    Sums per (key, person) come first (one hash aggregate over the range); the rows and the
    total are then grouping sets over that small result, so counting distinct people sorts
    thousands of rows, not the range's rollup, and the total counts each person once.
    """
    key = _dimension(view)
    per_person = (
        select(key.label("key"), PERSON.label("person"),
               int_sum(TOKENS).label("tokens"), int_sum(D.input_tokens).label("inp"),
               int_sum(D.output_tokens).label("out"),
               int_sum(D.cache_write_tokens).label("cw"),
               int_sum(D.cache_read_tokens).label("cr"),
               money_sum(D.cost_usd).label("cost"),
               money_sum(D.estimated_cost_usd).label("est"),
               int_sum(D.events).label("events"),
               int_sum(D.unpriced_events).label("unpriced"))
        .where(in_range(start, end)).group_by(key, PERSON).subquery())
    c = per_person.c
    grouping = func.grouping(c.key).label("is_total")
    tokens = int_sum(c.tokens)
    rows = db.session.execute(
        select(c.key, grouping, tokens.label("tokens"), int_sum(c.inp).label("inp"),
               int_sum(c.out).label("out"), int_sum(c.cw).label("cw"),
               int_sum(c.cr).label("cr"), money_sum(c.cost).label("cost"),
               money_sum(c.est).label("est"), int_sum(c.events).label("events"),
               int_sum(c.unpriced).label("unpriced"),
               func.count(func.distinct(c.person)).label("people"))
        .group_by(func.grouping_sets(tuple_(c.key), tuple_()))
        .order_by(grouping.desc(), tokens.desc(), c.key)).all()

    def row(r) -> BreakdownRow:
        return BreakdownRow(r.key or "", int(r.tokens), int(r.inp), int(r.out), int(r.cw),
                            int(r.cr), Decimal(r.cost), Decimal(r.est), int(r.events),
                            int(r.unpriced), int(r.people))

    total = row(rows[0])  # the () grouping set always yields a row, sorted first
    return Breakdown(view, [row(r) for r in rows[1:]], total)


def trend(view: str, metric: str, start: date, end: date, top: int = TOP_SERIES) -> Trend:
    """Per-day values of the `top` models (or tools) by the metric over the range, everything
    else summed into one "other" series (key None). Ranking and bucketing happen in SQL: per
    (day, key) sums first, then a window ranks keys by their range total."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    # No person dimension here: the small team-wide rollup has the same sums.
    key = T.model if view == "models" else T.tool
    value = int_sum(T_TOKENS) if metric == "tokens" else money_sum(T.cost_usd)
    per_day = (select(T.day.label("day"), key.label("key"), value.label("value"))
               .where(T.day.between(start, end)).group_by(T.day, key).subquery())
    key_total = func.sum(per_day.c.value).over(partition_by=per_day.c.key)
    ranked = select(per_day.c.day, per_day.c.key, per_day.c.value,
                    key_total.label("key_total")).subquery()
    rank = func.dense_rank().over(order_by=(ranked.c.key_total.desc(), ranked.c.key))
    ordered = select(ranked.c.day, ranked.c.key, ranked.c.value, rank.label("rank")).subquery()
    keys_in_range = func.max(ordered.c.rank).over()
    counted = select(ordered, keys_in_range.label("n_keys")).subquery()
    # Keys beyond the top fall into one NULL ("other") bucket, ranked last; an "other" that
    # would hold a single key shows that key instead.
    shown = (counted.c.rank <= top) | (counted.c.n_keys == top + 1)
    bucket_key = case((shown, counted.c.key), else_=literal(None))
    bucket_rank = case((shown, counted.c.rank), else_=literal(top + 1))
    rows = db.session.execute(
        select(counted.c.day, bucket_key.label("key"), bucket_rank.label("rank"),
               func.sum(counted.c.value).label("value"))
        .group_by(counted.c.day, bucket_key, bucket_rank)
        .order_by(bucket_rank, counted.c.day)).all()

    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    zero: int | Decimal = 0 if metric == "tokens" else Decimal(0)
    keys: list[str | None] = []
    values: dict[str | None, list] = {}
    for r in rows:  # ordered by rank, so keys come out biggest first and "other" last
        if r.key not in values:
            keys.append(r.key)
            values[r.key] = [zero] * len(days)
        values[r.key][index[r.day]] = int(r.value) if metric == "tokens" else Decimal(r.value)
    return Trend(view, metric, days, keys, values)


def active_people(start: date, end: date, grain: str | None = None) -> ActivePeople:
    """Distinct people per tool per day (ranges up to 31 days) or per ISO week (Monday),
    with per-period totals across tools and per-tool totals for the range.

    One scan: (period, tool, person) is hash-aggregated once into a CTE, and each count is a
    further hash aggregate over it (no DISTINCT sorts over the rollup).
    """
    grain = grain or ("day" if (end - start).days < 31 else "week")
    # The per-person rollup: no model dimension, so about half the rows of usage_daily.
    period = P.day if grain == "day" else cast(func.date_trunc("week", P.day), Date)
    p_tokens = P.input_tokens + P.output_tokens + P.cache_write_tokens + P.cache_read_tokens
    base = (select(period.label("period"), P.tool.label("tool"), P.person.label("person"),
                   int_sum(p_tokens).label("tokens"))
            .where(P.day.between(start, end)).group_by(period, P.tool, P.person)
            .cte("active"))
    none_date, none_text = literal(None, Date), literal(None, P.tool.type)

    def people_by(*cols):  # distinct people (and their tokens) per `cols` over the CTE
        inner = (select(*cols, base.c.person, func.sum(base.c.tokens).label("tokens"))
                 .group_by(*cols, base.c.person).subquery())
        outer = [inner.c[col.name] for col in cols]
        return outer, inner

    p_cols, p = people_by(base.c.period)
    t_cols, t = people_by(base.c.tool)
    _, a = people_by()
    parts = union_all(
        # The CTE has one row per (period, tool, person) already: count its rows.
        select(base.c.period, base.c.tool, func.count().label("people"),
               func.sum(base.c.tokens).label("tokens")).group_by(base.c.period, base.c.tool),
        select(p.c.period, none_text, func.count(), func.sum(p.c.tokens)).group_by(*p_cols),
        select(none_date, t.c.tool, func.count(), func.sum(t.c.tokens)).group_by(*t_cols),
        select(none_date, none_text, func.count(), func.sum(a.c.tokens)),
    ).subquery()
    rows = db.session.execute(
        select(parts.c.period, parts.c.tool, parts.c.people, parts.c.tokens)
        .order_by(parts.c.period.desc().nulls_first(), parts.c.people.desc(),
                  parts.c.tokens.desc(), parts.c.tool.nulls_first())).all()
    # Split the four kinds of row (the SQL order holds within each).
    tool_rows = [ToolPeople(r.tool, int(r.people), int(r.tokens or 0))
                 for r in rows if r.period is None and r.tool is not None]
    tools = [tp.tool for tp in tool_rows]
    periods: dict[date, ActivePeriod] = {}
    for r in rows:
        if r.period is not None and r.tool is None:
            periods[r.period] = ActivePeriod(r.period, {}, int(r.people))
    for r in rows:
        if r.period is not None and r.tool is not None:
            periods[r.period].by_tool[r.tool] = int(r.people)
    overall = next((int(r.people) for r in rows if r.period is None and r.tool is None), 0)
    return ActivePeople(grain, tools, list(periods.values()), tool_rows, overall)
