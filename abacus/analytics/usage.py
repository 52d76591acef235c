"""The Usage page's numbers: models and tools over time, the breakdown, active people.

Sums read the team-wide rollup (`usage_day_totals`), people counts the people bitmaps
(`usage_day_people`): neither grows with the number of people or events. A "view" is the
dimension the page breaks usage down by: `models` (the canonical model) or `tools`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Date, case, cast, func, literal, select, tuple_

from ..extensions import db
from ..models import UsageDaily as D
from .common import (
    Team,
    TokenCost,
    count_people,
    day_people,
    day_totals,
    int_sum,
    money_sum,
    per_person_scope,
    tokens_of,
    usage_sums,
)
from .overview import Totals, scope_sums, totals  # noqa: F401 - the cards of this page too

VIEWS = ("models", "tools")
METRICS = ("tokens", "cost")
TOP_SERIES = 7  # the chart shows this many models (or tools), the rest as "other" (key None)


def _check_view(view: str) -> None:
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")


@dataclass(frozen=True)
class BreakdownRow(TokenCost):
    key: str  # the model or the tool
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


def breakdown(view: str, start: date, end: date, team: Team = None) -> Breakdown:
    """One row per model (or tool), most tokens first, plus a totals row.

    Sums come from the team-wide rollup and people from the bitmaps, each as grouping sets
    (per key, and the total), so the total counts each person once.
    """
    _check_view(view)
    T = day_totals(team)
    key = T.model if view == "models" else T.tool
    is_total = func.grouping(key).label("is_total")
    figures = usage_sums(T)
    sums = db.session.execute(
        select(key.label("key"), is_total, *figures,
               int_sum(T.input_tokens).label("inp"), int_sum(T.output_tokens).label("out"),
               int_sum(T.cache_write_tokens).label("cw"),
               int_sum(T.cache_read_tokens).label("cr"),
               money_sum(T.estimated_cost_usd).label("est"))
        .where(T.day.between(start, end))
        .group_by(func.grouping_sets(tuple_(key), tuple_()))
        .order_by(is_total.desc(), figures.tokens.desc(), key)).all()
    dp = day_people(start, end, team)
    people_key = dp.c.model if view == "models" else dp.c.tool
    people = {(r.key, r.is_total): int(r.people) for r in db.session.execute(
        select(people_key.label("key"), func.grouping(people_key).label("is_total"),
               count_people(dp.c.people).label("people"))
        .group_by(func.grouping_sets(tuple_(people_key), tuple_())))}

    def row(r) -> BreakdownRow:
        return BreakdownRow(int(r.inp), int(r.out), int(r.cw), int(r.cr), Decimal(r.cost),
                            Decimal(r.est), int(r.events), int(r.unpriced),
                            key=r.key or "", people=people.get((r.key, r.is_total), 0))

    total = row(sums[0])  # the () grouping set always yields a row, sorted first
    return Breakdown(view, [row(r) for r in sums[1:]], total)


def trend(view: str, metric: str, start: date, end: date, top: int = TOP_SERIES,
          team: Team = None) -> Trend:
    """Per-day values of the `top` models (or tools) by the metric over the range, everything
    else summed into one "other" series (key None). Ranking and bucketing happen in SQL: per
    (day, key) sums first, then a window ranks keys by their range total."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    _check_view(view)
    # No person dimension here: the small team-wide rollup has the same sums.
    T = day_totals(team)
    key = T.model if view == "models" else T.tool
    value = int_sum(tokens_of(T)) if metric == "tokens" else money_sum(T.cost_usd)
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


def active_people(start: date, end: date, grain: str | None = None,
                  team: Team = None) -> ActivePeople:
    """Distinct people per tool per day (ranges up to 31 days) or per ISO week (Monday),
    with per-period totals across tools and per-tool totals for the range.

    One pass over the people bitmaps with grouping sets (period × tool, period, tool, all):
    each count ORs a few bitmaps, whatever the number of people. Tokens per tool (to break
    ties between tools) come from the team-wide rollup.
    """
    grain = grain or ("day" if (end - start).days < 31 else "week")
    dp = day_people(start, end, team)
    period = (dp.c.day if grain == "day" else cast(func.date_trunc("week", dp.c.day), Date)
              ).label("period")
    rows = db.session.execute(
        select(period, dp.c.tool, func.grouping(period).label("all_periods"),
               func.grouping(dp.c.tool).label("all_tools"),
               count_people(dp.c.people).label("people"))
        .group_by(func.grouping_sets(tuple_(period, dp.c.tool), tuple_(period),
                                     tuple_(dp.c.tool), tuple_()))).all()
    if per_person_scope(team):  # a team's sums per tool from its members' blocks and days
        tokens = {tool: r.tokens for tool, r in scope_sums(start, end, team).items()
                  if tool is not None}
    else:
        T = day_totals(team)
        tokens = dict(db.session.execute(
            select(T.tool, int_sum(tokens_of(T))).where(T.day.between(start, end))
            .group_by(T.tool)).all())
    tool_rows = sorted((ToolPeople(r.tool, int(r.people), int(tokens.get(r.tool, 0)))
                        for r in rows if r.all_periods and not r.all_tools),
                       key=lambda tp: (-tp.people, -tp.tokens, tp.tool))
    periods = {r.period: ActivePeriod(r.period, {}, int(r.people))
               for r in sorted((r for r in rows if r.all_tools and not r.all_periods),
                               key=lambda r: r.period, reverse=True)}
    for r in rows:
        if not r.all_periods and not r.all_tools:
            periods[r.period].by_tool[r.tool] = int(r.people)
    overall = next((int(r.people) for r in rows if r.all_periods and r.all_tools), 0)
    return ActivePeople(grain, [tp.tool for tp in tool_rows], list(periods.values()),
                        tool_rows, overall)


@dataclass(frozen=True)
class PeopleAmong:
    """How many of a given set of people were active in a range: over all, per tool and per
    model (the viewer's own scope, for the minimum group size of aggregates)."""

    total: int = 0
    by_tool: dict[str, int] = field(default_factory=dict)
    by_model: dict[str, int] = field(default_factory=dict)

    def of(self, view: str, key: str | None) -> int:
        """Per key of a Usage view (`models` / `tools`); key None: over all."""
        if key is None:
            return self.total
        return (self.by_model if view == "models" else self.by_tool).get(key, 0)


def people_among(start: date, end: date, people: frozenset[str] | set[str]) -> PeopleAmong:
    """Of `people` (lower-cased e-mails), how many were active in start..end, over all, per
    tool and per model: one grouped pass over their own rows of usage_daily (few people)."""
    if not people:
        return PeopleAmong()
    rows = db.session.execute(
        select(D.tool, D.model, func.grouping(D.tool).label("no_tool"),
               func.grouping(D.model).label("no_model"),
               func.count(func.distinct(func.lower(D.email))).label("n"))
        .where(D.day.between(start, end), func.lower(D.email).in_(sorted(people)))
        .group_by(func.grouping_sets(tuple_(D.tool), tuple_(D.model), tuple_()))).all()
    out = PeopleAmong(by_tool={}, by_model={})
    total = 0
    for r in rows:
        if r.no_tool and r.no_model:
            total = int(r.n)
        elif not r.no_tool:
            out.by_tool[r.tool] = int(r.n)
        else:
            out.by_model[r.model] = int(r.n)
    return PeopleAmong(total, out.by_tool, out.by_model)
