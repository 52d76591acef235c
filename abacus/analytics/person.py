"""The Person page's numbers: one person's lifetime, range, tools, models, weekdays and raw
records.

A person is what `PERSON` groups by everywhere else: the e-mail when the usage is mapped,
else the provider identity (an API key name, a seat id). Aggregates read `usage_daily`; only
the raw listing reads `usage_events`, one page at a time (its CSV: the days it spans).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, or_, select

from ..extensions import db
from ..models import UsageDaily as D
from ..models import UsageEvent as E
from ..usage.exclusions import counted_events
from .common import TOKENS, Costed, Span, in_range, int_sum, money_sum, per_day, usage_sums
from .overview import Daily, fold_daily

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PER_PAGE = 50


def is_person(person: str, table=D) -> ColumnElement[bool]:
    """Rows of `person` (= coalesce(email, actor)), written so the e-mail index serves the
    mapped case: coalesce() itself would hide the column from the index."""
    return or_(table.email == person, and_(table.email.is_(None), table.actor == person))


def is_person_event(person: str) -> ColumnElement[bool]:
    """usage_events rows of `person`, in the form its (coalesce(email, actor), day) index
    serves (the same rows as `is_person`)."""
    return func.coalesce(E.email, E.actor) == person


# --- dataclasses -------------------------------------------------------------------------

@dataclass(frozen=True)
class Lifetime:
    """Everything stored for the person, whatever the range."""

    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    events: int = 0
    first_day: date | None = None
    last_day: date | None = None
    days_active: int = 0
    mapped: bool = False
    top_tool: str | None = None
    record_day: date | None = None
    record_tokens: int = 0

    @property
    def exists(self) -> bool:
        return self.events > 0

    @property
    def recent_window(self) -> tuple[date, date] | None:
        """The 30 days up to the last usage (where to look when a range shows nothing)."""
        if self.last_day is None:
            return None
        return self.last_day - timedelta(days=29), self.last_day


@dataclass(frozen=True)
class Totals(Span, Costed):
    """One window's sums for the person (the cards; also the previous window for deltas)."""

    tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    estimated_cost_usd: Decimal = Decimal(0)
    events: int = 0
    unpriced_events: int = 0
    days_active: int = 0
    first_day: date | None = None
    last_day: date | None = None

    @property
    def tokens_per_active_day(self) -> int:
        return self.tokens // self.days_active if self.days_active else 0

    @property
    def cost_per_active_day(self) -> Decimal:
        return per_day(self.cost_usd, self.days_active)  # the rule of the Team's avg cost too


@dataclass(frozen=True)
class ToolRow(Costed):
    tool: str
    tokens: int
    cost_usd: Decimal
    events: int
    unpriced_events: int
    days_active: int


@dataclass(frozen=True)
class ModelRow(Costed):
    model: str
    tools: list[str]
    tokens: int
    cost_usd: Decimal
    events: int
    unpriced_events: int


@dataclass(frozen=True)
class WeekdayRow:
    isodow: int  # 1 = Monday … 7 = Sunday
    tokens: int
    cost_usd: Decimal
    days_active: int  # how many of this weekday in the range had usage

    @property
    def label(self) -> str:
        return WEEKDAYS[self.isodow - 1]

    @property
    def is_weekend(self) -> bool:
        return self.isodow >= 6


@dataclass(frozen=True)
class PersonOverview:
    person: str
    current: Totals
    previous: Totals
    by_tool: list[ToolRow] = field(default_factory=list)
    by_model: list[ModelRow] = field(default_factory=list)
    weekdays: list[WeekdayRow] = field(default_factory=list)
    daily: Daily | None = None

    @property
    def is_empty(self) -> bool:
        return self.current.events == 0

    @property
    def weekday_max(self) -> int:
        return max((w.tokens for w in self.weekdays), default=0)


@dataclass(frozen=True)
class RawRecord:
    id: int
    occurred_at: datetime  # in the org time zone
    tool: str
    model: str
    raw_model: str
    kind: str
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal | None
    cost_source: str  # provider | estimated | unpriced | not_charged
    token_fee_usd: Decimal | None = None  # Cursor's token fee, part of cost_usd
    would_have_cost_usd: Decimal | None = None  # what a not-charged row's figures said

    @property
    def tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_write_tokens
                + self.cache_read_tokens)


@dataclass(frozen=True)
class RawPage:
    records: list[RawRecord]
    page: int
    pages: int
    total: int  # records matching the filters in the range
    per_page: int
    tools: list[str]  # filter choices: what the person used in the range
    models: list[str]
    tool: str | None
    model: str | None

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.total, self.page * self.per_page)


# --- queries -----------------------------------------------------------------------------

def lifetime(person: str) -> Lifetime:
    """All-time totals; `exists` is False for someone with no stored usage (a 404)."""
    session = db.session
    mine = is_person(person)
    r = session.execute(
        select(int_sum(TOKENS).label("tokens"), money_sum(D.cost_usd).label("cost"),
               int_sum(D.events).label("events"), func.min(D.day).label("first"),
               func.max(D.day).label("last"),
               func.count(func.distinct(D.day)).label("days"),
               func.coalesce(func.bool_or(D.email.is_not(None)), False).label("mapped"))
        .where(mine)).one()
    if not r.events:
        return Lifetime()
    tokens = int_sum(TOKENS)
    top_tool = session.execute(
        select(D.tool).where(mine).group_by(D.tool).order_by(tokens.desc(), D.tool).limit(1)
    ).scalar()
    record = session.execute(
        select(D.day, tokens.label("tokens")).where(mine).group_by(D.day)
        .order_by(tokens.desc(), D.day.desc()).limit(1)).one()
    return Lifetime(int(r.tokens), Decimal(r.cost), int(r.events), r.first, r.last,
                    int(r.days), bool(r.mapped), top_tool, record.day, int(record.tokens))


def resolve_local_part(name: str) -> str | None:
    """The one mapped e-mail whose local part is `name` (links like /users/alice), if unique."""
    if "@" in name or not name:
        return None
    pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "@%"
    emails = db.session.execute(
        select(D.email).where(D.email.like(pattern, escape="\\")).distinct().limit(2)
    ).scalars().all()
    return emails[0] if len(emails) == 1 else None


def mapped_to(identity: str) -> str | None:
    """The one person a mapped identity's usage now belongs to (old links to an identity's
    page, from before it was mapped), if unique."""
    if not identity:
        return None
    emails = db.session.execute(
        select(D.email).where(D.actor == identity, D.email.is_not(None),
                              D.email != identity).distinct().limit(2)).scalars().all()
    return emails[0] if len(emails) == 1 else None


def person_overview(person: str, start: date, end: date, prev_start: date,
                    prev_end: date) -> PersonOverview:
    """The Overview tab for the inclusive days start..end, with the previous window's totals
    (prev_start..prev_end) for the deltas."""
    return PersonOverview(
        person=person,
        current=_totals(person, start, end),
        previous=_totals(person, prev_start, prev_end),
        by_tool=_by_tool(person, start, end),
        by_model=_by_model(person, start, end),
        weekdays=_weekdays(person, start, end),
        daily=_daily(person, start, end),
    )


def _totals(person: str, start: date, end: date) -> Totals:
    r = db.session.execute(
        select(*usage_sums(D), int_sum(D.input_tokens).label("inp"),
               int_sum(D.output_tokens).label("out"), int_sum(D.cache_write_tokens).label("cw"),
               int_sum(D.cache_read_tokens).label("cr"),
               money_sum(D.estimated_cost_usd).label("est"),
               func.count(func.distinct(D.day)).label("days"),
               func.min(D.day).label("first"), func.max(D.day).label("last"))
        .where(is_person(person), in_range(start, end))).one()
    return Totals(start, end, int(r.tokens), int(r.inp), int(r.out), int(r.cw), int(r.cr),
                  Decimal(r.cost), Decimal(r.est), int(r.events), int(r.unpriced),
                  int(r.days), r.first, r.last)


def _grouped(person: str, start: date, end: date, key: Any, *extra: Any) -> Sequence[Row]:
    """The person's usage sums per `key` over the range (with `extra` columns), most tokens
    first, ties by key."""
    sums = usage_sums(D)
    return db.session.execute(
        select(key, *sums, *extra).where(is_person(person), in_range(start, end))
        .group_by(key).order_by(sums.tokens.desc(), key)).all()


def _by_tool(person: str, start: date, end: date) -> list[ToolRow]:
    return [ToolRow(r.tool, int(r.tokens), Decimal(r.cost), int(r.events), int(r.unpriced),
                    int(r.days))
            for r in _grouped(person, start, end, D.tool,
                              func.count(func.distinct(D.day)).label("days"))]


def _by_model(person: str, start: date, end: date) -> list[ModelRow]:
    return [ModelRow(r.model, list(r.tools), int(r.tokens), Decimal(r.cost), int(r.events),
                     int(r.unpriced))
            for r in _grouped(person, start, end, D.model,
                              func.array_agg(func.distinct(D.tool)).label("tools"))]


def _weekdays(person: str, start: date, end: date) -> list[WeekdayRow]:
    """Mon..Sun totals. `usage_daily.day` is already the org time zone's day, so the weekday
    of that date is the org's weekday (no browser or server time zone involved)."""
    dow = func.extract("isodow", D.day).label("dow")
    found = {
        int(r.dow): WeekdayRow(int(r.dow), int(r.tokens), Decimal(r.cost), int(r.days))
        for r in db.session.execute(
            select(dow, int_sum(TOKENS).label("tokens"), money_sum(D.cost_usd).label("cost"),
                   func.count(func.distinct(D.day)).label("days"))
            .where(is_person(person), in_range(start, end)).group_by(dow).order_by(dow))
    }
    return [found.get(d, WeekdayRow(d, 0, Decimal(0), 0)) for d in range(1, 8)]


def _daily(person: str, start: date, end: date) -> Daily:
    return fold_daily(db.session.execute(
        select(D.day, D.tool, int_sum(TOKENS).label("tokens"),
               money_sum(D.cost_usd).label("cost"))
        .where(is_person(person), in_range(start, end)).group_by(D.day, D.tool)).all(),
        start, end)


def raw_records(person: str, start: date, end: date, tz: tzinfo, *, tool: str | None = None,
                model: str | None = None, page: int = 1, per_page: int = PER_PAGE) -> RawPage:
    """One page of the person's stored records, newest first, optionally of one tool/model.

    The rollup (whose `events` column counts exactly these rows per day) says how many
    records there are and which few days hold the requested page; only the
    person's rows of those days are read from `usage_events`, through its
    (coalesce(email, actor), day) index. A page past the end shows the last page.
    """
    session = db.session
    scope = [is_person(person), in_range(start, end)]
    choices = session.execute(
        select(D.tool, D.model).where(*scope).group_by(D.tool, D.model)
        .order_by(D.tool, D.model)).all()
    tools = list(dict.fromkeys(t for t, _ in choices))
    models = sorted({m for _, m in choices})
    if tool:
        scope.append(D.tool == tool)
    if model:
        scope.append(D.model == model)
    total = int(session.execute(select(int_sum(D.events)).where(*scope)).scalar_one())
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    offset = (page - 1) * per_page

    # Days newest first with the running count of records up to and including each; the
    # page's rows are in the days where that count passes `offset`.
    per_day = (select(D.day, int_sum(D.events).label("n"))
               .where(*scope).group_by(D.day).subquery())
    through = func.sum(per_day.c.n).over(order_by=per_day.c.day.desc())
    running = select(per_day, through.label("through")).subquery()
    window = session.execute(
        select(running.c.day, running.c.n, running.c.through)
        .where(running.c.through > offset, running.c.through - running.c.n < offset + per_page)
        .order_by(running.c.day.desc())).all()
    records: list[RawRecord] = []
    if window:
        skip = offset - (int(window[0].through) - int(window[0].n))
        records = _events(person, [w.day for w in window], tz, tool, model,
                          limit=per_page, offset=skip)
    return RawPage(records, page, pages, total, per_page, tools, models, tool, model)


def raw_export(person: str, start: date, end: date, tz: tzinfo, *, tool: str | None = None,
               model: str | None = None) -> list[RawRecord]:
    """Every stored record the Raw usage tab lists for these filters (all its pages), newest
    first. The rollup names the days holding them; the person's rows of those are read from
    `usage_events` through its (coalesce(email, actor), day) index."""
    scope = [is_person(person), in_range(start, end)]
    if tool:
        scope.append(D.tool == tool)
    if model:
        scope.append(D.model == model)
    days = list(db.session.scalars(select(D.day).where(*scope).group_by(D.day)
                                    .order_by(D.day)))
    if not days:
        return []
    return _events(person, days, tz, tool, model)


def _events(person: str, days: list[date], tz: tzinfo, tool: str | None, model: str | None,
            *, limit: int | None = None, offset: int = 0) -> list[RawRecord]:
    """The person's counted events on these days, newest first."""
    # Only the (person, day) index may serve this: the range bounds its scan, and there is
    # no account condition (counted_events() already keeps exactly the rows the rollups
    # count, so the days' accounts add nothing) for the planner to AND in an index of the
    # account's millions of rows (it did, misled by the filter's estimated cost: ~180 ms a
    # year instead of ~10).
    where = [is_person_event(person), counted_events(), E.day.between(min(days), max(days)),
             E.day.in_(days)]
    if tool:
        where.append(E.tool == tool)
    if model:
        where.append(E.model == model)
    query = (select(E.id, E.occurred_at, E.tool, E.model, E.raw_model, E.kind, E.input_tokens,
                    E.output_tokens, E.cache_write_tokens, E.cache_read_tokens, E.cost_usd,
                    E.cost_source, E.extras["token_fee_usd"].astext.label("fee"),
                    E.extras["would_have_cost_usd"].astext.label("would_have"))
             .where(*where).order_by(E.occurred_at.desc(), E.id.desc()).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    return [
        RawRecord(id_, at.astimezone(tz), tool_, model_, raw_model, kind, inp, out, cw, cr,
                  cost, source, _money(fee) if fee else None,
                  _money(would_have) if would_have else None)
        for (id_, at, tool_, model_, raw_model, kind, inp, out, cw, cr, cost, source, fee,
             would_have) in db.session.execute(query).tuples()
    ]


def _money(text: str | None) -> Decimal | None:
    """An amount kept in extras (as text); None when absent or not a number."""
    if not text:
        return None
    try:
        return Decimal(text)
    except (ArithmeticError, ValueError):
        return None
