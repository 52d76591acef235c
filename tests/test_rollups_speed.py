"""The rollups that keep pages fast at millions of events: usage_day_people (who was active, as
bitmaps of person ids) and usage_person_blocks (per-person sums over aligned blocks of days).

Both must always equal the same aggregate computed straight from usage_events, whatever
sequence of syncs, revisions, re-attributions, merges, re-estimates and rebuilds came before;
and the pages that read them must show what a plain aggregate over the events says.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from abacus.analytics import usage as usage_analytics
from abacus.analytics.common import split_range
from abacus.analytics.overview import overview, totals
from abacus.analytics.team import team_pivot
from abacus.extensions import db
from abacus.models import Account, ModelPrice, UsagePersonBlock
from abacus.people.identities import assign, merge_people
from abacus.providers.base import UsageRecord
from abacus.usage.ingest import ingest, reattribute, rebuild_rollups, reestimate_model
from abacus.usage.pricing import FAR_PAST
from tests.helpers import seed, sign_in
from tests.test_person_page import row_with, rows, text_of

DAY0 = date(2026, 1, 5)  # a fixed Monday, so the tests do not depend on today's date


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def rec(key: str, day: date, *, actor: str = "ann@example.com",
        email: str | None = "ann@example.com", tool: str = "cursor", model: str = "gpt-5",
        inp: int = 100, out: int = 10, cost: Decimal | None = Decimal("0.25"),
        hour: int = 12, not_charged: bool = False, kind: str = "") -> UsageRecord:
    return UsageRecord(event_key=key, occurred_at=at(day, hour), tool=tool, actor=actor,
                       email=email, raw_model=model, kind=kind, input_tokens=inp,
                       output_tokens=out, cache_write_tokens=0, cache_read_tokens=0,
                       cost_usd=Decimal(0) if not_charged else cost, not_charged=not_charged)


def account(name: str, provider: str = "cursor") -> Account:
    acc = Account(provider=provider, name=name)
    db.session.add(acc)
    db.session.flush()
    return acc


# --- the rollups equal the events -----------------------------------------------------------

def day_people_mismatches() -> list:
    """(day, account, tool, model, person) present in one of events / bitmaps but not the
    other, plus bitmap rows that hold nobody (a stale row)."""
    diff = db.session.execute(text("""
        WITH agg AS (
            SELECT DISTINCT day, account_id, tool, model, coalesce(email, actor) AS person
            FROM usage_events),
        roll AS (
            SELECT u.day, u.account_id, u.tool, u.model, p.person
            FROM usage_day_people u
            JOIN people p ON p.id < length(u.people) AND get_bit(u.people, p.id) = 1)
        (SELECT * FROM agg EXCEPT ALL SELECT * FROM roll)
        UNION ALL
        (SELECT * FROM roll EXCEPT ALL SELECT * FROM agg)
    """)).all()
    empty = db.session.execute(text(
        "SELECT day, account_id FROM usage_day_people WHERE bit_count(people) = 0")).all()
    return diff + empty


def block_mismatches() -> list:
    """Blocks (every level) that differ from the same sums computed from usage_events, and
    active days whose bit disagrees; both directions."""
    params = {"epoch": UsagePersonBlock.EPOCH, "levels": UsagePersonBlock.LEVELS}
    sums = db.session.execute(text("""
        WITH ev AS (
            SELECT l.level,
                   CAST(:epoch AS date) + (e.day - CAST(:epoch AS date))
                       / (1 << l.level) * (1 << l.level) AS start,
                   e.*
            FROM usage_events e CROSS JOIN generate_series(1, :levels) AS l(level)),
        agg AS (
            SELECT level, start, account_id, tool, coalesce(email, actor) AS person,
                   bool_or(email IS NOT NULL) AS mapped, count(*) AS events,
                   sum(input_tokens) AS i, sum(output_tokens) AS o,
                   sum(cache_write_tokens) AS cw, sum(cache_read_tokens) AS cr,
                   COALESCE(sum(cost_usd), 0) AS cost,
                   COALESCE(sum(cost_usd) FILTER (WHERE cost_source = 'estimated'), 0) AS est,
                   count(*) FILTER (WHERE cost_source = 'unpriced') AS unpriced,
                   count(*) FILTER (WHERE cost_source = 'not_charged') AS not_charged,
                   COALESCE(sum(COALESCE(cost_usd, 0))
                            FILTER (WHERE tool = 'cursor' AND kind ILIKE '%included%'), 0)
                       AS included,
                   min(day) AS first_day, max(day) AS last_day
            FROM ev GROUP BY 1, 2, 3, 4, 5),
        roll AS (
            SELECT level, start, account_id, tool, person, mapped, events, input_tokens,
                   output_tokens, cache_write_tokens, cache_read_tokens, cost_usd,
                   estimated_cost_usd, unpriced_events, not_charged_events, included_usd,
                   first_day, last_day
            FROM usage_person_blocks)
        (SELECT * FROM agg EXCEPT ALL SELECT * FROM roll)
        UNION ALL
        (SELECT * FROM roll EXCEPT ALL SELECT * FROM agg)
    """), params).all()
    days = db.session.execute(text("""
        WITH agg AS (
            SELECT DISTINCT l.level,
                   CAST(:epoch AS date) + (e.day - CAST(:epoch AS date))
                       / (1 << l.level) * (1 << l.level) AS start,
                   e.account_id, e.tool, coalesce(e.email, e.actor) AS person, e.day
            FROM usage_events e CROSS JOIN generate_series(1, :levels) AS l(level)),
        roll AS (
            SELECT b.level, b.start, b.account_id, b.tool, b.person, b.start + i AS day
            FROM usage_person_blocks b
            CROSS JOIN LATERAL generate_series(0, length(b.days) - 1) AS i
            WHERE get_bit(b.days, i) = 1)
        (SELECT * FROM agg EXCEPT ALL SELECT * FROM roll)
        UNION ALL
        (SELECT * FROM roll EXCEPT ALL SELECT * FROM agg)
    """), params).all()
    widths = db.session.execute(text(
        "SELECT level, start FROM usage_person_blocks WHERE length(days) <> 1 << level")).all()
    return sums + days + widths


def assert_rollups_match() -> None:
    db.session.flush()
    assert day_people_mismatches() == []
    assert block_mismatches() == []


def test_rollups_follow_syncs_revisions_and_reattribution(ctx):
    cursor, claude = account("cursor-team"), account("claude", provider="anthropic")
    days = [DAY0 + timedelta(days=n) for n in (0, 1, 2, 3, 7, 8, 31, 64, 255, 256, 300)]
    # Two accounts, three people, one identity nobody mapped yet.
    ingest(cursor, [rec(f"c{n}", d, actor=who, email=who if "@" in who else None,
                        model=("gpt-5", "claude-4.5-sonnet")[n % 2])
                    for n, d in enumerate(days)
                    for who in (("ann@example.com", "ci-key") if n % 3 else ("bob@example.com",))])
    ingest(claude, [rec(f"k{n}", d, tool="claude_code", model="claude-opus-4-5")
                    for n, d in enumerate(days[::2])])
    assert_rollups_match()

    # A revision: more tokens, and an event moved to another day (old and new block change).
    ingest(cursor, [rec("c3bob", days[0]), rec("c1ann@example.com", days[1], inp=5_000),
                    rec("c4ci-key", days[9] + timedelta(days=1), actor="ci-key", email=None)])
    assert_rollups_match()

    # The identity gets a person: its past usage follows (bitmaps and blocks re-keyed).
    db.session.execute(text(
        "INSERT INTO identity_mappings (source, external_id, email) "
        "VALUES ('cursor', 'ci-key', 'carl@example.com')"))
    assert reattribute("cursor", ["ci-key"]) > 0
    assert_rollups_match()

    # Two addresses become one person.
    merge_people("carl@example.com", "ann@example.com", "admin@example.com")
    assert_rollups_match()

    # A price override re-estimates events that had no provider cost.
    ingest(cursor, [rec("u1", days[4], model="gpt-5", cost=None),
                    rec("u2", days[5], model="no-such-model", cost=None)])
    db.session.add(ModelPrice(model="gpt-5", valid_from=FAR_PAST, source="override",
                              input=Decimal(1), output=Decimal(2), cache_write_5m=Decimal(0),
                              cache_read=Decimal(0)))
    db.session.flush()
    assert reestimate_model("gpt-5").changed == 1
    assert_rollups_match()

    # A full rebuild (after a time zone change) lands on the same rollups.
    rebuild_rollups()
    assert_rollups_match()


def test_resending_usage_numbers_nobody_again(ctx):
    acc = account("t")
    batch = [rec("a", DAY0), rec("b", DAY0, actor="key-1", email=None)]
    ingest(acc, batch)
    drawn = db.session.execute(text("SELECT last_value FROM people_id_seq")).scalar_one()
    ingest(acc, batch)  # unchanged
    ingest(acc, [rec("a", DAY0, inp=999)])  # a revision
    ingest(acc, [rec("c", DAY0 + timedelta(days=1))])  # Ann again, another day
    new = "zoe.resend@example.com"
    ingest(acc, [rec("z", DAY0, actor=new, email=new)])
    # Bitmaps are as long as the highest id: ids drawn (and wasted) for people already
    # numbered would make them ever longer. The one new person takes the next id.
    assert db.session.execute(text("SELECT id FROM people WHERE person = :p"),
                              {"p": new}).scalar_one() == drawn + 1
    assert_rollups_match()


record_strategy = st.builds(
    lambda key, day, who, tool, inp, nc, kind: rec(
        key, DAY0 + timedelta(days=day), actor=who, email=None if who == "key-1" else who,
        tool=tool, inp=inp, not_charged=nc, kind=kind),
    key=st.sampled_from([f"e{i}" for i in range(12)]),
    day=st.integers(min_value=0, max_value=40),
    who=st.sampled_from(["ann@example.com", "bob@example.com", "key-1"]),
    tool=st.sampled_from(["cursor", "claude_code"]),
    inp=st.integers(min_value=0, max_value=1000),
    nc=st.booleans(),  # a not-charged event ($0, counted apart)
    kind=st.sampled_from(["", "Included in Business"]),  # included in a seat (included_usd)
)


# Each example runs several ingests against PostgreSQL: the time depends on the machine's
# load, not on what the property checks.
@settings(deadline=None)
@given(batches=st.lists(st.lists(record_strategy, max_size=8), min_size=1, max_size=4))
def test_property_rollups_equal_events_after_any_batches(app, batches):
    with app.app_context():
        nested = db.session.begin_nested()
        try:
            acc = account("prop")
            for batch in batches:  # later batches revise keys of earlier ones
                ingest(acc, batch)
                assert_rollups_match()
        finally:
            nested.rollback()
            db.session.remove()


# --- range splitting --------------------------------------------------------------------------

@given(offset=st.integers(min_value=0, max_value=3000),
       length=st.integers(min_value=1, max_value=1200))
def test_split_range_covers_each_day_once_with_aligned_blocks(offset, length):
    start = date(2024, 1, 1) + timedelta(days=offset)
    end = start + timedelta(days=length - 1)
    days, blocks = split_range(start, end)
    covered = list(days)
    for level, block_start in blocks:
        assert 1 <= level <= UsagePersonBlock.LEVELS
        assert UsagePersonBlock.block_start(block_start, level) == block_start  # aligned
        covered += [block_start + timedelta(days=i) for i in range(1 << level)]
    assert sorted(covered) == [start + timedelta(days=i) for i in range(length)]
    # A few pieces per level, plus one per largest block: reading stays small.
    assert len(days) + len(blocks) <= 2 * (UsagePersonBlock.LEVELS + 1) + length // 256


# --- pages show what the events say -----------------------------------------------------------

def _expected(events: list[tuple[str, str, date, int, Decimal]], start: date, end: date):
    """Per person from plain events (person, tool, day, tokens, cost): tokens, cost, tokens
    per tool, days active, first and last day; and distinct people per tool and overall."""
    people: dict[str, dict] = {}
    tools: dict[str, set] = defaultdict(set)
    for person, tool, day, tokens, cost in events:
        if not start <= day <= end:
            continue
        p = people.setdefault(person, {"tokens": 0, "cost": Decimal(0), "by_tool": {},
                                       "days": set()})
        p["tokens"] += tokens
        p["cost"] += cost
        p["by_tool"][tool] = p["by_tool"].get(tool, 0) + tokens
        p["days"].add(day)
        tools[tool].add(person)
    return people, {t: len(ps) for t, ps in tools.items()}


def test_team_and_people_counts_over_any_range_equal_the_events(app, ctx):
    rnd = random.Random(11)
    cursor_a, cursor_b = account("cursor-a"), account("cursor-b")
    claude = account("claude", provider="anthropic")
    who = ["ann@example.com", "bob@example.com", "cat@example.com", "key-7"]
    plan = []  # (account, record)
    events = []  # (person, tool, day, tokens, cost)
    for n in range(400):
        acc = rnd.choice([cursor_a, cursor_b, claude])
        tool = "claude_code" if acc is claude else "cursor"
        # Dan only uses the account ingested last: he is numbered after the others' bitmaps
        # were written, so bitmaps of different lengths meet in one range.
        person = rnd.choice(who + ["dan@example.com"] if acc is claude else who)
        day = DAY0 + timedelta(days=rnd.randrange(420))
        inp, cost = rnd.randrange(1, 10_000), Decimal(rnd.randrange(1, 500)) / 100
        plan.append((acc, rec(f"r{n}", day, actor=person,
                              email=None if person == "key-7" else person,
                              tool=tool, inp=inp, out=0, cost=cost)))
        events.append((person, tool, day, inp, cost))
    for acc in (cursor_a, cursor_b, claude):
        ingest(acc, [r for a, r in plan if a is acc])
    db.session.commit()

    ranges = [(DAY0, DAY0 + timedelta(days=419)), (DAY0 + timedelta(days=3),) * 2]
    for _ in range(40):
        first = DAY0 + timedelta(days=rnd.randrange(-10, 420))
        ranges.append((first, first + timedelta(days=rnd.choice(
            (0, 1, 6, 13, 29, 30, 89, 255, 256, 364)))))
    for start, end in ranges:
        people, tool_people = _expected(events, start, end)
        pivot = team_pivot(start, end, per_page=None)
        got = {r.person: r for r in pivot.rows}
        assert set(got) == set(people), (start, end)
        for person, p in people.items():
            row = got[person]
            assert (row.tokens, row.cost_usd, row.days_active) == (
                p["tokens"], p["cost"], len(p["days"])), (start, end, person)
            assert (row.first_active, row.last_active) == (min(p["days"]), max(p["days"]))
            assert {t: v for t, v in row.by_tool.items() if v} == p["by_tool"]
        assert pivot.totals.person_days == sum(len(p["days"]) for p in people.values())

        ov = overview(start, end, limit=2)
        assert ov.active_people == len(people)
        assert {t.tool: t.people for t in ov.by_tool} == tool_people
        top = sorted(people, key=lambda k: (-people[k]["tokens"], k))[:2]
        assert [p.person for p in ov.by_person] == top
        assert [p.tool_tokens for p in ov.by_person] == [people[k]["by_tool"] for k in top]

        active = usage_analytics.active_people(start, end)
        assert active.people == len(people)
        assert {t.tool: t.people for t in active.by_tool} == tool_people
        assert totals(start, end).people == len(people)


def test_one_person_in_two_accounts_and_two_tools_counts_once(app, client):
    day = datetime.now(UTC).date() - timedelta(days=1)
    seed(app, [rec("a1", day, inp=1_000), rec("b1", day, actor="bob@example.com",
                                               email="bob@example.com", inp=1_000)],
         name="cursor-a")
    seed(app, [rec("a2", day, inp=1_000)], name="cursor-b")  # Ann again, another team
    seed(app, [rec("a3", day, tool="claude_code", model="claude-opus-4-5", inp=1_000)],
         name="claude", provider="anthropic")
    sign_in(client)

    usage = client.get("/usage?days=7&view=tools")
    assert row_with(usage, "Cursor", "usage-breakdown").endswith(" 2")  # Ann and Bob
    assert row_with(usage, "Claude Code", "usage-breakdown").endswith(" 1")
    assert rows(usage, "usage-breakdown")[-1].endswith(" 2")  # not 4: each person once
    assert "2 in the range" in text_of(usage)

    assert rows(client.get("/team?days=7"))[-1].startswith("Total 2 people")


def test_reattributed_identity_merges_into_the_person_everywhere(app, client):
    day = datetime.now(UTC).date() - timedelta(days=2)
    seed(app, [rec("a", day, inp=1_000),
               rec("k", day - timedelta(days=1), actor="ci-key", email=None, inp=500)])
    sign_in(client)
    assert "2 in the range" in text_of(client.get("/usage?days=7"))

    with app.app_context():
        assign("cursor", "ci-key", "ann@example.com", "admin@example.com")
        db.session.commit()

    assert "1 in the range" in text_of(client.get("/usage?days=7"))
    team = list(csv.reader(io.StringIO(
        client.get("/team.csv?days=7&cols=tokens,days").get_data(as_text=True))))
    # One row: her own day and the key's day, 1,000 + 500 (+ output) tokens.
    assert [r[0] for r in team[1:]] == ["ann@example.com"]
    assert team[1][1:] == ["false", "1520", "2"]  # mapped now
