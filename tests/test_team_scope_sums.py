"""A team scope's figures are its subtree's people's usage on the days they were members:
every scoped figure (cards, tools, models, people, the per-person pivot, the by-team rows and
their total, lifetime) equals the same aggregate taken directly over usage_events, across a
re-org, a person in two teams and memberships starting and ending mid-range. The scoped reads
take a member's whole spans from the per-person blocks and only the odd days from the per-day
rollups, so the ranges below start and end off the blocks' alignment on purpose."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from abacus.analytics import overview, usage
from abacus.analytics.scope import subtree_ids
from abacus.analytics.team import TOTAL, team_pivot, team_sums
from abacus.extensions import db
from abacus.models import TeamMembership, UsageEvent
from abacus.providers.base import UsageRecord
from abacus.teams import tree
from tests.helpers import seed

TODAY = datetime.now(UTC).date()  # the test app's org time zone is UTC
FIRST = TODAY - timedelta(days=119)
MID = FIRST + timedelta(days=53)  # the re-org
PEOPLE = ("ann", "bob", "cat", "dan", "eve")
MODELS = ("claude-sonnet-4-5", "claude-opus-4-1")


def records() -> list[UsageRecord]:
    rng = random.Random(20261203)
    out = []
    for n in range(120):
        day = FIRST + timedelta(days=n)
        for p in PEOPLE:
            for k in range(rng.choice((0, 1, 1, 2))):
                out.append(UsageRecord(
                    event_key=f"{p}-{n}-{k}", occurred_at=datetime.combine(day, time(9 + k),
                                                                           tzinfo=UTC),
                    tool="cursor", actor=f"{p}@example.com", email=f"{p}@example.com",
                    raw_model=rng.choice(MODELS), input_tokens=rng.randrange(1, 5000),
                    output_tokens=rng.randrange(0, 900),
                    cost_usd=Decimal(rng.randrange(1, 400)) / 100))
    return out


def expected(scope: set[int], start: date, end: date) -> dict:
    """The aggregate over raw events of people in `scope` on the days they were in it."""
    spans = defaultdict(list)
    for m in db.session.scalars(select(TeamMembership).where(TeamMembership.team_id.in_(scope))):
        spans[m.person].append((m.valid_from, m.valid_to or date.max))
    out = {"tokens": 0, "cost": Decimal(0), "events": 0, "people": set(),
           "tool": defaultdict(int), "model": defaultdict(int),
           "person": defaultdict(lambda: [0, Decimal(0), set()])}
    for e in db.session.scalars(select(UsageEvent).where(UsageEvent.day.between(start, end))):
        if not any(a <= e.day <= b for a, b in spans.get(e.email or "", [])):
            continue
        tokens = e.input_tokens + e.output_tokens + e.cache_write_tokens + e.cache_read_tokens
        out["tokens"] += tokens
        out["cost"] += e.cost_usd
        out["events"] += 1
        out["people"].add(e.email)
        out["first"] = min(out.get("first", e.day), e.day)
        out["tool"][e.tool] += tokens
        out["model"][e.model] += tokens
        row = out["person"][e.email]
        row[0] += tokens
        row[1] += e.cost_usd
        row[2].add(e.day)
    return out


def test_scoped_figures_equal_the_events_of_members_on_their_member_days(app):
    seed(app, records())
    with app.app_context():
        eng = tree.create_team("Engineering")
        platform = tree.create_team("Platform", parent=eng)
        design = tree.create_team("Design")
        tree.add_membership(platform, "ann@example.com", FIRST - timedelta(days=30))
        tree.add_membership(platform, "cat@example.com", FIRST)
        tree.add_membership(eng, "cat@example.com", FIRST + timedelta(days=10))  # twice in Eng
        tree.add_membership(design, "cat@example.com", FIRST)
        tree.add_membership(platform, "bob@example.com", FIRST, MID - timedelta(days=1))
        tree.add_membership(design, "bob@example.com", MID)  # the re-org
        tree.add_membership(design, "dan@example.com", FIRST + timedelta(days=37),
                            FIRST + timedelta(days=81))
        db.session.commit()  # eve is in no team

        ranges = [(FIRST, TODAY), (MID - timedelta(days=19), MID + timedelta(days=23)),
                  (FIRST + timedelta(days=3), FIRST + timedelta(days=9)), (MID, MID)]
        for team in (eng, platform, design):
            ids = subtree_ids([team.id])
            for start, end in ranges:
                want = expected(set(ids), start, end)
                what = f"{team.name} {start}..{end}"
                t = overview.totals(start, end, team=ids)
                assert (t.tokens, t.cost_usd, t.events, t.people) == (
                    want["tokens"], want["cost"], want["events"], len(want["people"])), what
                ov = overview.overview(start, end, team=ids)
                assert {r.tool: r.tokens for r in ov.by_tool} == dict(want["tool"]), what
                assert {r.model: r.tokens for r in ov.by_model} == dict(want["model"]), what
                assert ov.active_people == len(want["people"]), what
                assert {p.person: (p.tokens, p.cost_usd) for p in ov.by_person} == {
                    p: (r[0], r[1]) for p, r in want["person"].items()}, what
                models = usage.breakdown("models", start, end, team=ids)
                assert models.total.people == len(want["people"]), what
                assert {r.key: r.tokens for r in models.rows} == dict(want["model"]), what
                active = usage.active_people(start, end, team=ids)
                assert active.people == len(want["people"]), what
                pivot = team_pivot(start, end, team=ids, per_page=None)
                assert {r.person: (r.tokens, r.cost_usd, r.days_active) for r in pivot.rows} == {
                    p: (r[0], r[1], len(r[2])) for p, r in want["person"].items()}, what

        every = [eng.id, platform.id, design.id]
        for start, end in ranges:
            sums = team_sums(start, end, every)
            for team in (eng, platform, design):
                want = expected(set(subtree_ids([team.id])), start, end)
                got = sums.get(team.id)
                assert (got.tokens, got.cost_usd, got.events, got.people) == (
                    want["tokens"], want["cost"], want["events"], len(want["people"]))
            want = expected(set(every), start, end)  # everyone once, cat too
            got = sums[TOTAL]
            assert (got.tokens, got.cost_usd, got.events, got.people) == (
                want["tokens"], want["cost"], want["events"], len(want["people"]))

        # A team nobody was in has nothing (and no query trips over its empty spans).
        empty = [tree.create_team("Empty").id]
        assert overview.totals(FIRST, TODAY, team=empty).tokens == 0
        assert overview.overview(FIRST, TODAY, team=empty).is_empty
        assert team_pivot(FIRST, TODAY, team=empty).rows == []
        assert usage.breakdown("models", FIRST, TODAY, team=empty).total.people == 0
        assert usage.active_people(FIRST, TODAY, team=empty).people == 0
        assert overview.lifetime(empty).first_day is None
        assert team_sums(FIRST, TODAY, empty) == {}

        life = overview.lifetime(subtree_ids([design.id]))
        want = expected({design.id}, FIRST, TODAY)
        assert (life.tokens, life.cost_usd, life.first_day) == (want["tokens"], want["cost"],
                                                                want["first"])
