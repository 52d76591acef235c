"""Team scope on pages (`?team=`), the by-team mode, exports following the scope, Admin →
Teams (upload → preview → apply, manual edits, GitHub and Cursor sources against the fake),
and the chargeback page and CSV."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abacus.extensions import db
from abacus.models import Account, IdentityMapping, Team, TeamMember, TeamMembership, User
from abacus.providers.base import UsageRecord
from abacus.teams import tree
from tests.helpers import csrf_token, seed, sign_in

TODAY = datetime.now(UTC).date()  # the test app's org time zone is UTC
D = [TODAY - timedelta(days=n) for n in range(10, -1, -1)]  # D[0] ten days ago … D[10] today
RANGE = f"start={D[0]}&end={D[10]}"


def usage(key: str, day: date, email: str, cost: str, tool: str = "cursor") -> UsageRecord:
    return UsageRecord(event_key=key, occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
                       tool=tool, actor=email, email=email, raw_model="claude-sonnet-4-5",
                       input_tokens=100, cost_usd=Decimal(cost))


@pytest.fixture
def org(app):
    """Engineering ⊃ Platform; Design. Ann in Platform; cat in Platform and Design; bob in
    Platform for D[0]..D[4], then Design from D[5] (a re-org); zed in no team."""
    seed(app, [usage(f"{p}{i}", D[i], f"{p}@example.com", "1.00")
               for p in ("ann", "bob", "cat", "zed") for i in range(0, 10)])
    with app.app_context():
        eng = tree.create_team("Engineering", cost_centre="CC-1")
        platform = tree.create_team("Platform", parent=eng, cost_centre="CC-2")
        design = tree.create_team("Design", cost_centre="CC-3")
        tree.add_membership(platform, "ann@example.com", D[0])
        tree.add_membership(platform, "cat@example.com", D[0])
        tree.add_membership(design, "cat@example.com", D[0])
        tree.add_membership(platform, "bob@example.com", D[0], D[4])
        tree.add_membership(design, "bob@example.com", D[5])
        db.session.commit()
        return {"eng": eng.id, "platform": platform.id, "design": design.id}


def admin(client) -> str:
    assert sign_in(client, "admin@example.com").status_code == 303
    return csrf_token(client.get("/admin/teams").get_data(as_text=True))


def export_rows(client, url: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_team_page_scoped_rows_are_members_on_their_member_days(app, client, org):
    admin(client)
    rows = {r["person"]: r for r in export_rows(client, f"/team.csv?{RANGE}&team=Platform")}
    assert set(rows) == {"ann@example.com", "bob@example.com", "cat@example.com"}
    assert rows["ann@example.com"]["cost_usd"] == "10.000000"
    assert rows["bob@example.com"]["cost_usd"] == "5.000000"  # D[0]..D[4] only: re-org split
    # The parent's view includes its subtree; by id works as by name.
    eng = {r["person"] for r in export_rows(client, f"/team.csv?{RANGE}&team={org['eng']}")}
    assert eng == {"ann@example.com", "bob@example.com", "cat@example.com"}
    design = {r["person"]: r["cost_usd"]
              for r in export_rows(client, f"/team.csv?{RANGE}&team=design")}
    assert design == {"bob@example.com": "5.000000", "cat@example.com": "10.000000"}


def test_person_in_two_teams_counts_in_each_and_once_in_the_total(app, client, org):
    admin(client)
    page = client.get(f"/team?by=team&{RANGE}").get_data(as_text=True)
    rows = {r["team"]: r for r in export_rows(client, f"/team.csv?by=team&{RANGE}")}
    assert rows["Platform"]["cost_usd"] == "25.000000"  # ann 10 + cat 10 + bob 5
    assert rows["Design"]["cost_usd"] == "15.000000"  # cat 10 + bob 5
    assert rows["Engineering"]["cost_usd"] == "25.000000"  # its subtree
    assert rows["Design"]["people"] == "2" and rows["Platform"]["people"] == "3"
    # The total: ann 10 + bob 10 + cat 10, cat once although in two teams.
    assert re.search(r"Total.*?\$30\.00", page, re.S)
    # Org-wide Overview without scope: everyone once (zed too).
    overview = client.get(f"/?{RANGE}").get_data(as_text=True)
    assert "$40.00" in overview


def test_every_page_and_export_takes_the_scope_and_links_keep_it(app, client, org):
    admin(client)
    tid = org["design"]
    for url in ("/", "/team", "/usage", "/commits", "/seats", "/team?by=team"):
        page = client.get(f"{url}{'&' if '?' in url else '?'}days=30&team=Design")
        assert page.status_code == 200, url
        text = page.get_data(as_text=True)
        assert f'<option value="{tid}" selected>' in text, url  # the selector shows it
        assert f"team={tid}" in text, url  # links carry the scope
    overview = client.get("/?days=30&team=Design").get_data(as_text=True)
    assert "$15.00" in overview and "$40.00" not in overview
    usage_rows = export_rows(client, "/usage.csv?view=tools&days=30&team=Design")
    assert [(r["tool_id"], r["cost_usd"], r["people"]) for r in usage_rows] == [
        ("cursor", "15.000000", "2")]
    assert export_rows(client, "/commits/export.csv?days=30&team=Design") == []


@pytest.mark.parametrize("url", ["/", "/team", "/usage", "/commits", "/seats", "/team.csv",
                                 "/usage.csv"])
def test_an_unknown_team_is_a_400_naming_the_parameter(app, client, org, url):
    admin(client)
    response = client.get(f"{url}?team=Nope")
    assert response.status_code == 400
    assert "The “team” parameter must be a team's id or name; there is no team “Nope”" in \
        html.unescape(response.get_data(as_text=True))


# --- Admin → Teams ---------------------------------------------------------------------------

CSV_TEXT = ("email,team,parent,cost_centre,lead,from,to\n"
            "ann@example.com,Engineering,,CC-1,yes,2026-01-01,\n"
            "bob@example.com,Platform,Engineering,CC-2,,2026-01-01,\n")


def upload(client, token: str, text: str, url: str = "/admin/teams/import"):
    return client.post(url, data={"csrf_token": token,
                                  "file": (io.BytesIO(text.encode()), "hr.csv")},
                       content_type="multipart/form-data")


def test_upload_preview_then_apply_and_again_nothing(app, client):
    token = admin(client)
    preview = upload(client, token, CSV_TEXT)
    assert preview.status_code == 200
    text = preview.get_data(as_text=True)
    assert "team added: Platform (in Engineering), cost centre CC-2" in text
    assert "added: bob@example.com in Platform (2026-01-01 → now)" in text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Team)) == 0
    carried = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', text, re.S).group(1)
    applied = client.post("/admin/teams/import/apply", data={
        "csrf_token": csrf_token(text), "filename": "hr.csv",
        "text": carried.replace("&#34;", '"').replace("&#39;", "'")})
    assert applied.status_code == 303
    page = client.get(applied.headers["Location"]).get_data(as_text=True)
    assert "hr.csv: 2 teams added" in page
    again = upload(client, token, CSV_TEXT).get_data(as_text=True)
    assert "Nothing would change: all 2 membership(s) are stored as they are" in again
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TeamMembership)) == 2


def test_bad_upload_names_row_and_field_and_needs_csrf(app, client):
    token = admin(client)
    bad = upload(client, token, CSV_TEXT.replace("2026-01-01,\nbob", "2026-01-32,\nbob"))
    assert bad.status_code == 400
    assert "hr.csv row 2, field from: “2026-01-32” is not a day" in bad.get_data(as_text=True)
    assert upload(client, "wrong", CSV_TEXT).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Team)) == 0


def test_members_cannot_edit_teams_or_see_chargeback(app, client):
    assert sign_in(client, "member@example.com").status_code == 303
    assert client.get("/admin/teams").status_code == 403
    assert client.get("/chargeback").status_code == 403
    assert client.get("/chargeback.csv").status_code == 403
    assert 'href="/chargeback' not in client.get("/").get_data(as_text=True)


def test_manual_edits(app, client):
    token = admin(client)
    assert client.post("/admin/teams", data={"csrf_token": token, "name": "Top"}
                       ).status_code == 303
    assert client.post("/admin/teams", data={"csrf_token": token, "name": "Sub",
                                             "parent": "Top", "cost_centre": "CC-9"}
                       ).status_code == 303
    with app.app_context():
        top = tree.find_team("Top").id
        sub = tree.find_team("Sub").id
    cycle = client.post(f"/admin/teams/{top}", data={"csrf_token": token, "name": "Top",
                                                      "parent": str(sub)})
    assert cycle.status_code == 400 and "cannot be moved under itself" in cycle.get_data(
        as_text=True)
    added = client.post(f"/admin/teams/{sub}/members", data={
        "csrf_token": token, "email": "Ann@Example.com", "from": "2026-01-01", "lead": "yes",
        "share": "0.5"})
    assert added.status_code == 303
    with app.app_context():
        m = db.session.scalar(select(TeamMembership))
        assert (m.person, m.lead, m.share) == ("ann@example.com", True, Decimal("0.5000"))
        mid = m.id
    ended = client.post(f"/admin/teams/memberships/{mid}", data={
        "csrf_token": token, "action": "end", "to": "2026-03-31"})
    assert ended.status_code == 303
    bad = client.post(f"/admin/teams/{sub}/members", data={
        "csrf_token": token, "email": "bob@example.com", "from": "2026-01-01", "share": "2"})
    assert bad.status_code == 400 and "is not a share" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(TeamMembership.valid_to)) == date(2026, 3, 31)


# --- GitHub and Cursor sources -----------------------------------------------------------

def test_github_teams_from_the_user_team_report(app, client, runner):
    from tests.helpers import invoke

    with app.app_context():
        account = Account(provider="copilot", name="gh")
        db.session.add(account)
        db.session.flush()
        db.session.add(IdentityMapping(source="github", external_id="octo",
                                       email="ann@example.com"))
        for day in (D[0], D[1], D[2]):
            db.session.add(TeamMember(account_id=account.id, day=day, team_id="7",
                                      login="octo", slug="backend"))
            db.session.add(TeamMember(account_id=account.id, day=day, team_id="7",
                                      login="ghost", slug="backend"))
        db.session.commit()
        dry = invoke(runner, "teams", "sync-github", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert f"added: ann@example.com in backend ({D[0]} → now)" in dry.output
        assert "1 GitHub login(s) without an identity mapping left out: ghost" in dry.output
        assert db.session.scalar(select(func.count()).select_from(Team)) == 0
        assert invoke(runner, "teams", "sync-github").exit_code == 0
        again = invoke(runner, "teams", "sync-github")
        assert "0 memberships added, 0 moved, 0 ended, 0 changed, 1 unchanged" in again.output
        # The next report no longer lists her: the open run closes on the last day she was in.
        db.session.add(TeamMember(account_id=account.id, day=D[3], team_id="7",
                                  login="ghost", slug="backend"))
        db.session.commit()
        closed = invoke(runner, "teams", "sync-github")
        assert "changed: ann@example.com in backend" in closed.output
        assert db.session.scalar(select(TeamMembership.valid_to)) == D[2]
    token = admin(client)
    preview = client.post("/admin/teams/sync/github", data={"csrf_token": token})
    assert "Nothing would change" in preview.get_data(as_text=True)


def test_cursor_billing_groups_from_the_fake_admin_api(app, ctx, client, runner):
    from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin
    from tests.helpers import add_key_account, invoke

    with FakeCursorAdmin() as fake:
        fake.groups.append({
            "id": "group_01", "name": "Platform", "type": "BILLING",
            "currentMembers": [{"userId": "user_1", "email": "Ann@Example.com",
                                "joinedAt": "2026-03-02T10:15:00.000Z", "leftAt": None}],
            "formerMembers": [{"userId": "user_2", "email": "kim@example.com",
                               "joinedAt": "2026-03-02T10:15:00.000Z",
                               "leftAt": "2026-09-03T12:00:00.000Z"}]})
        add_key_account(ctx, runner, "cursor", "team", DEFAULT_KEY, fake.url)
        dry = invoke(runner, "teams", "sync-cursor", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "added: ann@example.com in Platform (2026-03-02 → now)" in dry.output
        assert "added: kim@example.com in Platform (2026-03-02 → 2026-09-02)" in dry.output
        assert db.session.scalar(select(func.count()).select_from(Team)) == 0
        assert invoke(runner, "teams", "sync-cursor").exit_code == 0
        assert "2 unchanged" in invoke(runner, "teams", "sync-cursor").output
        # Ann leaves the group: the API lists her as a former member now.
        fake.groups[0]["formerMembers"].append(dict(fake.groups[0]["currentMembers"].pop(),
                                                    leftAt="2026-10-01T09:00:00.000Z"))
        moved = invoke(runner, "teams", "sync-cursor")
        assert "1 changed" in moved.output
        db.session.expire_all()
        assert db.session.scalar(select(TeamMembership.valid_to).where(
            TeamMembership.person == "ann@example.com")) == date(2026, 9, 30)
        fake.revoke(DEFAULT_KEY)
        refused = invoke(runner, "teams", "sync-cursor")
        assert refused.exit_code != 0 and "Cursor account team" in refused.output
        assert DEFAULT_KEY not in refused.output


# --- chargeback page ------------------------------------------------------------------------

def test_chargeback_page_and_csv_for_finance(app, client, org):
    assert sign_in(client, "finance@example.com").status_code == 303
    with app.app_context():
        db.session.execute(User.__table__.update().where(User.email == "finance@example.com")
                           .values(role="finance"))
        db.session.commit()
    month = D[10].strftime("%Y-%m")
    page = client.get(f"/chargeback?month={month}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Provisional: the month is not over yet" in text
    # Every figure says what it is: billed or estimated usage, not charged, unpriced, seats.
    assert "an estimate (tokens × list prices)" in text and "did not charge counts $0" in text
    assert 'href="/chargeback' in client.get("/").get_data(as_text=True)
    response = client.get(f"/chargeback.csv?month={month}")
    body = response.get_data(as_text=True)
    assert body.splitlines()[0] == "month,cost_centre,tool,usage_usd,seats_usd,total_usd"
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sum(Decimal(r["total_usd"]) for r in rows) == Decimal(
        sum(1 for i in range(10) if D[i].strftime("%Y-%m") == month) * 4)
    assert client.get("/chargeback?month=2026-13").status_code == 400
    assert client.get("/admin/teams").status_code == 403  # finance: no admin actions
