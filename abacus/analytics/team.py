"""The Team page's pivot: one row per person over a range, sorted, filtered and paged in SQL.

A person is `coalesce(email, actor)`: usage nobody mapped yet shows under its provider
identity and is marked unmapped. Totals cover every row matching the filter (not only the
page shown) and come from the same query as the page, through window aggregates.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Numeric,
    case,
    cast,
    func,
    select,
    true,
)

from ..extensions import db
from ..models import Bot
from ..models import Team as TeamModel
from ..models import TeamMembership as M
from .common import (
    Costed,
    Paged,
    PersonSums,
    Team,
    int_sum,
    keyed_person_rows,
    money_sum,
    not_bot,
    per_day,
    person_tool_rows,
    tokens_of,
)
from .scope import merge_spans, on_days

PER_PAGE = 50
TOOL_PREFIX = "tool:"  # tool columns are keyed `tool:<tool id>`, e.g. `tool:cursor`


@dataclass(frozen=True)
class Column:
    key: str  # what `?sort=` and `?cols=` say
    label: str  # the table header, and the CSV header
    kind: str  # text | tokens | usd | int | date: how it is shown and exported
    default: bool = True  # shown when the URL names no columns
    help: str = ""  # a header tooltip saying how the figure is computed

    @property
    def numeric(self) -> bool:
        return self.kind != "text"

    @property
    def default_descending(self) -> bool:
        """Biggest first for figures and dates; A→Z for people."""
        return self.kind != "text"

    @property
    def tool(self) -> str | None:
        return self.key.removeprefix(TOOL_PREFIX) if self.key.startswith(TOOL_PREFIX) else None


PERSON_COLUMN = Column("person", "Person", "text",
                       help="E-mail, or the provider identity when not mapped to a person yet")
# Columns before the per-tool ones, and after them (the tools present in the range go between).
LEADING = (Column("tokens", "Total tokens", "tokens"),
           Column("cost", "Cost", "usd", help="Provider-reported cost, else estimated"))
TRAILING = (
    Column("input", "Input", "tokens", default=False),
    Column("output", "Output", "tokens", default=False),
    Column("cache_write", "Cache write", "tokens", default=False),
    Column("cache_read", "Cache read", "tokens", default=False),
    Column("days", "Days active", "int", help="Days in the range with any usage"),
    Column("avg_tokens", "Avg tokens/day", "tokens",
           help="Total tokens ÷ days active (rounded)"),
    Column("avg_cost", "Avg cost/day", "usd", default=False, help="Cost ÷ days active"),
    Column("first", "First active", "date", default=False,
           help="First day with usage in the range"),
    Column("last", "Last active", "date", help="Last day with usage in the range"),
)


def tool_column(tool: str, label: str) -> Column:
    return Column(f"{TOOL_PREFIX}{tool}", label, "tokens", help=f"Tokens used in {label}")


@dataclass(frozen=True)
class TeamRow(PersonSums):
    unpriced_events: int
    by_tool: dict[str, int]
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    days_active: int
    avg_tokens_per_day: int
    avg_cost_per_day: Decimal
    first_active: date | None
    last_active: date | None

    def value(self, key: str) -> object:
        """The raw figure behind a column (what the CSV holds and what sorting compares);
        `value_getter` gives the same, resolved once per column."""
        if key.startswith(TOOL_PREFIX):
            return self.by_tool.get(key.removeprefix(TOOL_PREFIX), 0)
        return getattr(self, _FIELDS[key])


def value_getter(key: str) -> Callable[[TeamRow], object]:
    """`TeamRow.value` for one column, resolved once (an export reads it for every row)."""
    if key.startswith(TOOL_PREFIX):
        tool = key.removeprefix(TOOL_PREFIX)
        return lambda row: row.by_tool.get(tool, 0)
    return attrgetter(_FIELDS[key])


_FIELDS = {"person": "person", "tokens": "tokens", "cost": "cost_usd",
           "input": "input_tokens", "output": "output_tokens",
           "cache_write": "cache_write_tokens", "cache_read": "cache_read_tokens",
           "days": "days_active", "avg_tokens": "avg_tokens_per_day",
           "avg_cost": "avg_cost_per_day", "first": "first_active", "last": "last_active"}


@dataclass(frozen=True)
class TeamTotals(Costed):
    """Sums over every row matching the filter, whoever may see which rows."""

    people: int = 0
    unmapped: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    events: int = 0
    unpriced_events: int = 0
    by_tool: dict[str, int] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    person_days: int = 0  # sum of everyone's days active
    first_active: date | None = None
    last_active: date | None = None

    @property
    def avg_tokens_per_day(self) -> int:
        """Tokens per active person-day: the team's typical day of one person."""
        return _round_div(self.tokens, self.person_days)

    @property
    def avg_cost_per_day(self) -> Decimal:
        return per_day(self.cost_usd, self.person_days)


@dataclass(frozen=True)
class TeamPivot(Paged):
    start: date
    end: date
    columns: list[Column]  # every column available in this range (tools present included)
    rows: list[TeamRow]
    totals: TeamTotals
    visible: int  # rows the viewer may see among those matching (all of them, or their own)
    page: int
    per_page: int | None  # None: every row, unpaged (CSV)
    sort: str
    descending: bool

    @property
    def tools(self) -> list[str]:
        return [c.tool for c in self.columns if c.tool]


def available_columns(tools: list[str],
                      tool_label: Callable[[str], str] = str) -> list[Column]:
    """Person, the fixed figures and one column per tool, in table order."""
    return [PERSON_COLUMN, *LEADING, *(tool_column(t, tool_label(t)) for t in tools), *TRAILING]


FIXED_KEYS = frozenset(c.key for c in available_columns([]))


def escape_like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def team_pivot(start: date, end: date, *, q: str = "", sort: str = "cost",
               descending: bool = True, page: int = 1, per_page: int | None = PER_PAGE,
               only_person: str | Collection[str] | None = None,
               tool_label: Callable[[str], str] = str, team: Team = None) -> TeamPivot:
    """The pivot for the inclusive days start..end.

    `q` keeps people whose e-mail or identity contains it (case-insensitive, literal).
    `sort` is a column key (unknown keys fall back to cost; a tool without usage here sorts
    everyone as 0); ties break by person A→Z. `only_person` limits rows to that e-mail
    (or those e-mails: member visibility `self`, a lead's people) while the totals still
    cover everyone matching `q`. `team` (a scope's team ids) keeps the people of those teams
    on the days they were in them. A page past the end shows the last page. Tool columns are
    the tools the matching people used.
    """
    is_tool = sort.startswith(TOOL_PREFIX) and len(sort) > len(TOOL_PREFIX)
    if sort not in FIXED_KEYS and not is_tool:
        sort, descending = "cost", True
    page = max(1, page)
    query = _Query(start, end, q, sort, only_person, team)

    rows, totals, visible = query.fetch(descending, page, per_page)
    if not rows:
        totals, visible = query.totals()
        if per_page and visible and page > 1:  # past the end: show the last page instead
            page = math.ceil(visible / per_page)
            rows, totals, visible = query.fetch(descending, page, per_page)
    tools = sorted(totals.by_tool)
    for row in rows:  # every tool column has a figure, 0 when the person did not use it
        row.by_tool.update({t: 0 for t in tools if t not in row.by_tool})
    return TeamPivot(start=start, end=end, columns=available_columns(tools, tool_label),
                     rows=rows, totals=totals, visible=visible, page=page if rows else 1,
                     per_page=per_page, sort=sort, descending=descending)


class _Query:
    """The pivot's SQL: one pass over the per-person rollups feeds the rows, the totals and
    the tool list.

    The range is read as aligned blocks of days plus a few single days
    (`common.person_tool_rows`), so 30 days hash about a quarter of the per-day rows and a
    year a thirtieth. Days active are a bitmap per person (one bit per day of the range), so
    they merge across tools and identities without a COUNT(DISTINCT) that would force a sort.
    """

    def __init__(self, start: date, end: date, q: str, sort: str,
                 only_person: str | Collection[str] | None, team: Team = None):
        self.start, self.end, self.sort, self.team = start, end, sort, team
        self.only_person = only_person
        per_tool = self._per_person_tool(q)
        self.per = self._per_person(per_tool)
        self.tool_totals = self._tool_totals(per_tool)

    def _per_person_tool(self, q: str):
        """Per (person, tool): sums and a bitmap of active days, from the per-person blocks
        and days covering the range (person = coalesce(email, actor) already; no model
        dimension to fold)."""
        rows = person_tool_rows(self.start, self.end, with_days=True, team=self.team)
        r = rows.c
        query = select(r.person.label("person"), r.tool, func.bool_or(r.mapped).label("mapped"),
                       *_sums(r), func.bit_or(r.days).label("days_bits"))
        query = query.where(not_bot(r.person))  # bots are listed apart (analytics.bots)
        if q:
            query = query.where(r.person.ilike(f"%{escape_like(q)}%", escape="\\"))
        return query.group_by(r.person, r.tool).cte("per_tool")

    def _per_person(self, per_tool):
        c = per_tool.c
        tool_tokens = c.input + c.output + c.cache_write + c.cache_read
        sort_tool = self.sort.removeprefix(TOOL_PREFIX) if self.sort.startswith(TOOL_PREFIX) \
            else None
        sums = (
            select(
                c.person,
                func.bool_or(c.mapped).label("mapped"),
                *_sums(c, resum=True),
                func.jsonb_object_agg(c.tool, tool_tokens).label("by_tool"),
                cast(func.coalesce(func.sum(tool_tokens).filter(c.tool == sort_tool), 0),
                     BigInteger).label("sort_tool"),
                cast(func.bit_count(func.bit_or(c.days_bits)), BigInteger).label("days"),
            )
            .group_by(c.person)
            .subquery("sums")
        )
        s = sums.c
        tokens = s.input + s.output + s.cache_write + s.cache_read
        return select(
            s.person, s.mapped, tokens.label("tokens"),
            s.cost, s.events, s.unpriced, s.input, s.output, s.cache_write, s.cache_read,
            s.by_tool, s.sort_tool, s.days,
            # round() on numeric is half away from zero: half-up for these positive figures.
            cast(func.round(cast(tokens, Numeric) / s.days), BigInteger).label("avg_tokens"),
            (s.cost / s.days).label("avg_cost"),
            s.first, s.last,
        ).subquery("per")

    @staticmethod
    def _tool_totals(per_tool) -> ColumnElement:
        """{tool: tokens} over everyone matching: the tool columns and their totals."""
        c = per_tool.c
        by_tool = (select(c.tool, func.sum(c.input + c.output + c.cache_write + c.cache_read)
                          .label("tokens"))
                   .group_by(c.tool).subquery("by_tool"))
        return select(func.jsonb_object_agg(by_tool.c.tool, by_tool.c.tokens)).scalar_subquery()

    def _visible(self) -> ColumnElement[bool]:
        if self.only_person is None:
            return true()
        if isinstance(self.only_person, str):
            return func.lower(self.per.c.person) == self.only_person.lower()
        return func.lower(self.per.c.person).in_(sorted(p.lower() for p in self.only_person)
                                                 or [""])

    def _total_columns(self) -> list[tuple[str, ColumnElement]]:
        c = self.per.c
        return [
            ("people", func.count()),
            ("unmapped", func.count().filter(~c.mapped)),
            *((name, func.sum(c[name])) for name in
              ("tokens", "cost", "events", "unpriced", "input", "output", "cache_write",
               "cache_read", "days")),
            ("first", func.min(c.first)),
            ("last", func.max(c.last)),
            ("visible", func.count().filter(self._visible())),
        ]

    def fetch(self, descending: bool, page: int, per_page: int | None
              ) -> tuple[list[TeamRow], TeamTotals, int]:
        """A page of rows, with the totals as window aggregates over every matching person
        (computed before the outer filter and LIMIT): one round trip."""
        per = self.per
        totals = [(f"t_{name}", agg.over()) for name, agg in self._total_columns()]
        totals.append(("t_by_tool", self.tool_totals))
        if per_page is None:
            # Every row comes back (an export of ~2,000): the totals ride on one row only,
            # not decoded again on each (they were ~15 columns and a JSON object per row).
            carrier = func.row_number().over() == 1
            totals = [(label, case((carrier, expr))) for label, expr in totals]
        ranked = select(
            per,
            self._visible().label("is_visible"),
            *(expr.label(label) for label, expr in totals),
        ).subquery("ranked")
        name = "sort_tool" if self.sort.startswith(TOOL_PREFIX) else self.sort
        key = ranked.c[name]
        order = key.desc().nulls_last() if descending else key.asc().nulls_last()
        stmt = select(ranked).where(ranked.c.is_visible).order_by(order, ranked.c.person)
        if per_page:
            stmt = stmt.limit(per_page).offset((page - 1) * per_page)
        result = db.session.execute(stmt).all()
        if not result:
            return [], TeamTotals(), 0
        first = next((r for r in result if r.t_people is not None), None)
        if first is None:  # the carrier row was filtered out (not visible): ask for them
            totals_only, visible = self.totals()
            return [_row(r) for r in result], totals_only, visible
        return ([_row(r) for r in result], _totals_from(first, prefix="t_"),
                int(first.t_visible))

    def totals(self) -> tuple[TeamTotals, int]:
        """Totals alone, for when the page has no rows to carry them."""
        r = db.session.execute(select(
            *(agg.label(f"t_{name}") for name, agg in self._total_columns()),
            self.tool_totals.label("t_by_tool"),
        ).select_from(self.per)).one()
        return _totals_from(r, prefix="t_"), int(r.t_visible)


def _sums(c, resum: bool = False) -> list[ColumnElement]:
    """The additive figures of a group; `resum` adds up a lower level's sums again."""
    if resum:
        def total(name: str) -> ColumnElement:
            return cast(func.sum(c[name]), BigInteger)
        cost = func.sum(c.cost)
        first, last = func.min(c.first), func.max(c.last)
    else:
        def total(name: str) -> ColumnElement:
            return int_sum(getattr(c, _ROLLUP[name]))
        cost = money_sum(c.cost_usd)
        first, last = func.min(c.first_day), func.max(c.last_day)
    return [cost.label("cost"),
            *(total(n).label(n) for n in ("events", "unpriced", "input", "output",
                                          "cache_write", "cache_read")),
            first.label("first"), last.label("last")]


_ROLLUP = {"events": "events", "unpriced": "unpriced_events", "input": "input_tokens",
           "output": "output_tokens", "cache_write": "cache_write_tokens",
           "cache_read": "cache_read_tokens"}


def _totals_from(r, prefix: str) -> TeamTotals:
    def get(name: str):
        return getattr(r, prefix + name)

    def num(name: str) -> int:
        return int(get(name) or 0)

    return TeamTotals(
        people=num("people"), unmapped=num("unmapped"), tokens=num("tokens"),
        cost_usd=Decimal(get("cost") or 0), events=num("events"), unpriced_events=num("unpriced"),
        by_tool={t: int(v) for t, v in sorted((get("by_tool") or {}).items())},
        input_tokens=num("input"), output_tokens=num("output"),
        cache_write_tokens=num("cache_write"), cache_read_tokens=num("cache_read"),
        person_days=num("days"), first_active=get("first"), last_active=get("last"),
    )


def _row(r) -> TeamRow:
    return TeamRow(
        person=r.person, mapped=bool(r.mapped), tokens=int(r.tokens), cost_usd=Decimal(r.cost),
        events=int(r.events), unpriced_events=int(r.unpriced),
        by_tool={t: int(v) for t, v in (r.by_tool or {}).items()},
        input_tokens=int(r.input), output_tokens=int(r.output),
        cache_write_tokens=int(r.cache_write), cache_read_tokens=int(r.cache_read),
        days_active=int(r.days), avg_tokens_per_day=int(r.avg_tokens),
        avg_cost_per_day=Decimal(r.avg_cost), first_active=r.first, last_active=r.last,
    )


def _round_div(a: int, b: int) -> int:
    if not b:
        return 0
    return int((Decimal(a) / Decimal(b)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- by team ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeamSums:
    """One team's figures in the "by team" mode: its people (the subtree's members) on the
    days they were members. A person in two teams counts in both rows."""

    people: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    events: int = 0


TOTAL = -1  # team_sums' key for every listed team at once


def team_sums(start: date, end: date, team_ids: list[int]) -> dict[int, TeamSums]:
    """Per team of `team_ids`, the sums over its subtree's members on their member days,
    and under TOTAL the sums over all of them with each person-day once (people: the
    humans among them, as the page's other people counts).

    The memberships of the range are read once; each listed team gets its subtree's merged
    member-day spans, and one pass over the per-person blocks and days they cover sums
    every team at once (a person in two teams of one subtree still counts once there)."""
    if not team_ids:
        return {}
    listed = set(team_ids)
    parent = dict(db.session.execute(select(TeamModel.id, TeamModel.parent_id)).all())

    def roots_of(team: int) -> list[int]:
        out, seen = [], set()
        while team is not None and team not in seen:
            seen.add(team)
            if team in listed:
                out.append(team)
            team = parent.get(team)
        return out

    raw: dict[int, dict[str, list]] = {}
    for team, person, first, last in db.session.execute(
            select(M.team_id, M.person, M.valid_from, M.valid_to).where(on_days(start, end))):
        roots = roots_of(team)
        for root in [*roots, TOTAL] if roots else []:
            raw.setdefault(root, {}).setdefault(person.lower(), []).append(
                (max(first, start), min(last or end, end)))
    # Each distinct (person, member span) is summed once in SQL, by its number, and shared
    # by every team it belongs to (a team, its parents and TOTAL): the rollup rows are read
    # once, not once per team, and grouped by an integer.
    pairs: dict[tuple[str, date, date], int] = {}
    teams_of: dict[int, list[int]] = defaultdict(list)
    for root, people in raw.items():
        for person, runs in people.items():
            for first, last in merge_spans(runs):
                n = pairs.setdefault((person, first, last), len(pairs))
                teams_of[n].append(root)
    rows = keyed_person_rows({n: {person: [(first, last)]}
                              for (person, first, last), n in pairs.items()}, start, end).c
    person_of = {n: person for (person, _, _), n in pairs.items()}
    bots = set(db.session.scalars(select(Bot.person)))
    people: dict[int, set[str]] = defaultdict(set)
    sums: dict[int, list] = defaultdict(lambda: [0, Decimal(0), 0])
    for r in db.session.execute(
            select(rows.key, int_sum(tokens_of(rows)).label("tokens"),
                   money_sum(rows.cost_usd).label("cost"), int_sum(rows.events).label("events"))
            .group_by(rows.key)):
        person = person_of[r.key]
        for root in teams_of[r.key]:
            if root != TOTAL or person not in bots:
                people[root].add(person)
            total = sums[root]
            total[0] += int(r.tokens)
            total[1] += Decimal(r.cost)
            total[2] += int(r.events)
    return {root: TeamSums(len(people[root]), tokens, cost, events)
            for root, (tokens, cost, events) in sums.items()}
