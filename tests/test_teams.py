"""Teams: the CSV import (preview, dry run, idempotent re-import, row-level errors),
effective-dated memberships across a re-org, manual edits, and chargeback to the cent."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abacus.extensions import db
from abacus.models import SeatAssignment, Team, TeamMembership, UsageEvent
from abacus.providers.base import UsageRecord
from abacus.teams import tree
from abacus.teams.chargeback import chargeback
from tests.helpers import invoke, seed

HEADER = "email,team,parent,cost_centre,lead,from,to\n"


def usage(key: str, day: date, email: str, cost: str, tool: str = "cursor") -> UsageRecord:
    return UsageRecord(event_key=key, occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
                       tool=tool, actor=email, email=email, raw_model="claude-sonnet-4-5",
                       input_tokens=1, cost_usd=Decimal(cost))


def write(tmp_path, text: str, name: str = "teams.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def counts() -> tuple[int, int, list[tuple]]:
    db.session.expire_all()
    rows = db.session.execute(select(Team.name, TeamMembership.person, TeamMembership.valid_from,
                                     TeamMembership.valid_to, TeamMembership.lead)
                              .join(Team, Team.id == TeamMembership.team_id)
                              .order_by(Team.name, TeamMembership.person)).all()
    return (db.session.scalar(select(func.count()).select_from(Team)),
            db.session.scalar(select(func.count()).select_from(TeamMembership)),
            [tuple(r) for r in rows])


ORG = HEADER + (
    "ann@example.com,Engineering,,CC-100,yes,2026-01-01,\n"
    "bob@example.com,Platform,Engineering,CC-200,,2026-01-01,\n"
    "cat@example.com,Platform,Engineering,,yes,2026-01-01,\n"
    "dan@example.com,Mobile,Engineering,,,2026-01-01,2026-06-30\n"
)


def test_import_previews_applies_and_reimports_as_nothing(ctx, runner, tmp_path):
    path = write(tmp_path, ORG)
    dry = invoke(runner, "teams", "import", path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "team added: Platform (in Engineering), cost centre CC-200" in dry.output
    assert "added: ann@example.com in Engineering (2026-01-01 → now) lead" in dry.output
    assert "dry run, nothing changed" in dry.output
    assert counts()[:2] == (0, 0)

    done = invoke(runner, "teams", "import", path)
    assert done.exit_code == 0, done.output
    assert "3 teams added, 0 teams changed, 4 memberships added" in done.output
    before = counts()
    assert before[:2] == (3, 4)
    platform = db.session.scalar(select(Team).where(Team.name == "Platform"))
    engineering = db.session.scalar(select(Team).where(Team.name == "Engineering"))
    assert platform.parent_id == engineering.id and platform.cost_centre == "CC-200"
    assert ("Mobile", "dan@example.com", date(2026, 1, 1), date(2026, 6, 30), False) in before[2]
    listed = invoke(runner, "teams", "list").output
    assert f"Engineering [id {engineering.id}] cc CC-100: 1 members, leads ann@example.com" \
        in listed
    assert "  Mobile" in listed and "(archived)" in listed  # dan's membership has ended

    again = invoke(runner, "teams", "import", path)
    assert again.exit_code == 0, again.output
    assert "0 teams added, 0 teams changed, 0 memberships added, 0 moved, 0 ended, " \
           "0 changed, 4 unchanged" in again.output
    assert counts() == before


def test_reimport_moves_and_ends_and_keeps_explicit_history(ctx, runner, tmp_path):
    assert invoke(runner, "teams", "import", write(tmp_path, ORG)).exit_code == 0
    today = date.today()
    moved = HEADER + (
        "ann@example.com,Engineering,,CC-100,yes,2026-01-01,\n"
        "bob@example.com,Mobile,Engineering,,,2026-07-01,\n"  # bob: Platform → Mobile
        # cat is no longer listed: ended the day before the import; dan (with an explicit
        # `to`) is no longer listed either: his closed membership stays as it was.
    )
    result = invoke(runner, "teams", "import", write(tmp_path, moved, "b.csv"))
    assert result.exit_code == 0, result.output
    assert "moved: bob@example.com in Mobile (2026-07-01 → now) from Platform " \
           "(ends 2026-06-30)" in result.output
    assert "ended: cat@example.com in Platform" in result.output
    rows = counts()[2]
    assert ("Platform", "bob@example.com", date(2026, 1, 1), date(2026, 6, 30), False) in rows
    assert ("Mobile", "bob@example.com", date(2026, 7, 1), None, False) in rows
    assert ("Platform", "cat@example.com", date(2026, 1, 1),
            date.fromordinal(today.toordinal() - 1), True) in rows
    assert ("Mobile", "dan@example.com", date(2026, 1, 1), date(2026, 6, 30), False) in rows
    again = invoke(runner, "teams", "import", write(tmp_path, moved, "b.csv"))
    assert "0 memberships added, 0 moved, 0 ended, 0 changed" in again.output


@pytest.mark.parametrize(("text", "message"), [
    ("email,team,parent,cost_centre,lead,from\nann@example.com,A,,,,2026-01-01\n",
     "bad.csv row 1: the header must be exactly email,team,parent,cost_centre,lead,from,to"),
    (HEADER + "ann@example.com,A,,,,2026-01-01,\nbob@example.com,A,,,,2026-13-01,\n",
     "bad.csv row 3, field from: “2026-13-01” is not a day; write it as YYYY-MM-DD"),
    (HEADER + "ann@example.com,A,,,maybe,2026-01-01,\n",
     "bad.csv row 2, field lead: “maybe” must be yes or empty"),
    (HEADER + "not-an-email,A,,,,2026-01-01,\n",
     "bad.csv row 2, field email: “not-an-email” is not an e-mail address"),
    (HEADER + "ann@example.com,A,Nowhere,,,2026-01-01,\n",
     "bad.csv row 2, field parent: “Nowhere” is not a team of the file nor an existing team"),
    (HEADER + "ann@example.com,A,B,,,2026-01-01,\nbob@example.com,B,A,,,2026-01-01,\n",
     "would put “A” inside its own subtree (a cycle)"),
    (HEADER + "ann@example.com,A,,,,2026-03-01,2026-02-01\n",
     "bad.csv row 2, field to: 2026-02-01 is before from (2026-03-01)"),
    (HEADER + "ann@example.com,A,,,,2026-01-01,\nann@example.com,A,,,,2026-02-01,\n",
     "bad.csv row 3, field from: ann@example.com is already in “A” on 2026-02-01 (row 2)"),
])
def test_bad_files_are_refused_whole_naming_row_and_field(ctx, runner, tmp_path, text,
                                                          message):
    result = invoke(runner, "teams", "import", write(tmp_path, text, "bad.csv"))
    assert result.exit_code != 0
    assert message in result.output
    assert "nothing imported" in result.output
    assert counts()[:2] == (0, 0)


def test_moving_a_team_into_its_own_subtree_is_refused(ctx):
    top = tree.create_team("Top")
    mid = tree.create_team("Mid", parent=top)
    low = tree.create_team("Low", parent=mid)
    with pytest.raises(tree.TeamError, match="inside “Top”'s subtree"):
        tree.set_parent(top, low)
    tree.add_membership(mid, "ann@example.com", date(2026, 1, 1))
    with pytest.raises(tree.TeamError, match="has child teams"):
        tree.delete_team(mid)
    tree.delete_team(low)  # never had members, no children: deleted
    with pytest.raises(tree.TeamError, match="archive it instead"):
        tree.delete_team(mid)
    assert tree.archive_team(mid, date(2026, 5, 1)) == 1
    assert db.session.scalar(select(TeamMembership.valid_to)) == date(2026, 4, 30)


# --- chargeback ------------------------------------------------------------------------------

def test_reorg_leaves_last_quarter_chargeback_unchanged(app, ctx, runner, tmp_path):
    seed(app, [usage("a1", date(2026, 3, 10), "bob@example.com", "10.00"),
               usage("a2", date(2026, 7, 10), "bob@example.com", "20.00")])
    assert invoke(runner, "teams", "import", write(tmp_path, ORG)).exit_code == 0
    march = invoke(runner, "chargeback", "--month", "2026-03", "--json")
    assert json.loads(march.output) == [
        {"month": "2026-03", "cost_centre": "CC-200", "tool": "cursor", "usage_usd": "10.00",
         "seats_usd": "0.00", "total_usd": "10.00"}]
    moved = HEADER + ("bob@example.com,Mobile,Engineering,CC-300,,2026-07-01,\n")
    assert invoke(runner, "teams", "import", write(tmp_path, moved, "m.csv")).exit_code == 0
    assert invoke(runner, "chargeback", "--month", "2026-03", "--json").output == march.output
    july = json.loads(invoke(runner, "chargeback", "--month", "2026-07", "--json").output)
    assert [(r["cost_centre"], r["total_usd"]) for r in july] == [("CC-300", "20.00")]


def test_split_three_ways_with_a_remainder_cent_and_unassigned(app, ctx, runner):
    day = date(2026, 5, 5)
    seed(app, [usage("e1", day, "ann@example.com", "1.00"),
               usage("e2", day, "bob@example.com", "0.35", tool="claude_code"),
               usage("e3", day, "zed@example.com", "2.50"),  # in no team
               usage("e4", date(2026, 5, 6), "bob@example.com", "0.10", tool="claude_code")])
    a = tree.create_team("Alpha", cost_centre="CC-A")
    b = tree.create_team("Beta", cost_centre="CC-B")
    c = tree.create_team("Gamma")  # no cost centre: charged as "(Gamma)"
    for team in (a, b, c):
        tree.add_membership(team, "ann@example.com", date(2026, 1, 1))
    tree.add_membership(a, "bob@example.com", date(2026, 1, 1), share=Decimal("0.25"))
    tree.add_membership(b, "bob@example.com", date(2026, 1, 1), share=Decimal("0.75"))
    db.session.add(SeatAssignment(holder="bob@example.com", tool="claude", plan="team",
                                  monthly_usd=Decimal("31.00"), valid_from=date(2026, 5, 1),
                                  source="csv"))
    db.session.commit()
    report = chargeback(date(2026, 5, 1), today=date(2026, 12, 1))
    got = {(r.cost_centre, r.tool): (r.usage_usd, r.seats_usd) for r in report.rows}
    # Ann's $1.00 in three equal parts: 0.33 each, the remainder cent to the oldest.
    assert got[("CC-A", "cursor")] == (Decimal("0.34"), 0)
    assert got[("CC-B", "cursor")] == (Decimal("0.33"), 0)
    assert got[("(Gamma)", "cursor")] == (Decimal("0.33"), 0)
    # Bob's $0.45 by his shares (0.1125 / 0.3375 → 0.11 / 0.33, the cent to the larger).
    assert got[("CC-A", "claude_code")] == (Decimal("0.11"), 0)
    assert got[("CC-B", "claude_code")] == (Decimal("0.34"), 0)
    assert got[("CC-A", "claude")] == (0, Decimal("7.75"))
    assert got[("CC-B", "claude")] == (0, Decimal("23.25"))
    assert got[("unassigned", "cursor")] == (Decimal("2.50"), 0)
    # Every row adds up to the people's costs: usage per person and tool in cents + seats.
    people = db.session.execute(select(func.sum(UsageEvent.cost_usd))).scalar()
    assert report.usage_usd == people == Decimal("3.95")
    assert report.seats_usd == Decimal("31.00")
    assert report.provisional is False


def test_chargeback_cli_text_and_bad_month(app, ctx, runner):
    seed(app, [usage("e1", date(2026, 5, 5), "ann@example.com", "1.25")])
    text = invoke(runner, "chargeback", "--month", "2026-05")
    assert text.exit_code == 0
    assert "unassigned" in text.output and "1.25" in text.output
    bad = invoke(runner, "chargeback", "--month", "2026-5")
    assert bad.exit_code != 0 and "“2026-5” is not a month; write it as YYYY-MM" in bad.output


def test_team_budget_counts_members_on_their_member_days(app, ctx, runner):
    from abacus.budgets import service

    day = date(2026, 5, 20)
    seed(app, [usage("b1", date(2026, 5, 3), "ann@example.com", "4.00"),
               usage("b2", date(2026, 5, 12), "ann@example.com", "6.00"),
               usage("b3", date(2026, 5, 12), "zed@example.com", "9.00")])
    top = tree.create_team("Core")
    sub = tree.create_team("Core API", parent=top)
    tree.add_membership(sub, "ann@example.com", date(2026, 5, 10))  # joined after b1
    db.session.commit()
    added = invoke(runner, "budgets", "add", "--name", "core", "--scope", "team:Core",
                   "--period", "month", "--amount", "100")
    assert added.exit_code == 0, added.output
    budget = service.active_budgets(day)[0]
    state = service.state(budget, day)
    assert state.spent == Decimal("6.00")  # the subtree's member, on member days only
    assert "team Core" in service.scope_label(budget.scope)
