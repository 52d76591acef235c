"""Shared pieces of the read side: rollup expressions and the cost-completeness mixin.

Every query reads a rollup (never `usage_events`) unless it shows raw records, so page time
does not grow with the number of raw events; aggregation, sorting and paging happen in SQL.
Money stays Decimal. Date ranges are inclusive days in the org time zone (the rollups' `day`
already is).

Counting people: distinct people do not add up across days, tools or accounts, so counts read
`usage_day_people` (a bitmap of person ids per day, account, tool and model) and OR the
bitmaps of the range: a few hundred rows however many people and events there are.

Per-person sums over a range read `usage_person_blocks` (aligned blocks of 2…256 days) for
most of the range and `usage_person_daily` only for the few days no block fits:
`person_tool_rows` is that union.

Team scope (`team` = the team ids of a scope, its subtree included; None: everyone): a
team's figures are its people's usage on the days they were members. Per-person sums
(`person_tool_rows`, `keyed_person_rows`) split each member's merged member-day span (a
re-org splits a person's days exactly) into aligned blocks and single days like a range, so
a member for a year reads a dozen block rows per tool. Per-day rows by model (`day_totals`,
`day_people`) join `usage_daily` to the members' spans: index-only scans of each member's
rows (ix_usage_daily_email_day covers the summed columns), not the whole range's rows.
`day_totals`, `day_people` and `person_tool_rows` return the same columns either way, so a
page's queries do not change with the scope.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Subquery,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import BIT

from ..extensions import db
from ..models import Bot, Person
from ..models import Team as TeamRow
from ..models import UsageDaily as D
from ..models import UsageDayPeople as DP
from ..models import UsageDayTotals as T
from ..models import UsagePersonBlock as B
from ..models import UsagePersonDaily as P
from ..models import UsageTeamDay as TD
from .scope import (
    member_on_day,
    member_spans,
    members_table,
    span_pieces,
    spans_table,
    subtree_ids,
    team_memo,
)

Team = Sequence[int] | None  # a scope's team ids (subtree included); None: everyone


class Costed:
    """Rows whose cost may leave out unpriced events (a model without a known price)."""

    events: int
    unpriced_events: int

    @property
    def fully_unpriced(self) -> bool:
        """No event has a price: the cost is unknown, not $0."""
        return self.events > 0 and self.unpriced_events == self.events


@dataclass(frozen=True)
class TokenCost(Costed):
    """The token and cost figures a usage row carries (the JSON API's per-period figures, the
    Usage breakdown). `cost_usd` is the whole cost; `estimated_cost_usd` the part estimated
    from tokens × prices (the rest the provider reported); unpriced events have no price
    (left out of the cost)."""

    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal
    estimated_cost_usd: Decimal
    events: int
    unpriced_events: int

    @property
    def tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_write_tokens
                + self.cache_read_tokens)

    @property
    def reported_cost_usd(self) -> Decimal:
        """The provider-reported (billed) part of the cost."""
        return self.cost_usd - self.estimated_cost_usd


@dataclass(frozen=True)
class Span:
    """Figures over the inclusive days start..end: a range, or the window before it."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class PersonSums(Costed):
    """The leading figures of one person's row over a range (top people, the Team pivot)."""

    person: str  # e-mail when mapped, else the provider's identity (API key, seat id)
    mapped: bool  # some of the usage carries a person's e-mail
    tokens: int
    cost_usd: Decimal
    events: int


class Paged:
    """A page of `rows` out of `visible` matching rows; `per_page` None: every row at once."""

    rows: list
    visible: int
    page: int
    per_page: int | None

    @property
    def pages(self) -> int:
        if not self.per_page:
            return 1
        return max(1, math.ceil(self.visible / self.per_page))

    @property
    def first_index(self) -> int:
        """1-based position of the page's first row (0 when there are none)."""
        return (self.page - 1) * (self.per_page or 0) + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.rows) - 1 if self.rows else 0


def tokens_of(rollup: Any) -> ColumnElement[int]:
    """A row's tokens, over any table or subquery with the rollups' token columns."""
    return (rollup.input_tokens + rollup.output_tokens + rollup.cache_write_tokens
            + rollup.cache_read_tokens)


# Shared expressions. sum() over BIGINT is NUMERIC in PostgreSQL: cast back to a Python int.
TOKENS = tokens_of(D)
PERSON = func.coalesce(D.email, D.actor)


def int_sum(expr: ColumnElement) -> ColumnElement[int]:
    return cast(func.coalesce(func.sum(expr), 0), BigInteger)


def money_sum(expr: ColumnElement) -> ColumnElement[Decimal]:
    return func.coalesce(func.sum(expr), literal(Decimal(0)))


def per_day(cost: Decimal, days: int) -> Decimal:
    """`cost` spread over `days` (active days, person-days); 0 when there are none."""
    return cost / days if days else Decimal(0)


class Sums(NamedTuple):
    """The figures of a usage row, summed and labelled as rows read them (r.tokens, r.cost,
    r.events, r.unpriced): `select(key, *sums)`, `order_by(sums.tokens.desc())`."""

    tokens: ColumnElement[int]
    cost: ColumnElement[Decimal]
    events: ColumnElement[int]
    unpriced: ColumnElement[int]


def usage_sums(rollup: Any) -> Sums:
    """Tokens, cost, events and unpriced events summed over `rollup` (a rollup table, or a
    subquery's columns named like one)."""
    return Sums(int_sum(tokens_of(rollup)).label("tokens"),
                money_sum(rollup.cost_usd).label("cost"),
                int_sum(rollup.events).label("events"),
                int_sum(rollup.unpriced_events).label("unpriced"))


def in_range(start: date, end: date) -> ColumnElement[bool]:
    return D.day.between(start, end)


SUM_COLUMNS = ("events", "input_tokens", "output_tokens", "cache_write_tokens",
               "cache_read_tokens", "cost_usd", "estimated_cost_usd", "unpriced_events",
               "not_charged_events")


def in_team(team: Team, person: ColumnElement, day: ColumnElement) -> ColumnElement[bool]:
    """`person` was in the scope on `day` (always true without a scope)."""
    return literal(True) if team is None else member_on_day(team, person, day)


def day_totals(team: Team = None) -> Any:
    """`usage_day_totals` (day, account_id, tool, model and the sums), or for a team scope
    the same columns over `usage_daily` rows of its members on their member days. Use it as
    the table: `src.day`, `src.tool`, `usage_sums(src)`."""
    if team is None:
        return T
    root = team_rollup(team)
    if root is not None:
        return (select(TD.day, TD.account_id, TD.tool, TD.model,
                       *(getattr(TD, n) for n in SUM_COLUMNS), TD.included_usd)
                .where(TD.team_id == root).subquery("team_day_totals").c)
    m = members_table(team)
    return select(D.day, D.account_id, D.tool, D.model,
                  *(getattr(D, n) for n in SUM_COLUMNS)).join(
        m, and_(m.c.person == D.email, D.day.between(m.c.first, m.c.last))
    ).subquery("team_day_totals").c


def day_people(start: date, end: date, team: Team = None) -> Subquery:
    """The range's usage_day_people rows (day, tool, model, people), every bitmap padded to
    the longest one (bitmaps written before new people were numbered are shorter), so any of
    them can be OR-ed together. In a team scope the bitmaps are built from the members'
    usage_daily rows of their member days, the way ingest builds the stored ones. Bots and
    service accounts (`bots`) are left out either way, so no count of people includes them."""
    varbit = BIT(varying=True)
    root = team_rollup(team)
    if team is not None and root is None:
        # One bit per member (numbered here, not by people.id): a few hundred bits however
        # many people the org has, and no join to `people`. The rows' person is the e-mail
        # (coalesce(email, actor) on a mapped row; the covering index has no actor).
        spans = member_spans(team)
        m = spans_table({n: {person: spans[person]} for n, person in enumerate(sorted(spans))},
                        "team_members_days")
        zeros = cast(func.repeat("0", len(spans)), varbit)
        return (select(D.day, D.tool, D.model,
                       func.bit_or(func.set_bit(zeros, m.c.key, 1)).label("people"))
                .join(m, and_(m.c.person == D.email, D.day.between(m.c.first, m.c.last)))
                .where(D.day.between(start, end), not_bot(D.email))
                .group_by(D.day, D.tool, D.model).subquery("team_day_people"))
    # Everyone's bitmaps, or the team's (the same bits: people.id).
    src, where = (DP, DP.day.between(start, end)) if root is None else (
        TD, and_(TD.team_id == root, TD.day.between(start, end)))
    width = func.max(func.length(src.people)).over()
    rows = (select(src.day, src.tool, src.model, src.people, width.label("width"))
            .where(where).subquery("day_people_rows"))
    # Everyone's bit set but the bots': as long as the people table (no bitmap is longer),
    # cut to the rows' width. NULL when there are no bots: the bitmaps stay as they are.
    # The padding is cut from one string of zeros as long as the people table too (parsed
    # once per statement, not built and parsed per row).
    zeros = select(cast(func.repeat("0", func.coalesce(func.max(Person.id) + 1, 0)), varbit)
                   ).scalar_subquery()
    padded = func.substring(rows.c.people.op("||", return_type=varbit)(zeros), 1,
                            rows.c.width, type_=varbit)
    ones = cast(func.repeat("1", select(func.max(Person.id) + 1).scalar_subquery()), varbit)
    humans = (select(func.bit_and(func.set_bit(ones, Person.id, 0)))
              .join(Bot, Bot.person == Person.person).scalar_subquery())
    masked = padded.op("&", return_type=varbit)(
        func.substring(humans, 1, rows.c.width, type_=varbit))
    return select(rows.c.day, rows.c.tool, rows.c.model,
                  func.coalesce(masked, padded, type_=varbit).label("people")
                  ).subquery("day_people")


def team_rollup(team: Team) -> int | None:
    """The team whose usage_team_days rows are exactly the scope `team` (one team and its
    whole subtree), or None: no scope, several subtrees (a lead of two teams), or teams this
    session changed and has not committed (their rows are rebuilt on commit), which are read
    from usage_daily instead."""
    if not team or TD.stale_teams():
        return None
    memo, key = team_memo(), ("team_rollup", tuple(sorted(set(team))))
    if key not in memo:
        ids = set(team)
        roots = db.session.scalars(select(TeamRow.id).where(
            TeamRow.id.in_(ids), or_(TeamRow.parent_id.is_(None),
                                     TeamRow.parent_id.not_in(ids)))).all()
        memo[key] = roots[0] if len(roots) == 1 and set(subtree_ids(roots)) == ids else None
    return memo[key]


def per_person_scope(team: Team) -> bool:
    """Whether the scope's sums must be read person by person (`scope_sums`): a team scope
    without a team rollup (`team_rollup`). Otherwise the day rollups answer, scoped or not."""
    return team is not None and team_rollup(team) is None


def not_bot(person: ColumnElement) -> ColumnElement[bool]:
    """`person` (as the rollups name people) is not marked as a bot or service account."""
    return person.not_in(select(Bot.person))


def count_people(bitmaps: ColumnElement) -> ColumnElement[int]:
    """Aggregate: how many distinct people the group's bitmaps hold together (0 for none)."""
    return func.coalesce(cast(func.bit_count(func.bit_or(bitmaps)), Integer), 0)


def split_range(start: date, end: date) -> tuple[list[date], list[tuple[int, date]]]:
    """start..end as the fewest aligned blocks of usage_person_blocks, largest first from
    the left: returns (single days, [(level, block start)]). Any range takes at most two
    blocks per level, so a year is about a dozen pieces."""
    days: list[date] = []
    blocks: list[tuple[int, date]] = []
    epoch = B.EPOCH.toordinal()
    n, last = start.toordinal() - epoch, end.toordinal() - epoch
    while n <= last:
        level = B.LEVELS
        while level and (n % (1 << level) or n + (1 << level) - 1 > last):
            level -= 1
        if level:
            blocks.append((level, date.fromordinal(epoch + n)))
        else:
            days.append(date.fromordinal(epoch + n))
        n += 1 << level
    return days, blocks


def person_tool_rows(start: date, end: date, *, with_days: bool = False,
                     team: Team = None) -> Subquery:
    """Rows to sum per (person, tool) over start..end: usage_person_blocks for the range's
    aligned blocks and usage_person_daily for the days between them.

    Columns: person, tool, mapped, the RollupSums figures, first_day, last_day and, with
    `with_days`, `days`: a bitmap of the range (bit i = start + i) marking active days, so
    bit_or() over a person's rows gives their days active across tools and accounts.
    With a team scope: the members' rows of their member days only (`keyed_person_rows`).
    """
    if team is not None:
        return keyed_person_rows({0: member_spans(team, start, end)}, start, end,
                                 with_days=with_days, name="person_tool_rows")
    days, blocks = split_range(start, end)
    single, spans = _person_columns(start, end, with_days)
    return union_all(
        select(*single).where(P.day.in_(days)),
        select(*spans).where(tuple_(B.level, B.start).in_(blocks)),
    ).subquery("person_tool_rows")


def keyed_person_rows(spans: dict[int, dict[str, list[tuple[date, date]]]], start: date,
                      end: date, *, with_days: bool = False, name: str = "keyed_rows"
                      ) -> Subquery:
    """`person_tool_rows` for people on some days only, per key: `spans` is {key: {person:
    merged inclusive day spans}} (a key's spans of one person never overlap, so each row is
    read once per key). Columns: key, then those of person_tool_rows.

    Each span cut to the range is split into aligned blocks like the range itself: a member
    for the whole range reads a dozen block rows per tool instead of a row per day, and a
    re-org date only adds the few single days around it."""
    who, span_blocks, span_days, blocks, days = span_pieces(spans, start, end, split_range)
    single, whole = _person_columns(start, end, with_days)
    # The rollup rows of the pieces' days and blocks are read first (OFFSET 0 keeps them a
    # subquery), then hash-joined to the pieces: the planner cannot count the pieces' rows and
    # would otherwise probe the rollups' primary keys, which end with the person, once each.
    on_days = select(*single).where(P.day.in_(days)).offset(0).subquery("on_days")
    in_blocks = (select(*whole, B.level, B.start).where(tuple_(B.level, B.start).in_(blocks))
                 .offset(0).subquery("in_blocks"))
    names = [c.name for c in on_days.c]
    # Blocks are matched to members by person first (a hash join), then to their spans' blocks
    # (OFFSET 0 fixes that order): joined the other way round, the planner took the rows of a
    # block to match its span once, not once per member, and looped over every member for
    # each row (7M comparisons for 2,000 people).
    members_blocks = (select(who.c.key, who.c.span, *in_blocks.c)
                      .join(who, who.c.person == in_blocks.c.person)
                      .offset(0).subquery("members_blocks"))
    return union_all(
        select(span_days.c.key, *(on_days.c[n] for n in names))
        .join(span_days, and_(span_days.c.person == on_days.c.person,
                              span_days.c.day == on_days.c.first_day)),
        select(members_blocks.c.key, *(members_blocks.c[n] for n in names))
        .join(span_blocks, and_(span_blocks.c.span == members_blocks.c.span,
                                span_blocks.c.level == members_blocks.c.level,
                                span_blocks.c.start == members_blocks.c.start)),
    ).subquery(name)


_PERSON_SUMS = ("events", "input_tokens", "output_tokens", "cache_write_tokens",
                "cache_read_tokens", "cost_usd", "estimated_cost_usd", "unpriced_events",
                "included_usd")


def _person_columns(start: date, end: date, with_days: bool) -> tuple[list, list]:
    """The columns of person_tool_rows over usage_person_daily and usage_person_blocks."""
    width = (end - start).days + 1
    varbit = BIT(varying=True)
    zeros = cast(func.repeat("0", width), varbit)
    single = [P.person, P.tool, P.mapped, *(getattr(P, name) for name in _PERSON_SUMS),
              P.day.label("first_day"), P.day.label("last_day")]
    spans = [B.person, B.tool, B.mapped, *(getattr(B, name) for name in _PERSON_SUMS),
             B.first_day, B.last_day]
    if with_days:
        single.append(func.set_bit(zeros, P.day - start, 1).label("days"))
        # The block's bits, padded to the range's width, moved to the block's offset. The
        # padding is cut from the one constant `zeros` (parsed once per statement), not a
        # zero string built and parsed per row (~30,000 rows at a year).
        padded = func.substring(B.days.op("||", return_type=varbit)(zeros), 1, width,
                                type_=varbit)
        spans.append(padded.op(">>", return_type=varbit)(B.start - start).label("days"))
    return single, spans


def default_range(today: date, days: int = 30) -> tuple[date, date]:
    """The last `days` days ending `today`, inclusive: 30 days = today and the 29 before."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    return today - timedelta(days=days - 1), today
