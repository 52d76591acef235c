"""Seats: the CSV import, prorated seat cost beside usage, the idle list, the commands."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import func, select

from abacus.analytics.overview import UsageCents, overview
from abacus.extensions import db
from abacus.models import Account, Bot, IdentityMapping, Seat, SeatAssignment
from abacus.providers.base import UsageRecord
from abacus.seats.assignments import SeatImportError, import_seat_csv
from abacus.seats.cost import cost_report, cost_totals
from abacus.seats.plans import set_plan_price
from tests.helpers import seed

HEADER = "email,tool,plan,monthly_usd,from,to\n"


def today() -> date:
    return datetime.now(UTC).date()  # the test app's org time zone is UTC


def usage(key: str, day: date, actor: str, cost: str, tool: str = "cursor",
          email: str | None = None) -> UsageRecord:
    return UsageRecord(event_key=key, occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
                       tool=tool, actor=actor, email=email, raw_model="claude-sonnet-4-5",
                       input_tokens=1, cost_usd=Decimal(cost))


def write(tmp_path, text: str, name: str = "seats.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def cost(runner, start: str, end: str) -> dict:
    result = runner.invoke(args=["abacus", "seats", "cost", "--from", start, "--to", end,
                                 "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def idle(runner, days: int = 30) -> dict:
    result = runner.invoke(args=["abacus", "seats", "idle", "--days", str(days), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# --- import --------------------------------------------------------------------------------

def test_import_then_reimport_changes_nothing(ctx, app, runner, tmp_path):
    path = write(tmp_path, HEADER + "ann@example.com,claude,team,,2026-01-01,\n"
                                    "bob@example.com,chatgpt,enterprise,60,2026-01-10,"
                                    "2026-03-31\n")
    first = runner.invoke(args=["abacus", "seats", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert "2 added" in first.output
    before = [(r.holder, r.tool, r.plan, r.monthly_usd, r.valid_from, r.valid_to, r.updated_at)
              for r in db.session.execute(select(SeatAssignment).order_by(
                  SeatAssignment.holder)).scalars()]
    again = runner.invoke(args=["abacus", "seats", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert "0 added, 0 changed, 2 unchanged" in again.output
    db.session.expire_all()
    after = [(r.holder, r.tool, r.plan, r.monthly_usd, r.valid_from, r.valid_to, r.updated_at)
             for r in db.session.execute(select(SeatAssignment).order_by(
                 SeatAssignment.holder)).scalars()]
    assert after == before
    assert before[1][3] == Decimal("60") and before[0][3] is None  # empty: the plan's price


def test_bad_rows_name_row_and_field_and_store_nothing(ctx, app, runner, tmp_path):
    path = write(tmp_path, HEADER + "ann@example.com,claude,team,,2026-01-01,\n"
                                    "bob@example.com,chatgpt,enterprise,,2026-01-10,\n"
                                    "cy@example.com,claude,team,lots,2026-13-01,\n"
                                    "dee@example.com,claude,team,30,2026-02-01,2026-01-01\n")
    result = runner.invoke(args=["abacus", "seats", "import", str(path)])
    assert result.exit_code != 0
    assert "seats.csv row 3, field monthly_usd" in result.output  # enterprise: no price known
    assert "seats.csv row 4, field monthly_usd: “lots”" in result.output
    assert "seats.csv row 4, field from: “2026-13-01” is not a day" in result.output
    assert "seats.csv row 5, field to" in result.output
    assert "Traceback" not in result.output
    assert db.session.scalar(select(func.count()).select_from(SeatAssignment)) == 0


def test_wrong_header_is_refused(ctx):
    with pytest.raises(SeatImportError, match="header must be email,tool,plan"):
        import_seat_csv("mail,tool,plan\nx,y,z\n", "s.csv")


# --- cost ----------------------------------------------------------------------------------

def test_prorating_over_month_boundaries(ctx, app, runner, tmp_path):
    # $31/month from Jan 15 to Feb 14: 17/31 of January ($17.00) and 14/28 of February
    # ($15.50); a whole month costs exactly the monthly price.
    runner.invoke(args=["abacus", "seats", "import", str(write(
        tmp_path, HEADER + "ann@example.com,claude,team,31,2026-01-15,2026-02-14\n"
                           "bob@example.com,claude,team,,2026-01-01,\n"))])
    data = cost(runner, "2026-01-01", "2026-02-28")
    assert data["people"]["ann@example.com"]["seats_usd"] == "32.50"
    assert data["people"]["bob@example.com"]["seats_usd"] == "60.00"  # two months of $30
    assert cost(runner, "2026-01-20", "2026-01-31")["people"]["ann@example.com"] == {
        "seats_usd": "12.00", "usage_usd": "0.00", "total_usd": "12.00"}
    assert data["total"]["seats_usd"] == "92.50"
    assert "ann@example.com" not in cost(runner, "2026-03-01", "2026-03-31")["people"]


def test_plan_change_mid_month(ctx, app, runner, tmp_path):
    # Team ($30) to Premium ($150) on April 16: 15/30 × 30 + 15/30 × 150.
    runner.invoke(args=["abacus", "seats", "import", str(write(
        tmp_path, HEADER + "ann@example.com,claude,team,,2026-03-01,2026-04-15\n"
                           "ann@example.com,claude,team-premium,,2026-04-16,\n"))])
    assert cost(runner, "2026-04-01", "2026-04-30")["people"]["ann@example.com"][
        "seats_usd"] == "90.00"


def test_price_override_from_a_day_splits_the_month(ctx, app, runner, tmp_path):
    runner.invoke(args=["abacus", "seats", "import", str(write(
        tmp_path, HEADER + "ann@example.com,chatgpt,business,,2026-01-01,\n"))])
    result = runner.invoke(args=["abacus", "seats", "price", "chatgpt", "business", "25",
                                 "--from", "2026-06-11"])
    assert result.exit_code == 0, result.output
    # 10 days at $30 + 20 days at $25 in a 30-day June.
    assert cost(runner, "2026-06-01", "2026-06-30")["people"]["ann@example.com"][
        "seats_usd"] == "26.67"


def test_price_override_for_one_account_wins_for_its_seats_only(ctx, app, runner):
    seed(app, [], name="gh1", provider="copilot")
    seed(app, [], name="gh2", provider="copilot")
    accounts = {a.name: a.id for a in db.session.execute(select(Account)).scalars()}
    created = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.add_all([Seat(account_id=accounts["gh1"], login="one", plan="business",
                             seat_created_at=created),
                        Seat(account_id=accounts["gh2"], login="two", plan="business",
                             seat_created_at=created)])
    set_plan_price("copilot", "business", Decimal("15"), date(2026, 1, 1), accounts["gh1"])
    db.session.commit()
    people = cost(runner, "2026-02-01", "2026-02-28")["people"]
    assert people["one"]["seats_usd"] == "15.00" and people["two"]["seats_usd"] == "19.00"


def test_seat_cost_lands_on_person_or_unmapped_identity_beside_usage(ctx, app, runner):
    seed(app, [usage("u1", date(2026, 5, 3), "ann@example.com", "1.234",
                     email="ann@example.com"),
               usage("u2", date(2026, 5, 4), "octo-cat", "2.50", tool="copilot")],
         name="gh", provider="copilot")
    account = db.session.execute(select(Account).where(Account.name == "gh")).scalar_one()
    created = datetime(2026, 4, 1, tzinfo=UTC)
    db.session.add_all([
        Seat(account_id=account.id, login="ann-gh", plan="business", seat_created_at=created),
        Seat(account_id=account.id, login="octo-cat", plan="enterprise",
             seat_created_at=created),
        IdentityMapping(source="github", external_id="ann-gh", email="ann@example.com")])
    db.session.commit()
    data = cost(runner, "2026-05-01", "2026-05-31")
    assert data["people"]["ann@example.com"] == {
        "seats_usd": "19.00", "usage_usd": "1.23", "total_usd": "20.23"}
    assert data["people"]["octo-cat"] == {
        "seats_usd": "39.00", "usage_usd": "2.50", "total_usd": "41.50"}
    assert data["total"]["total_usd"] == "61.73"
    assert data["total"]["per_active_person_usd"] == "30.87"
    # The Overview's card sums in SQL: the same cents, person by person (1.234 -> 1.23).
    totals = cost_totals(date(2026, 5, 1), date(2026, 5, 31))
    assert (totals.total.usage_usd, totals.total.seats_usd) == (Decimal("3.73"),
                                                                 Decimal("58.00"))
    assert totals.active_people == 2 and totals.per_active_person == Decimal("30.87")
    # A bot's usage stays in the total, but it is no one to divide by.
    db.session.add(Bot(person="octo-cat"))
    db.session.commit()
    totals = cost_totals(date(2026, 5, 1), date(2026, 5, 31))
    report = cost_report(date(2026, 5, 1), date(2026, 5, 31))
    assert totals.total == report.total and totals.active_people == report.active_people == 1
    assert totals.people == len(report.people) == 2
    # A seat nobody used counts its holder among the report's people too.
    db.session.add(Seat(account_id=account.id, login="idle-gh", plan="business",
                        seat_created_at=created))
    db.session.commit()
    report = cost_report(date(2026, 5, 1), date(2026, 5, 31))
    assert cost_totals(date(2026, 5, 1), date(2026, 5, 31)).people == len(report.people) == 3
    assert totals.any and not cost_totals(date(2020, 1, 1), date(2020, 1, 31)).any
    # The Overview passes its own per-person sums (one pass for its top people and these).
    ov = overview(date(2026, 5, 1), date(2026, 5, 31))
    assert ov.usage == UsageCents(Decimal("3.73"), 1, 2)
    given = cost_totals(date(2026, 5, 1), date(2026, 5, 31), usage=ov.usage)
    assert (given.total, given.active_people, given.any) == (report.total, 1, True)


# --- idle ----------------------------------------------------------------------------------

def test_idle_list_with_its_exclusions_and_savings(ctx, app, runner, tmp_path):
    t = today()
    long_ago = (t - timedelta(days=200)).isoformat()
    runner.invoke(args=["abacus", "seats", "import", str(write(tmp_path, HEADER + "\n".join([
        f"idle@example.com,cursor,teams,,{long_ago},",
        f"busy@example.com,cursor,teams,,{long_ago},",
        f"new@example.com,cursor,teams,,{(t - timedelta(days=5)).isoformat()},",
        f"away@example.com,claude,team,,{long_ago},",
        f"gone@example.com,claude,team,,{long_ago},{(t - timedelta(days=1)).isoformat()}",
        f"old@example.com,claude,team,28.50,{long_ago},",
    ]) + "\n"))])
    seed(app, [usage("b", t - timedelta(days=3), "busy@example.com", "1",
                     email="busy@example.com"),
               usage("o", t - timedelta(days=40), "old@example.com", "1", tool="claude_code",
                     email="old@example.com")], name="c")
    assert runner.invoke(args=["abacus", "seats", "leave", "away@example.com", "--from",
                               (t - timedelta(days=10)).isoformat()]).exit_code == 0
    data = idle(runner, 30)
    assert data["idle"] == [
        {"email": "old@example.com", "tool": "claude", "plan": "team",
         "last_active": (t - timedelta(days=40)).isoformat(), "monthly_usd": "28.50"},
        {"email": "idle@example.com", "tool": "cursor", "plan": "teams", "last_active": None,
         "monthly_usd": "40.00"}]
    assert data["monthly_savings_usd"] == "68.50"
    assert [r["email"] for r in idle(runner, 50)["idle"]] == ["idle@example.com"]


def test_provider_last_activity_counts(ctx, app, runner):
    seed(app, [], name="gh", provider="copilot")
    account = db.session.execute(select(Account).where(Account.name == "gh")).scalar_one()
    now = datetime.now(UTC)
    db.session.add_all([
        Seat(account_id=account.id, login="active", plan="business",
             seat_created_at=now - timedelta(days=90), last_activity_at=now - timedelta(days=2)),
        Seat(account_id=account.id, login="dormant", plan="business",
             seat_created_at=now - timedelta(days=90),
             last_activity_at=now - timedelta(days=60))])
    db.session.commit()
    assert [r["email"] for r in idle(runner)["idle"]] == ["dormant"]


def test_list_shows_every_source(ctx, app, runner, tmp_path):
    runner.invoke(args=["abacus", "seats", "import", str(write(
        tmp_path, HEADER + "ann@example.com,claude,team,,2026-01-01,\n"))])
    result = runner.invoke(args=["abacus", "seats", "list", "--json"])
    assert json.loads(result.output)["seats"] == [
        {"email": "ann@example.com", "tool": "claude", "plan": "team", "monthly_usd": None,
         "from": "2026-01-01", "to": None, "source": "csv"}]


# --- web -----------------------------------------------------------------------------------

def _sign_in(client, email: str) -> str:
    from tests.helpers import csrf_token, sign_in

    assert sign_in(client, email).status_code == 303
    return csrf_token(client.get("/seats").get_data(as_text=True)) if email.startswith(
        "admin") else ""


def _upload(client, token: str, content: str, name: str = "seats.csv"):
    import io

    return client.post("/seats/upload", data={"csrf_token": token,
                                              "file": (io.BytesIO(content.encode()), name)},
                       content_type="multipart/form-data")


def test_members_get_403_on_seats(app, client):
    _sign_in(client, "member@example.com")
    assert client.get("/seats").status_code == 403
    assert client.get("/seats/idle.csv").status_code == 403
    assert 'href="/seats"' not in client.get("/").get_data(as_text=True)


def test_web_upload_same_file_twice_then_page_and_idle_csv(app, client):
    token = _sign_in(client, "admin@example.com")
    start = (today() - timedelta(days=100)).isoformat()
    content = HEADER + f"ann@example.com,claude,team,,{start},\n"
    first = _upload(client, token, content)
    assert first.status_code == 303
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "1 rows, 1 added" in page
    again = _upload(client, token, content)
    assert "0 added, 0 changed, 1 unchanged" in client.get(
        again.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SeatAssignment)) == 1
    assert "ann@example.com" in page and "$30.00" in page  # idle: never used
    csv_text = client.get("/seats/idle.csv?idle_days=30").get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("person,tool,plan,seat_from_day,last_active_day,monthly_usd")
    assert lines[1].startswith(f"ann@example.com,claude,team,{start},,30.000000")


def test_web_upload_bad_file_names_row_and_field(app, client):
    token = _sign_in(client, "admin@example.com")
    response = _upload(client, token, HEADER + "ann@example.com,claude,team,,2026-02-30,\n")
    assert response.status_code == 400
    assert "seats.csv row 2, field from: “2026-02-30” is not a day" in response.get_data(
        as_text=True)
    assert client.get("/seats?idle_days=abc").status_code == 400


def test_person_and_team_pages_show_usage_seats_total_and_toggle(app, client):
    import re

    d = today() - timedelta(days=2)
    seed(app, [usage("p1", d, "ann@example.com", "5.00", email="ann@example.com")], name="c")
    month_start = d.replace(day=1)
    with app.app_context():
        import_seat_csv(HEADER + f"ann@example.com,claude,team,31,{month_start.isoformat()},\n")
        db.session.commit()
    _sign_in(client, "admin@example.com")
    rng = f"start={d.isoformat()}&end={d.isoformat()}"  # one day of a $31 seat
    import calendar

    seat = (Decimal(31) / calendar.monthrange(d.year, d.month)[1]).quantize(Decimal("0.01"))

    def shown(url: str) -> str:
        body = client.get(url).get_data(as_text=True)
        return re.search(r'id="cost-split-value">([^<]+)<', body).group(1)

    person = f"/users/ann@example.com?{rng}"
    assert shown(person) == f"${seat + 5:.2f}"  # total by default
    assert shown(person + "&cost_basis=seats") == f"${seat:.2f}"
    assert shown(person + "&cost_basis=usage") == "$5.00"
    body = client.get(person).get_data(as_text=True)
    assert "person-seats" in body and "claude" in body and "team" in body
    team = f"/team?{rng}&cost_basis=seats"
    assert shown(team) == f"${seat:.2f}"
    assert "Cost per active person" in client.get(team).get_data(as_text=True)


def test_overview_shows_usage_seats_total_with_toggle_and_cost_per_active_person(app, client):
    import calendar
    import re

    d = today() - timedelta(days=2)
    seed(app, [usage("o1", d, "ann@example.com", "5.00", email="ann@example.com"),
               usage("o2", d, "bob@example.com", "2.01", email="bob@example.com")], name="c")
    with app.app_context():
        import_seat_csv(HEADER + f"ann@example.com,claude,team,31,{d.replace(day=1)},\n"
                                 f"carl@example.com,claude,team,62,{d.replace(day=1)},\n")
        db.session.commit()
    _sign_in(client, "admin@example.com")
    days = calendar.monthrange(d.year, d.month)[1]
    seats = sum((Decimal(p) / days).quantize(Decimal("0.01")) for p in (31, 62))
    url = f"/?start={d.isoformat()}&end={d.isoformat()}"

    def page(basis: str = "") -> str:
        return client.get(url + (f"&cost_basis={basis}" if basis else "")).get_data(
            as_text=True)

    def shown(body: str) -> str:
        return re.search(r'id="cost-split-value">([^<]+)<', body).group(1)

    assert shown(page()) == f"${seats + Decimal('7.01'):.2f}"
    assert shown(page("seats")) == f"${seats:.2f}"
    assert shown(page("usage")) == "$7.01"
    body = page()
    # Two people used something: carl's idle seat still counts in what each active one costs.
    per_active = ((seats + Decimal("7.01")) / 2).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert re.search(rf"Cost per active person \${per_active:.2f}", body)
    assert 'href="/?start=' in body and "cost_basis=seats" in body
    assert shown(page("bogus")) == shown(page("total"))  # an unknown basis falls back


def test_team_csv_seats_and_totals_add_up_to_seats_cost_and_match_person_page(app, client,
                                                                               runner):
    import csv
    import io
    import re

    seed(app, [usage("t1", date(2026, 5, 3), "ann@example.com", "1.234",
                     email="ann@example.com"),
               usage("t2", date(2026, 5, 4), "bob@example.com", "2.005",
                     email="bob@example.com")], name="c")
    with app.app_context():
        # ann: a mid-month plan change; carl: a seat and no usage.
        import_seat_csv(HEADER + "ann@example.com,claude,team,30,2026-04-01,2026-05-09\n"
                                 "ann@example.com,claude,premium,150,2026-05-10,\n"
                                 "carl@example.com,chatgpt,business,25,2026-05-20,\n")
        db.session.commit()
    with app.app_context():
        expected = cost(runner, "2026-05-01", "2026-05-31")
    _sign_in(client, "admin@example.com")
    rng = "start=2026-05-01&end=2026-05-31"
    rows = list(csv.DictReader(io.StringIO(client.get(f"/team.csv?{rng}").get_data(
        as_text=True))))
    by_person = {r["person"]: r for r in rows}
    assert set(by_person) == {"ann@example.com", "bob@example.com", "carl@example.com"}
    assert by_person["carl@example.com"]["tokens"] == "0"  # a seat, no usage: still a row
    # 9 days of $30 and 22 of $150 in a 31-day month, each piece rounded to the cent once.
    assert by_person["ann@example.com"]["seats_usd"] == "115.160000"
    for key in ("seats_usd", "total_usd"):
        column = sum(Decimal(r[key]) for r in rows)
        assert f"{column:.2f}" == expected["total"][key]
        for person, row in by_person.items():
            assert f"{Decimal(row[key]):.2f}" == expected["people"][person][key]
    filtered = list(csv.DictReader(io.StringIO(client.get(f"/team.csv?{rng}&q=carl")
                                               .get_data(as_text=True))))
    assert [r["person"] for r in filtered] == ["carl@example.com"]  # the filter applies
    # The person page's seats section shows the same figures.
    ann = expected["people"]["ann@example.com"]
    body = client.get(f"/users/ann@example.com?{rng}").get_data(as_text=True)
    parts = re.search(r'class="cost-split-parts">(.*?)</span>\s*\n', body, re.S).group(1)
    assert f"Seats ${ann['seats_usd']}" in parts and f"Total ${ann['total_usd']}" in parts
    assert f"Usage ${ann['usage_usd']}" in parts


def test_included_allowances_shown_per_tool_and_person_never_subtracted(app, client, runner):
    import dataclasses
    import re

    d = date(2026, 5, 6)
    copilot = [usage("c1", d, "ann-gh", "12.50", tool="copilot", email="ann@example.com"),
               usage("c2", d + timedelta(days=1), "ann-gh", "3.00", tool="copilot",
                     email="ann@example.com"),
               usage("c3", d, "bob-gh", "4.00", tool="copilot", email="bob@example.com")]
    billed = {"c1": "2.50", "c2": "0", "c3": "4.00"}  # ann: $13.00 of her $15.50 included
    seed(app, [dataclasses.replace(r, extras={"billed_usd": billed[r.event_key]})
               for r in copilot], name="gh", provider="copilot")
    seed(app, [dataclasses.replace(usage("k1", d, "ann@example.com", "0.60",
                                         email="ann@example.com"),
                                   kind="USAGE_EVENT_KIND_INCLUDED_IN_BUSINESS"),
               dataclasses.replace(usage("k2", d, "ann@example.com", "1.40",
                                         email="ann@example.com"),
                                   kind="USAGE_EVENT_KIND_USAGE_BASED")], name="cur")
    with app.app_context():
        import_seat_csv(HEADER + "ann@example.com,copilot,business,19,2026-05-01,\n")
        db.session.commit()
        totals = cost(runner, "2026-05-01", "2026-05-31")
    # Included usage stays in the usage figure: the total is not reduced by it.
    assert totals["people"]["ann@example.com"]["usage_usd"] == "17.50"
    assert totals["people"]["ann@example.com"]["total_usd"] == "36.50"
    _sign_in(client, "admin@example.com")
    rng = "start=2026-05-01&end=2026-05-31"

    def lines(url: str) -> dict[str, str]:
        body = client.get(url).get_data(as_text=True)
        return dict(re.findall(r'data-tool="([^"]+)">.*?included in seats: <strong>([^<]+)<',
                               body))

    assert lines(f"/seats?{rng}") == {"copilot": "$13.00", "cursor": "$0.60"}
    assert lines(f"/users/ann@example.com?{rng}") == {"copilot": "$13.00", "cursor": "$0.60"}
    assert lines(f"/users/bob@example.com?{rng}") == {}  # all of bob's usage was billed
    assert lines("/seats?start=2026-06-01&end=2026-06-30") == {}


def test_seats_page_lists_the_costliest_fifty_and_exports_everyone(app, client):
    day = today() - timedelta(days=1)
    with app.app_context():
        seed(app, [usage(f"k{i}", day, f"p{i:02d}@example.com", f"{i}.00",
                         email=f"p{i:02d}@example.com") for i in range(1, 56)])
    _sign_in(client, "admin@example.com")
    page = client.get("/seats?days=7").get_data(as_text=True)
    table = page.split('seat-cost')[1].split("</table>")[0]
    people = re.findall(r">(p\d\d@example\.com)</a>", table)
    assert people == [f"p{i:02d}@example.com" for i in range(55, 5, -1)]  # costliest first
    assert "the 50 costliest of 55" in page
    assert "$1,540.00" in table  # the total row is everyone's: 1 + 2 + … + 55
    link = re.search(r'href="(/team\.csv\?[^"]+)"', table).group(1).replace("&amp;", "&")
    rows = client.get(link).get_data(as_text=True).splitlines()
    assert rows[0].startswith("person,unmapped,cost_usd,unpriced_events,seats_usd")
    assert len(rows) == 56
