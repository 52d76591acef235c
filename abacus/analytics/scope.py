"""Team scope: which people a team (with its subtree) holds over a range of days, and which
teams a person leads. One home for these questions, asked by the team-scoped pages, the role
checks (a lead sees their teams' subtrees), chargeback and the JSON API.

Memberships are effective-dated: a person counts for a team on a day when
valid_from <= day <= coalesce(valid_to, day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    Subquery,
    Text,
    and_,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from ..extensions import db
from ..models import Team, TeamMembership, UsageTeamDay


def subtree_ids(team_ids: Iterable[int]) -> list[int]:
    """The given teams and every team below them (a recursive walk of parent_id)."""
    roots = sorted(set(team_ids))
    if not roots:
        return []
    tree = select(Team.id).where(Team.id.in_(roots)).cte("tree", recursive=True)
    tree = tree.union(select(Team.id).where(Team.parent_id == tree.c.id))
    return sorted(db.session.scalars(select(tree.c.id)))


def on_days(start: date, end: date) -> ColumnElement[bool]:
    """Memberships in force on some day of start..end (inclusive)."""
    return and_(TeamMembership.valid_from <= end,
                or_(TeamMembership.valid_to.is_(None), TeamMembership.valid_to >= start))


def members(team_ids: Iterable[int], start: date, end: date) -> Select:
    """SELECT of the distinct e-mails in any of `team_ids` on some day of start..end
    (callers pass subtree_ids(...) when a team's view includes its subtree)."""
    ids = sorted(set(team_ids))
    return (select(TeamMembership.person).distinct()
            .where(TeamMembership.team_id.in_(ids or [-1]), on_days(start, end)))


def member_on_day(team_ids: Iterable[int], person: ColumnElement, day: ColumnElement
                  ) -> ColumnElement[bool]:
    """EXISTS: `person` was in one of `team_ids` on `day` (for per-day rollup rows, so a
    re-org splits a person's days between their old and new team exactly)."""
    ids = sorted(set(team_ids))
    return select(literal(1)).where(
        TeamMembership.team_id.in_(ids or [-1]), TeamMembership.person == person,
        TeamMembership.valid_from <= day,
        or_(TeamMembership.valid_to.is_(None), TeamMembership.valid_to >= day)).exists()


def led_team_ids(email: str, day: date) -> list[int]:
    """Teams `email` leads on `day` (not yet their subtrees)."""
    return sorted(db.session.scalars(
        select(TeamMembership.team_id).distinct().where(
            TeamMembership.person == email.lower(), TeamMembership.lead.is_(True),
            on_days(day, day))))


ALL_DAYS = (date(1970, 1, 1), date(9999, 12, 30))  # the end + 1 day stays a date


def member_spans(team_ids: Iterable[int], start: date = ALL_DAYS[0], end: date = ALL_DAYS[1]
                 ) -> dict[str, list[tuple[date, date]]]:
    """Per person, the days of start..end they were in any of `team_ids`, as merged
    inclusive (first, last) spans (two overlapping memberships make one span). Read once per
    transaction and scope (a team page asks three times; 2,000 members take ~8 ms each), and
    again after a flush changed memberships. Callers must not change what it returns."""
    ids = sorted(set(team_ids))
    memo = team_memo()
    key = ("member_spans", tuple(ids), start, end)
    if key not in memo:
        memo[key] = _member_spans(ids, start, end)
    return memo[key]


_TEAM_MEMO = "abacus.team_memo"


def team_memo() -> dict:
    """A dict for what this transaction read of memberships and the tree, emptied when the
    transaction ends or a flush changes them (`ingest` counts those flushes in
    session.info): a team page asks the same questions several times."""
    session = db.session()  # the request's Session (the scoped proxy has no transaction)
    txn, changes = session.get_transaction(), session.info.get(UsageTeamDay.TEAM_CHANGES, 0)
    held = session.info.get(_TEAM_MEMO)
    if held is None or held[0] is not txn or held[1] != changes:
        held = (txn, changes, {})
        session.info[_TEAM_MEMO] = held
    return held[2]


def _member_spans(ids: list[int], start: date, end: date) -> dict[str, list[tuple[date, date]]]:
    rows = db.session.execute(
        select(TeamMembership.person, TeamMembership.valid_from, TeamMembership.valid_to)
        .where(TeamMembership.team_id.in_(ids or [-1]), on_days(start, end))).all()
    out: dict[str, list[tuple[date, date]]] = {}
    for person, first, last in rows:
        out.setdefault(person.lower(), []).append((max(first, start), min(last or end, end)))
    return {person: merge_spans(spans) for person, spans in out.items()}


def merge_spans(spans: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """Inclusive day spans, sorted, with overlapping or adjacent ones joined."""
    out: list[tuple[date, date]] = []
    for first, last in sorted(spans):
        if out and first <= out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def rows_table(name: str, **columns: tuple[list, Any]) -> Any:
    """Rows from Python lists, one list per column (name=(values, SQL type)), as
    `unnest(a, b, …) AS name(…)` in FROM: the planner knows how many rows that is (a
    select-list unnest() is always guessed at 100), and a wrong guess made it loop over
    thousands of rows per row on the other side of a join instead of hashing them."""
    arrays = [literal(values, ARRAY(sql_type)) for values, sql_type in columns.values()]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name=name)


def spans_table(spans: dict[object, dict[str, list[tuple[date, date]]]], name: str
                ) -> Subquery:
    """(key, person, first, last) rows from per-key merged spans, as an unnest() of four
    arrays: joined to a per-person daily rollup on person and first <= day <= last it keeps
    each row once per key (the spans of a key never overlap), which a hash join does far
    faster than a membership lookup per row."""
    keys, people, firsts, lasts = [], [], [], []
    for key, per_person in spans.items():
        for person, runs in per_person.items():
            for first, last in runs:
                keys.append(key)
                people.append(person)
                firsts.append(first)
                lasts.append(last)
    return rows_table(name, key=(keys, Integer), person=(people, Text),
                      first=(firsts, Date), last=(lasts, Date))


def members_table(team_ids: Iterable[int]) -> Subquery:
    """The scope's people and the days they were members (person, first, last; key 0)."""
    return spans_table({0: member_spans(team_ids)}, "team_members_days")


Blocks = list[tuple[int, date]]  # (level, start) of aligned usage_person_blocks


def span_pieces(spans: dict[object, dict[str, list[tuple[date, date]]]], start: date,
                end: date, split: Callable[[date, date], tuple[list[date], Blocks]]
                ) -> tuple[Subquery, Subquery, Subquery, Blocks, list[date]]:
    """The per-key member spans cut to start..end and split into aligned blocks and single
    days (`split`: common.split_range), so a scope reads a member's whole weeks and months
    from the per-person blocks and only the odd days from the per-day rollup.

    People sharing a span (most of a team: the same join or re-org date) share its blocks:
    returns (key, person, span) rows, (span, level, start) block rows, (key, person, day)
    rows of the single days, and the distinct blocks and days (for an index condition on the
    rollups). The single days are listed per person: a day row joins the per-day rollup on
    (person, day) in one hash join, where going through a shared span made the planner
    misjudge the join's size and loop over every member for every row (~60 ms at a year)."""
    ids: dict[tuple[date, date], int] = {}
    keys, people, span_of = [], [], []
    for key, per_person in spans.items():
        for person, runs in per_person.items():
            for first, last in runs:
                first, last = max(first, start), min(last, end)
                if first <= last:
                    keys.append(key)
                    people.append(person)
                    span_of.append(ids.setdefault((first, last), len(ids)))
    b_span, b_level, b_start, d_key, d_person, d_day = [], [], [], [], [], []
    all_blocks: set[tuple[int, date]] = set()
    all_days: set[date] = set()
    span_days: list[list[date]] = [[] for _ in ids]
    for (first, last), n in ids.items():
        days, blocks = split(first, last)
        for level, block in blocks:
            b_span.append(n)
            b_level.append(level)
            b_start.append(block)
        span_days[n] = days
        all_blocks.update(blocks)
        all_days.update(days)
    for key, person, n in zip(keys, people, span_of, strict=True):
        days = span_days[n]
        d_key.extend([key] * len(days))
        d_person.extend([person] * len(days))
        d_day.extend(days)
    who = rows_table("who", key=(keys, Integer), person=(people, Text), span=(span_of, Integer))
    blocks_q = rows_table("span_blocks", span=(b_span, Integer), level=(b_level, Integer),
                          start=(b_start, Date))
    days_q = rows_table("span_days", key=(d_key, Integer), person=(d_person, Text),
                        day=(d_day, Date))
    return who, blocks_q, days_q, sorted(all_blocks), sorted(all_days)
