"""usage_team_days, the per-team daily rollup, always equals the aggregate it stands for: kept
by ingest when usage arrives or is revised, and rebuilt on commit when memberships or the tree
change (an added, ended or removed membership, a team moved under another); a session's
uncommitted change is read from the per-day rollup instead, so no page shows stale figures.
Scoped figures read through the rollup equal those read person by person."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select, text

from abacus.analytics import overview, usage
from abacus.analytics.common import team_rollup
from abacus.analytics.scope import subtree_ids
from abacus.extensions import db
from abacus.models import Team, UsageTeamDay
from abacus.providers.base import UsageRecord
from abacus.teams import tree
from abacus.usage.ingest import rebuild_team_days
from tests.helpers import seed

TODAY = datetime.now(UTC).date()
FIRST = TODAY - timedelta(days=39)


def records(people: tuple[str, ...], days: range, tokens: int = 100, tag: str = "") -> list:
    return [UsageRecord(event_key=f"{p}-{n}{tag}",
                        occurred_at=datetime.combine(FIRST + timedelta(days=n), time(10),
                                                     tzinfo=UTC),
                        tool="cursor", actor=f"{p}@example.com", email=f"{p}@example.com",
                        raw_model="claude-sonnet-4-5" if n % 2 else "gpt-5",
                        input_tokens=tokens + n, output_tokens=7,
                        cost_usd=Decimal(n + 1) / 100)
            for p in people for n in days]


def stored() -> set[tuple]:
    """usage_team_days as it is, every column (the bitmap as its bits up to the last one set:
    bitmaps written at different times differ in length, which readers pad)."""
    return {tuple(r) for r in db.session.execute(text(
        "SELECT team_id, day, account_id, tool, model, events, input_tokens, output_tokens, "
        "cache_write_tokens, cache_read_tokens, cost_usd, estimated_cost_usd, "
        "unpriced_events, not_charged_events, included_usd, rtrim(people::text, '0') "
        "FROM usage_team_days"))}


def rebuilt() -> set[tuple]:
    """usage_team_days rebuilt from scratch for every team (then rolled back)."""
    savepoint = db.session.begin_nested()
    rebuild_team_days(db.session.scalars(select(Team.id)))
    rows = stored()
    savepoint.rollback()
    return rows


def by_person_path(start: date, end: date, ids: list[int]):
    """The scope's totals read person by person, as without a team rollup."""
    db.session.info[UsageTeamDay.CHANGED_TEAMS] = {-1}  # any uncommitted change forces it
    try:
        assert team_rollup(ids) is None
        return overview.totals(start, end, team=ids)
    finally:
        db.session.info.pop(UsageTeamDay.CHANGED_TEAMS)


def test_the_team_rollup_follows_usage_memberships_and_the_tree(app):
    seed(app, records(("ann", "bob", "cat"), range(0, 20)))
    with app.app_context():
        eng = tree.create_team("Engineering")
        web = tree.create_team("Web", parent=eng)
        ops = tree.create_team("Ops")
        tree.add_membership(web, "ann@example.com", FIRST)
        tree.add_membership(web, "bob@example.com", FIRST, FIRST + timedelta(days=9))
        tree.add_membership(eng, "ann@example.com", FIRST + timedelta(days=5))  # twice in Eng
        tree.add_membership(ops, "cat@example.com", FIRST + timedelta(days=3))
        db.session.commit()
        assert stored() and stored() == rebuilt()
        ids = subtree_ids([eng.id])
        assert team_rollup(ids) == eng.id and team_rollup(ids + [ops.id]) is None
        first_totals = overview.totals(FIRST, TODAY, team=ids)
        assert first_totals == by_person_path(FIRST, TODAY, ids)
        # ann counts once in Engineering though she is in it twice; bob for 10 days.
        ann_and_bob = sum(100 + n + 7 for n in range(20)) + sum(100 + n + 7 for n in range(10))
        assert first_totals.tokens == ann_and_bob and first_totals.people == 2
        eng_id, web_id, ops_id = eng.id, web.id, ops.id

    # New days and a revised event arrive: ingest refreshes the teams' rows of those days.
    seed(app, records(("ann", "cat"), range(20, 30)) + records(("ann",), range(3, 4), 5000))
    with app.app_context():
        assert stored() == rebuilt()
        ids = subtree_ids([eng_id])
        assert overview.totals(FIRST, TODAY, team=ids) == by_person_path(FIRST, TODAY, ids)

        # A re-org, not committed yet: the pages read around the stale rows.
        web = db.session.get(Team, web_id)
        bob = next(m for m in tree.memberships_of(web) if m.person == "bob@example.com")
        tree.end_membership(bob, FIRST + timedelta(days=4))
        tree.add_membership(db.session.get(Team, ops_id), "bob@example.com",
                            FIRST + timedelta(days=5))
        tree.set_parent(db.session.get(Team, ops_id), db.session.get(Team, eng_id))
        ids = subtree_ids([eng_id])  # Ops, cat and bob's new membership are in it now
        assert team_rollup(ids) is None
        uncommitted = overview.totals(FIRST, TODAY, team=ids)
        db.session.commit()
        assert team_rollup(ids) == eng_id
        assert overview.totals(FIRST, TODAY, team=ids) == uncommitted
        assert stored() == rebuilt()
        models = usage.breakdown("models", FIRST, TODAY, team=ids)
        assert models.total.people == 3 and models.total.tokens == uncommitted.tokens

        # Moved back out, and a membership removed outright: Engineering shrinks again.
        tree.set_parent(db.session.get(Team, ops_id), None)
        db.session.delete(next(m for m in tree.memberships_of(db.session.get(Team, eng_id))))
        db.session.commit()
        assert stored() == rebuilt()
        ids = subtree_ids([eng_id])
        assert overview.totals(FIRST, TODAY, team=ids) == by_person_path(FIRST, TODAY, ids)

        # A membership ended and another added, no team moved: the people's usage is
        # shifted out of and into the teams' rows, to what a rebuild gives.
        ann = next(m for m in tree.memberships_of(db.session.get(Team, web_id))
                   if m.person == "ann@example.com")
        tree.end_membership(ann, FIRST + timedelta(days=15))
        tree.add_membership(db.session.get(Team, web_id), "cat@example.com",
                            FIRST + timedelta(days=12), FIRST + timedelta(days=25))
        db.session.commit()
        assert stored() == rebuilt()
        ids = subtree_ids([eng_id])
        assert overview.totals(FIRST, TODAY, team=ids) == by_person_path(FIRST, TODAY, ids)

        # A lead flag changes no figure and rebuilds nothing.
        web_member = tree.memberships_of(db.session.get(Team, web_id))[0]
        web_member.lead = True
        db.session.flush()
        assert not UsageTeamDay.stale_teams()
        db.session.commit()


def test_a_change_in_the_session_shows_at_once_and_a_rollback_undoes_it(app):
    seed(app, records(("ann", "bob"), range(0, 5)))
    with app.app_context():
        team = tree.create_team("Solo")
        tree.add_membership(team, "ann@example.com", FIRST)
        team_id = team.id
        db.session.commit()
        before = stored()
        alone = overview.totals(FIRST, TODAY, team=[team_id])
        assert alone.people == 1
        # Same transaction: the scope's members are read again, not from the earlier pass.
        overview.usage_cents(FIRST, TODAY, [team_id])
        tree.add_membership(db.session.get(Team, team_id), "bob@example.com", FIRST)
        assert UsageTeamDay.stale_teams()
        both = overview.totals(FIRST, TODAY, team=[team_id])
        assert both.people == 2 and both.tokens == 2 * alone.tokens
        assert overview.usage_cents(FIRST, TODAY, [team_id]).people == 2
        db.session.rollback()
        assert not UsageTeamDay.stale_teams()
        assert stored() == before == rebuilt()
        assert overview.totals(FIRST, TODAY, team=[team_id]) == alone
