"""The Overview page's numbers, and lifetime totals (`flask abacus stats`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, Subquery, and_, func, select, true, tuple_

from ..extensions import db
from ..models import UsageDaily as D
from ..models import UsageDayTotals as T
from ..models import UsageEvent
from .common import (
    PERSON,
    TOKENS,
    Costed,
    PersonSums,
    Span,
    Team,
    count_people,
    day_people,
    day_totals,
    in_range,
    int_sum,
    money_sum,
    not_bot,
    per_person_scope,
    person_tool_rows,
    tokens_of,
    usage_sums,
)
from .scope import member_spans, spans_table

T_TOKENS = tokens_of(T)


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
class PersonRow(PersonSums):
    top_tool: str | None
    unpriced_events: int = 0  # events whose cost is unknown (not in cost_usd)
    tool_tokens: dict[str, int] = field(default_factory=dict)  # tool -> tokens
    favourite_model: str | None = None  # the model with the most tokens


@dataclass(frozen=True)
class Totals(Span):
    """Headline numbers of one window (the cards, and the previous window for deltas)."""

    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    people: int = 0
    events: int = 0

    @property
    def tokens_per_day(self) -> Decimal:
        return Decimal(self.tokens) / self.days

    @property
    def cost_per_day(self) -> Decimal:
        return self.cost_usd / self.days


@dataclass(frozen=True)
class Daily:
    """Per-day sums by tool over a window, zero-filled (for the stacked chart)."""

    days: list[date]
    tools: list[str]
    tokens: dict[str, list[int]]
    cost: dict[str, list[Decimal]]


@dataclass(frozen=True)
class Lifetime:
    tokens: int
    cost_usd: Decimal
    first_day: date | None


@dataclass(frozen=True)
class Projection:
    """Month-end spend: month-to-date + the recent daily rate × the days left."""

    month_start: date
    month_end: date
    month_to_date: Decimal
    daily_rate: Decimal  # average over `basis_days` complete days before today
    basis_days: int
    days_left: int  # today included: today is not over yet
    projected: Decimal


@dataclass(frozen=True)
class UsageCents:
    """Usage cost added up person by person, each person's rounded to the cent (as the seat
    cost reports add up: `seats.cost`), and who had usage."""

    usd: Decimal = Decimal("0.00")
    active: int = 0  # people with usage, bots left out (they are no one to divide by)
    people: int = 0  # with usage, bots included
    holding: int = 0  # of the seat holders asked about (`usage_cents`), those with usage


def _cents(person: Any, cost: Any, events: Any, holders: Collection[str] = ()) -> Subquery:
    """One row of `UsageCents` figures over rows of (person, cost, events)."""
    per_person = (select(person.label("person"), func.round(func.sum(cost), 2).label("usd"))
                  .group_by(person).having(func.sum(events) > 0).subquery("per_person"))
    p = per_person.c
    return select(func.coalesce(func.sum(p.usd), 0).label("cents_usd"),
                  func.count().filter(not_bot(p.person)).label("cents_active"),
                  func.count().label("cents_people"),
                  func.count().filter(p.person.in_(sorted(holders) or [""]))
                  .label("cents_holding")).subquery("cents")


def _usage_cents(r: Any) -> UsageCents:
    return UsageCents(Decimal(r.cents_usd), int(r.cents_active), int(r.cents_people),
                      int(r.cents_holding))


def usage_cents(start: date, end: date, team: Team = None, holders: Collection[str] = ()
                ) -> UsageCents:
    """Everyone's `UsageCents` over start..end, and how many of `holders` had usage (the
    Overview gets the same figures from its top-people pass: `Overview.usage`)."""
    rows = person_tool_rows(start, end, team=team).c
    return _usage_cents(db.session.execute(
        select(_cents(rows.person, rows.cost_usd, rows.events, holders))).one())


@dataclass(frozen=True)
class Overview(Span):
    total_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    estimated_cost_usd: Decimal = Decimal(0)  # the part of cost_usd that is our estimate
    unpriced_events: int = 0
    events: int = 0
    active_people: int = 0
    by_tool: list[ToolRow] = field(default_factory=list)
    by_model: list[ModelRow] = field(default_factory=list)
    by_person: list[PersonRow] = field(default_factory=list)
    usage: UsageCents = UsageCents()  # everyone's, for the cost card beside seats

    @property
    def is_empty(self) -> bool:
        return self.events == 0

    @property
    def totals(self) -> Totals:
        return Totals(self.start, self.end, self.total_tokens, self.cost_usd,
                      self.active_people, self.events)


def totals(start: date, end: date, team: Team = None) -> Totals:
    """The headline numbers of one window: sums from the small team-wide rollup, the people
    count from the people bitmaps (in a team scope both from one pass over its members'
    blocks and days, `scope_sums`)."""
    if per_person_scope(team):
        r = scope_sums(start, end, team)[None]
        return Totals(start, end, r.tokens, r.cost, r.people, r.events)
    src = day_totals(team)
    r = db.session.execute(
        select(int_sum(tokens_of(src)).label("tokens"), money_sum(src.cost_usd).label("cost"),
               int_sum(src.events).label("events")).where(src.day.between(start, end))).one()
    return Totals(start, end, int(r.tokens), Decimal(r.cost), people_count(start, end, team),
                  int(r.events))


def people_count(start: date, end: date, team: Team = None) -> int:
    """Distinct people (mapped e-mails and unmapped identities) active in the window."""
    if per_person_scope(team):
        return scope_sums(start, end, team)[None].people
    dp = day_people(start, end, team)
    return int(db.session.execute(select(count_people(dp.c.people))).scalar_one())


def people_by_tool(start: date, end: date, team: Team = None) -> tuple[int, dict[str, int]]:
    """Distinct people active in the window, and per tool (one pass over the bitmaps)."""
    if per_person_scope(team):
        scoped = scope_sums(start, end, team)
        return scoped[None].people, {t: r.people for t, r in scoped.items() if t is not None}
    dp = day_people(start, end, team)
    rows = db.session.execute(
        select(dp.c.tool, count_people(dp.c.people).label("people"))
        .group_by(func.grouping_sets(tuple_(dp.c.tool), tuple_()))).all()
    by_tool = {r.tool: int(r.people) for r in rows if r.tool is not None}
    return next((int(r.people) for r in rows if r.tool is None), 0), by_tool


@dataclass(frozen=True)
class _ScopedSums:
    tokens: int
    cost: Decimal
    estimated: Decimal
    events: int
    unpriced: int
    people: int  # the humans among them (bots are listed apart, as on the bitmaps)
    first: date | None


def scope_sums(start: date, end: date, team: Sequence[int]) -> dict[str | None, _ScopedSums]:
    """A team scope's sums per tool and over all tools (key None) for start..end, and its
    people: its members' usage on their member days read from the per-person blocks for
    whole spans and the per-day rollup for the rest (`person_tool_rows`), so a year costs
    about what a week does."""
    rows = person_tool_rows(start, end, team=team).c
    per = (select(rows.person, rows.tool, *usage_sums(rows),
                  money_sum(rows.estimated_cost_usd).label("estimated"),
                  func.min(rows.first_day).label("first"))
           .group_by(rows.person, rows.tool).subquery("per_person_tool"))
    c = per.c
    out = {r.tool: _ScopedSums(int(r.tokens), Decimal(r.cost), Decimal(r.estimated),
                               int(r.events), int(r.unpriced), int(r.people), r.first)
           for r in db.session.execute(
               select(c.tool, *usage_sums_of_sums(c),
                      money_sum(c.estimated).label("estimated"),
                      func.count(c.person.distinct()).filter(not_bot(c.person))
                      .label("people"), func.min(c.first).label("first"))
               .group_by(func.grouping_sets(tuple_(c.tool), tuple_())))}
    out.setdefault(None, _ScopedSums(0, Decimal(0), Decimal(0), 0, 0, 0, None))
    return out


def usage_sums_of_sums(c) -> list:
    """usage_sums over rows that hold sums already (tokens, cost, events, unpriced)."""
    return [int_sum(c.tokens).label("tokens"), money_sum(c.cost).label("cost"),
            int_sum(c.events).label("events"), int_sum(c.unpriced).label("unpriced")]


def daily_by_tool(start: date, end: date, team: Team = None) -> Daily:
    """Tokens and cost per day and tool, every day of the window present (zeros filled)."""
    src = day_totals(team)
    return fold_daily(db.session.execute(
        select(src.day, src.tool, int_sum(tokens_of(src)).label("tokens"),
               money_sum(src.cost_usd).label("cost"))
        .where(src.day.between(start, end)).group_by(src.day, src.tool)).all(), start, end)


def fold_daily(rows, start: date, end: date) -> Daily:
    """(day, tool, tokens, cost) rows → zero-filled series per tool, most tokens first."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    by_tokens: dict[str, int] = {}
    for r in rows:
        by_tokens[r.tool] = by_tokens.get(r.tool, 0) + int(r.tokens)
    tools = sorted(by_tokens, key=lambda t: (-by_tokens[t], t))
    tokens = {t: [0] * len(days) for t in tools}
    cost = {t: [Decimal(0)] * len(days) for t in tools}
    for r in rows:
        tokens[r.tool][index[r.day]] = int(r.tokens)
        cost[r.tool][index[r.day]] = Decimal(r.cost)
    return Daily(days, tools, tokens, cost)


def lifetime(team: Team = None) -> Lifetime:
    """Everything stored, from the small rollup (no scan of the per-person table); in a team
    scope, its members' usage of their member days (from the first to the last day stored)."""
    if per_person_scope(team):
        first, last = db.session.execute(select(func.min(T.day), func.max(T.day))).one()
        if first is None:
            return Lifetime(0, Decimal(0), None)
        r = scope_sums(first, last, team)[None]
        return Lifetime(r.tokens, r.cost, r.first)
    src = day_totals(team)
    r = db.session.execute(
        select(int_sum(tokens_of(src)).label("tokens"), money_sum(src.cost_usd).label("cost"),
               func.min(src.day).label("first"))).one()
    return Lifetime(int(r.tokens), Decimal(r.cost), r.first)


def _costs(ranges: list[tuple[date, date]], team: Team = None) -> list[Decimal]:
    """Spend over each inclusive range: one statement over the small rollup, or in a team
    scope one pass over its members' blocks per range."""
    if per_person_scope(team):
        return [scope_sums(first, last, team)[None].cost for first, last in ranges]
    src = day_totals(team)
    return [Decimal(v) for v in db.session.execute(select(*(
        func.coalesce(func.sum(src.cost_usd).filter(src.day.between(first, last)), 0)
        for first, last in ranges)).where(src.day.between(min(r[0] for r in ranges),
                                                           max(r[1] for r in ranges)))).one()]


def month_projection(today: date, basis_days: int = 14, team: Team = None) -> Projection:
    """Month-end spend = spend so far this month + the average daily spend of the last
    `basis_days` complete days (today excluded: it is not over) × the days left, today
    included. The basis reaches into the previous month so the 1st still gets a rate."""
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    month_end = next_month - timedelta(days=1)
    basis_start = today - timedelta(days=basis_days)
    mtd, basis, today_cost = _costs([(month_start, today),
                                     (basis_start, today - timedelta(days=1)), (today, today)],
                                    team)
    rate = basis / basis_days
    days_left = (month_end - today).days + 1
    # Today's spend so far is already in month-to-date; count the rest of today at the rate,
    # but never below what today already cost.
    projected = mtd - today_cost + max(today_cost, rate) + rate * (days_left - 1)
    return Projection(month_start, month_end, mtd, rate, basis_days, days_left,
                      projected.quantize(Decimal("0.01")))


def overview(start: date, end: date, limit: int = 50, team: Team = None) -> Overview:
    """Totals and breakdowns by tool, model and person for the inclusive days start..end.

    Team-wide numbers come from the small rollup, people counts from the people bitmaps, and
    the top `limit` people (with their tool split) from one grouped pass over the per-person
    rollup, ranked in SQL. Breakdowns are sorted by tokens (descending, then name).
    """
    session = db.session
    src = day_totals(team)
    in_days = src.day.between(start, end)
    sums = usage_sums(src)
    per_scope = per_person_scope(team)
    if per_scope:  # the sums per tool of the people counts' pass
        scoped = scope_sums(start, end, team)
        t = scoped[None]
        tool_rows = sorted(((tool, r) for tool, r in scoped.items() if tool is not None),
                           key=lambda tr: (-tr[1].tokens, tr[0]))
        tool_rows = [_ToolSums(tool, r.tokens, r.cost, r.events, r.unpriced)
                     for tool, r in tool_rows]
    else:
        t = session.execute(select(*sums, money_sum(src.estimated_cost_usd).label("estimated"))
                            .where(in_days)).one()
        tool_rows = session.execute(
            select(src.tool, *sums).where(in_days).group_by(src.tool)
            .order_by(sums.tokens.desc(), src.tool)).all()
    by_model = [
        ModelRow(r.model, int(r.tokens), Decimal(r.cost), int(r.events), int(r.unpriced))
        for r in session.execute(
            select(src.model, *sums).where(in_days).group_by(src.model)
            .order_by(sums.tokens.desc(), src.model))
    ]
    if per_scope:
        active = scoped[None].people
        tool_people = {tool: r.people for tool, r in scoped.items() if tool is not None}
    else:
        active, tool_people = people_by_tool(start, end, team)
    by_tool = [ToolRow(r.tool, int(r.tokens), Decimal(r.cost), tool_people.get(r.tool, 0),
                       int(r.events), int(r.unpriced)) for r in tool_rows]
    ranked, usage = _top_people(start, end, limit, team)
    models = _models_of([person for person, _ in ranked], start, end, team)
    by_person = [
        PersonRow(person, p["mapped"], p["tokens"], p["cost"], p["events"],
                  max(p["tools"], key=lambda k: (p["tools"][k], k)) if p["tools"] else None,
                  p["unpriced"], tool_tokens=dict(p["tools"]),
                  favourite_model=max(models[person], key=lambda k: (models[person][k], k))
                  if models.get(person) else None)
        for person, p in ranked
    ]
    return Overview(start=start, end=end, total_tokens=int(t.tokens), cost_usd=Decimal(t.cost),
                    estimated_cost_usd=Decimal(t.estimated), unpriced_events=int(t.unpriced),
                    events=int(t.events), active_people=active, by_tool=by_tool,
                    by_model=by_model, by_person=by_person, usage=usage)


@dataclass(frozen=True)
class _ToolSums:
    tool: str
    tokens: int
    cost: Decimal
    events: int
    unpriced: int


def _top_people(start: date, end: date, limit: int, team: Team = None
                ) -> tuple[list[tuple[str, dict]], UsageCents]:
    """The `limit` people with the most tokens (ties: person A→Z): totals, tokens per tool,
    mapped or not; and everyone's `UsageCents`. One pass per (person, tool) over the
    per-person blocks and days covering the range feeds both; the ranking happens in SQL, so
    only the top people's rows come back."""
    rows = person_tool_rows(start, end, team=team).c
    per_tool = (
        select(rows.person, rows.tool, func.bool_or(rows.mapped).label("mapped"),
               *usage_sums(rows))
        .group_by(rows.person, rows.tool).cte("per_tool"))
    c = per_tool.c
    # Byte order (COLLATE "C") ranks ties exactly as Python's sort of the names does.
    by_name = c.person.collate("C")
    top = (select(c.person).where(not_bot(c.person))  # bots are listed apart (analytics.bots)
           .group_by(c.person)
           .order_by(func.sum(c.tokens).desc(), by_name).limit(limit).subquery("top"))
    cents = _cents(c.person, c.cost, c.events)
    result = db.session.execute(
        select(per_tool, cents).select_from(per_tool.join(top, top.c.person == c.person))
        .join(cents, true())).all()
    # Nobody to list (no usage, or only bots'): the sums alone.
    usage = _usage_cents(result[0] if result else db.session.execute(select(cents)).one())
    out: dict[str, dict] = {}
    for r in result:
        p = out.get(r.person)
        if p is None:
            p = out[r.person] = {"mapped": False, "tokens": 0, "cost": Decimal(0),
                                 "events": 0, "unpriced": 0, "tools": {}}
        n = int(r.tokens)
        p["mapped"] = p["mapped"] or bool(r.mapped)
        p["tokens"] += n
        p["cost"] += Decimal(r.cost)
        p["events"] += int(r.events)
        p["unpriced"] += int(r.unpriced)
        p["tools"][r.tool] = p["tools"].get(r.tool, 0) + n
    return sorted(out.items(), key=lambda kv: (-kv[1]["tokens"], kv[0])), usage


def _models_of(people: list[str], start: date, end: date, team: Team = None
               ) -> dict[str, dict[str, int]]:
    """Tokens per model for just these people (the few rows of the top of the list).

    Mapped rows and unmapped ones are two queries: the first is an index-only scan of
    (email, day) with the model and tokens included, the second reads the few rows of
    unmapped identities through their partial index."""
    out: dict[str, dict[str, int]] = {}
    if not people:
        return out
    queries = []
    for who, match in ((D.email, D.email.in_(people)),
                       (D.actor, and_(D.email.is_(None), D.actor.in_(people)))):
        queries.append(select(who.label("person"), D.model, int_sum(TOKENS).label("tokens"))
                       .where(in_range(start, end), match).group_by(who, D.model))
    if team is not None:
        # In a scope only mapped rows are a member's, on their member days: a join to these
        # people's spans (index-only scans of each), not a membership lookup per row.
        wanted = set(people)
        m = spans_table({0: {p: s for p, s in member_spans(team, start, end).items()
                             if p in wanted}}, "top_members_days")
        queries = [queries[0].join(m, and_(m.c.person == D.email,
                                           D.day.between(m.c.first, m.c.last)))]
    for query in queries:
        for r in db.session.execute(query):
            models = out.setdefault(r.person, {})
            models[r.model] = models.get(r.model, 0) + int(r.tokens)
    return out


# Always listed in stats, even with no usage yet.
KNOWN_TOOLS = ("claude_code", "cursor", "copilot", "openai", "codex", "openrouter")


def lifetime_stats() -> dict:
    """Everything stored, for `flask abacus stats`: JSON-ready, cost as a cents string.

    Per tool: `cost_usd` is what was charged (as reported) or estimated; not-charged events
    add $0 and unpriced ones nothing (their cost is unknown), each counted on its own.
    """
    session = db.session
    totals = session.execute(
        select(int_sum(D.events).label("events"),
               func.count(func.distinct(PERSON)).label("people"),
               func.min(D.day).label("first"), func.max(D.day).label("last"))
    ).one()
    tools = {tool: _tool_stats(0, 0, 0, 0, 0, Decimal(0), 0, 0) for tool in KNOWN_TOOLS}
    for r in session.execute(
        select(D.tool, int_sum(D.events), int_sum(D.input_tokens), int_sum(D.output_tokens),
               int_sum(D.cache_write_tokens), int_sum(D.cache_read_tokens),
               money_sum(D.cost_usd), int_sum(D.unpriced_events),
               int_sum(D.not_charged_events)).group_by(D.tool).order_by(D.tool)
    ):
        tools[r[0]] = _tool_stats(*r[1:])
    for tool, billed in _billed_by_tool().items():  # net figures where the provider has them
        tools[tool]["billed_usd"] = f"{billed.quantize(Decimal('0.01')):f}"
    return {
        "events": int(totals.events),
        "people": int(totals.people),
        "first_day": totals.first.isoformat() if totals.first else None,
        "last_day": totals.last.isoformat() if totals.last else None,
        "tools": tools,
    }


def _billed_by_tool() -> dict[str, Decimal]:
    """Σ `extras.billed_usd` per tool (Copilot's net AI-credit spend), where any is known."""
    billed = UsageEvent.extras["billed_usd"].astext.cast(Numeric)
    return {tool: Decimal(total) for tool, total in db.session.execute(
        select(UsageEvent.tool, func.sum(billed))
        .where(UsageEvent.extras.has_key("billed_usd")).group_by(UsageEvent.tool))}


def _tool_stats(events: int, inp: int, out: int, cw: int, cr: int, cost: Decimal,
                unpriced: int, not_charged: int) -> dict:
    return {"events": int(events), "input_tokens": int(inp), "output_tokens": int(out),
            "cache_write_tokens": int(cw), "cache_read_tokens": int(cr),
            "cost_usd": f"{Decimal(cost).quantize(Decimal('0.01')):f}",
            "unpriced_events": int(unpriced), "not_charged_events": int(not_charged)}
