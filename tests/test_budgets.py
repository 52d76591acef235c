"""Budgets: state and forecast by the stated rule, CLI, and alerts end to end through real local
channels (an HTTP receiver and an SMTP server), exactly once per threshold."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from abacus.budgets import service
from abacus.budgets.service import FORECAST_RULE
from abacus.extensions import db
from abacus.models import Budget, BudgetNotification
from abacus.providers.base import UsageRecord
from tests.helpers import seed, sign_in
from tests.test_import_cursor_csv import VARIANTS, write_csv


def _record(day: date, cost: str, person: str = "dev@example.com", tool: str = "cursor",
            model: str = "auto", key: str | None = None, tokens: int = 1000) -> UsageRecord:
    return UsageRecord(
        event_key=key or f"{person}-{tool}-{model}-{day}-{cost}",
        occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC), actor=person,
        email=person, raw_model=model, tool=tool, input_tokens=tokens, output_tokens=0,
        cost_usd=Decimal(cost))


class Receiver:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self):
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(envelope.content.decode("utf8", "replace"))
        return "250 OK"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def inbox():
    box = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd's own start-up check needs one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.url = f"mailto://127.0.0.1:{port}?from=abacus@example.com&to=finance@example.com"
    yield box
    controller.stop()


def test_forecast_follows_the_stated_rule_on_a_hand_computed_case(app, ctx):
    today = date(2026, 6, 10)
    # The 7 complete days before June 10: June 3..9 → 1, 2, 3, 100 (a runaway day), 4, 5, 6.
    costs = {3: "1", 4: "2", 5: "3", 6: "100", 7: "4", 8: "5", 9: "6", 10: "7.5"}
    seed(app, [_record(date(2026, 6, d), c) for d, c in costs.items()]
         + [_record(date(2026, 5, 31), "50")])  # May: outside the period, not in the rate
    service.add_budget("dev", "person:dev@example.com", "month", "500")
    db.session.commit()
    s = service.state(db.session.execute(select(Budget)).scalar_one(), today)
    # Spent June 1..10: 1+2+3+100+4+5+6+7.5 = 128.5. Median of 1,2,3,100,4,5,6 = 4.
    # Forecast = spent through June 9 (121) + 4 × 21 days left (June 10..30) = 205.
    assert s.spent == Decimal("128.5")
    assert s.rate == Decimal(4)
    assert s.forecast == Decimal(205)
    assert s.status == "ok"
    # 50% = $250: 121 + 4 × 33 → July, not this period; crossed thresholds keep their day.
    assert [t.day for t in s.thresholds] == [None, None, None]
    assert "median daily spend of the last 7 complete days" in FORECAST_RULE


def test_status_at_risk_and_over_and_threshold_days(app, ctx):
    today = date(2026, 6, 10)
    seed(app, [_record(date(2026, 6, d), "10") for d in range(1, 11)])
    service.add_budget("org", "org", "month", "250", thresholds="20,50,100")
    db.session.commit()
    s = service.state(db.session.execute(select(Budget)).scalar_one(), today)
    assert s.spent == Decimal(100) and s.forecast == Decimal(90 + 10 * 21)
    assert s.status == "at risk"
    # 20% ($50) was crossed on June 5; 50% ($125): 90 + 10 × 4 → June 13; 100% → June 25.
    assert [(t.percent, t.day, t.crossed) for t in s.thresholds] == [
        (20, date(2026, 6, 5), True), (50, date(2026, 6, 13), False),
        (100, date(2026, 6, 25), False)]
    seed(app, [_record(date(2026, 6, 10), "200", key="big")])
    assert service.state(db.session.get(Budget, s.budget.id), today).status == "over"


def test_scopes_combine_person_and_tool(app, ctx):
    day = date(2026, 3, 2)
    seed(app, [_record(day, "5"), _record(day, "7", tool="claude_code"),
               _record(day, "11", person="ana@example.com")])
    service.add_budget("dev-cursor", "person:Dev@example.com+tool:cursor", "quarter", "100")
    service.add_budget("cursor", "tool:cursor", "quarter", "100")
    db.session.commit()
    spent = {s.budget.name: s.spent for s in service.states(day)}
    assert spent == {"dev-cursor": Decimal(5), "cursor": Decimal(16)}
    assert service.state(db.session.execute(select(Budget).where(
        Budget.name == "cursor")).scalar_one(), day).start == date(2026, 1, 1)


def test_cli_add_list_json_and_clear_errors(app, runner):
    ok = runner.invoke(args=["abacus", "budgets", "add", "--name", "Org", "--scope", "org",
                             "--period", "month", "--amount", "1000", "--counts", "total"])
    assert ok.exit_code == 0, ok.output
    assert "prorated per day held" in ok.output
    team = runner.invoke(args=["abacus", "budgets", "add", "--name", "T", "--scope",
                               "team:core", "--period", "month", "--amount", "10"])
    assert team.exit_code == 1 and "--scope: no team named 'core'" in team.output
    bad = runner.invoke(args=["abacus", "budgets", "add", "--name", "X", "--scope", "org",
                              "--period", "month", "--amount", "ten"])
    assert bad.exit_code == 1 and "--amount" in bad.output and "'ten'" in bad.output
    listed = runner.invoke(args=["abacus", "budgets", "list", "--json"])
    rows = json.loads(listed.output)
    assert [(r["name"], r["spent_usd"], r["forecast_usd"], r["status"]) for r in rows] == [
        ("Org", "0.00", "0.00", "ok")]


def test_notify_urls_are_stored_encrypted(app, ctx):
    secret = "json://127.0.0.1:9/hook-token-s3cret"
    budget = service.add_budget("b", "org", "month", "10", notify_urls=(secret,))
    db.session.commit()
    assert b"s3cret" not in budget.notify_encrypted
    assert service.budget_urls(budget) == (secret,)


def _import(runner, tmp_path, step: int, cost: str):
    header = VARIANTS["v2-team"]
    # Today, a second apart per step: the CSV's natural key is its time, user, kind and model.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:") + f"{step:02d}.000Z"
    row = {"Date": now, "User": "dev@example.com", "Kind": "Usage-based", "Model": "auto",
           "Max Mode": "No", "Input (w/ Cache Write)": "0", "Input (w/o Cache Write)": "10",
           "Cache Read": "0", "Output Tokens": str(step), "Total Tokens": str(10 + step),
           "Cost": cost}
    path = write_csv(tmp_path / f"step{step}.csv", header, [row])
    result = runner.invoke(args=["abacus", "import", "cursor-csv", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_imports_in_steps_alert_once_per_threshold_on_http_and_smtp(app, runner, tmp_path,
                                                                    receiver, inbox):
    added = runner.invoke(args=["abacus", "budgets", "add", "--name", "Dev monthly", "--scope",
                                "person:dev@example.com", "--period", "month", "--amount",
                                "100", "--notify", receiver.url, "--notify", inbox.url])
    assert added.exit_code == 0, added.output

    def titles():
        return sorted(b["title"] for b in receiver.bodies)

    paths = [_import(runner, tmp_path, 1, "30.00")]
    assert titles() == []
    paths.append(_import(runner, tmp_path, 2, "25.00"))  # 55%
    assert titles() == ["Abacus: Dev monthly reached 50% of its budget"]
    paths.append(_import(runner, tmp_path, 3, "30.00"))  # 85%
    paths.append(_import(runner, tmp_path, 4, "20.00"))  # 105%
    assert titles() == sorted(f"Abacus: Dev monthly reached {p}% of its budget"
                              for p in (50, 80, 100))
    assert len(inbox.messages) == 3
    assert sum("reached 100% of its budget" in m for m in inbox.messages) == 1
    body = next(b["message"] for b in receiver.bodies if "100%" in b["title"])
    assert "$105.00" in body and "person dev@example.com" in body and "/budgets" in body

    for path in paths:  # re-running every import changes nothing and sends nothing
        assert runner.invoke(args=["abacus", "import", "cursor-csv", str(path)]).exit_code == 0
    assert runner.invoke(args=["abacus", "budgets", "evaluate"]).exit_code == 0
    assert len(receiver.bodies) == 3 and len(inbox.messages) == 3


def test_a_revision_below_a_threshold_does_not_realert(app, ctx, receiver):
    today = service.org_today()
    service.add_budget("b", "org", "month", "100", notify_urls=(receiver.url,))
    seed(app, [_record(today, "60", key="e1")])
    assert service.evaluate().sent == ["b: threshold 50%"]
    seed(app, [_record(today, "40", key="e1")])  # revised down below 50%
    assert service.evaluate().sent == []
    seed(app, [_record(today, "70", key="e1")])  # and up again
    assert service.evaluate().sent == []
    assert len(receiver.bodies) == 1
    assert db.session.execute(select(BudgetNotification.delivered)).scalars().all() == [1]


def test_forecast_warning_once_per_period_and_global_urls(app, make_app, receiver):
    other = make_app(ABACUS_ALERT_URLS=receiver.url)
    with other.app_context():
        today = service.org_today()
        seed(other, [_record(today - timedelta(days=i), "20") for i in range(1, 8)])
        service.add_budget("b", "org", "quarter", "100000")
        service.add_budget("small", "tool:claude_code", "month", "1")
        db.session.commit()
        budget = db.session.execute(select(Budget).where(Budget.name == "b")).scalar_one()
        budget.amount_usd = service.state(budget).forecast  # forecast exactly at the cap
        db.session.commit()
        first = service.evaluate().sent
        assert "b: forecast 100%" in first
        assert service.evaluate().sent == []
        assert sum("forecast to exceed" in b["title"] for b in receiver.bodies) == 1


def test_budgets_page_shows_rule_progress_and_member_sees_only_own(app, client):
    # No app context held across requests: Flask-Login caches the user in it.
    with app.app_context():
        today = service.org_today()
        seed(app, [_record(today, "25")])
        service.add_budget("Dev budget", "person:dev@example.com", "month", "100")
        service.add_budget("Org budget", "org", "month", "1000")
        db.session.commit()
    sign_in(client, "admin@example.com")
    page = client.get("/budgets").get_data(as_text=True)
    assert "Dev budget" in page and "Org budget" in page
    assert FORECAST_RULE in page and "$25.00" in page and "(25.0%)" in page
    member = app.test_client()
    sign_in(member, "dev@example.com")
    mine = member.get("/budgets").get_data(as_text=True)
    assert "Dev budget" in mine and "Org budget" not in mine and "Add a budget" not in mine
    assert member.post("/budgets", data={"name": "x"}).status_code in (400, 403)
    stranger = app.test_client()
    sign_in(stranger, "ana@example.com")
    assert "Dev budget" not in stranger.get("/budgets").get_data(as_text=True)


def test_forecast_on_the_page_matches_the_rule_on_a_hand_computed_case(app, client):
    with app.app_context():
        today = service.org_today()
        # The 7 complete days before today: 2, 4, 6, 8, 10, 12, 90 → median 8.
        seed(app, [_record(today - timedelta(days=i), c)
                   for i, c in zip(range(1, 8), ("2", "4", "6", "8", "10", "12", "90"),
                                   strict=True)]
             + [_record(today, "3.33")])
        service.add_budget("Org", "org", "month", "100000")
        db.session.commit()
        start, end = service.period_bounds("month", today)
    complete = sum(Decimal(c) for i, c in zip(range(1, 8), ("2", "4", "6", "8", "10", "12", "90"),
                                              strict=True)
                   if today - timedelta(days=i) >= start)
    forecast = complete + 8 * ((end - today).days + 1)
    spent = complete + Decimal("3.33")
    sign_in(client, "admin@example.com")
    page = client.get("/budgets").get_data(as_text=True)
    assert f"<strong>${max(forecast, spent):,.2f}</strong>" in page
    assert "at $8.00/day (median of the last 7 complete days)" in page
    assert (f'forecast ${max(forecast, spent):,.2f} at period end, budget $100,000.00"'
            in page)  # the chart says the same figure


def test_overview_and_person_page_show_budgets_at_risk_and_open_incidents(app, client):
    from abacus.budgets import anomalies

    with app.app_context():
        today = service.org_today()
        seed(app, [_record(today - timedelta(days=i), "10") for i in range(2, 16)]
             + [_record(today - timedelta(days=1), "95", key="spike"), _record(today, "5")])
        service.add_budget("Dev cap", "person:dev@example.com", "month", "20")
        service.add_budget("Roomy", "org", "quarter", "1000000")
        db.session.commit()
        anomalies.detect()
    sign_in(client, "admin@example.com")
    page = client.get("/").get_data(as_text=True)
    assert "Dev cap</a>" in page and "Roomy</a>" not in page  # only budgets not ok
    assert "incident not resolved" in page
    person = client.get("/users/dev@example.com").get_data(as_text=True)
    assert "Dev cap</a>" in person and "the 14-day median" in person
    other = app.test_client()
    sign_in(other, "ana@example.com")
    theirs = other.get("/").get_data(as_text=True)
    assert "Dev cap" not in theirs and "not resolved" not in theirs


def test_alerts_test_command_reaches_the_receiver_and_names_bad_urls(app, runner, receiver):
    ok = runner.invoke(args=["abacus", "alerts", "test", receiver.url])
    assert ok.exit_code == 0 and "test alert sent" in ok.output
    assert receiver.bodies[0]["title"] == "Abacus: test alert"
    bad = runner.invoke(args=["abacus", "alerts", "test", "nosuch://tok3n@x"])
    assert bad.exit_code == 1 and "URL 1 (nosuch://…)" in bad.output
    assert "tok3n" not in bad.output
    refused = runner.invoke(args=["abacus", "alerts", "test", "json://127.0.0.1:9/x"])
    assert refused.exit_code == 1 and "did not accept" in refused.output


def test_account_alerts_go_through_the_same_channels(app, make_app, receiver):
    from abacus.models import Account
    from abacus.sync.alerts import raise_alert

    other = make_app(ABACUS_ALERT_URLS=receiver.url)
    with other.app_context():
        account = Account(provider="cursor", name="team")
        raise_alert(account, "auth_expired", "the admin key was revoked")
    assert receiver.bodies[0]["title"] == "Abacus: team needs attention"
    assert "the admin key was revoked" in receiver.bodies[0]["message"]


def test_cursor_syncs_in_steps_alert_once_per_threshold_and_resyncs_send_none(
        app, ctx, runner, receiver, inbox, monkeypatch):
    import dataclasses

    from abacus import jobs
    from abacus.sync import accounts as accounts_service
    from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin

    monkeypatch.setitem(ctx.config, "ABACUS", dataclasses.replace(
        ctx.config["ABACUS"], cursor_min_request_interval=0.0))  # the session's app: undone
    today = service.org_today()
    noon = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000)
    with FakeCursorAdmin() as fake:
        fake.add_member(1, "dev@example.com", "Dev")
        account = accounts_service.add_account("cursor", "team", {"api_key": DEFAULT_KEY},
                                               {"base_url": fake.url})
        service.add_budget("Cursor", "tool:cursor", "month", "100",
                           notify_urls=(receiver.url, inbox.url))
        db.session.commit()

        def step(i: int, cents: int, via_job: bool = False) -> None:
            fake.add_event(noon + i * 60_000, "dev@example.com", "gpt-5", input=1, output=1,
                           charged_cents=cents)
            if via_job:  # what the worker runs: the same hook
                jobs.sync_account(account.id, first=today.isoformat(), last=today.isoformat())
            else:
                result = runner.invoke(args=["abacus", "sync", "cursor", "--days", "1"])
                assert result.exit_code == 0, result.output

        step(1, 3000)
        step(2, 2500)  # 55%
        step(3, 3000, via_job=True)  # 85%
        step(4, 2000)  # 105%
        for _ in range(2):
            assert runner.invoke(args=["abacus", "sync", "cursor", "--days", "1"]).exit_code == 0
    assert sorted(b["title"] for b in receiver.bodies) == sorted(
        f"Abacus: Cursor reached {p}% of its budget" for p in (50, 80, 100))
    assert len(inbox.messages) == 3


def _seat_csv(tmp_path, rows: str):
    from abacus.seats.assignments import import_seat_csv

    import_seat_csv("email,tool,plan,monthly_usd,from,to\n" + rows, "seats.csv")
    db.session.commit()


def test_total_counts_a_seat_starting_mid_period_prorated_and_forecast_adds_its_period(
        app, ctx, tmp_path):
    today = date(2026, 6, 10)
    seed(app, [_record(date(2026, 6, d), "10") for d in range(1, 11)])
    # $30/month seat from June 6: June has 30 days → $1 a day. Through June 10: 5 days = $5;
    # the whole period June 6..30: 25 days = $25.
    _seat_csv(tmp_path, "dev@example.com,cursor,pro,30,2026-06-06,\n"
                        "ana@example.com,cursor,pro,30,2026-06-01,\n"
                        "dev@example.com,claude,team,31,2026-06-01,\n")
    service.add_budget("dev total", "person:dev@example.com+tool:cursor", "month", "300",
                       counts="total", thresholds="20,50,100")
    service.add_budget("dev seats", "person:dev@example.com+tool:cursor", "month", "300",
                       counts="seats")
    service.add_budget("cursor seats", "tool:cursor", "month", "300", counts="seats")
    db.session.commit()
    got = {s.budget.name: s for s in service.states(today)}
    total = got["dev total"]
    # Usage June 1..10 = $100, seat $5 → spent $105. Usage forecast: $90 through June 9 +
    # $10 × 21 days = $300; + the seat's $25 for the period = $325 → at risk of $300.
    assert total.spent == Decimal(105) and total.seats == Decimal(5)
    assert total.forecast == Decimal(325) and total.status == "at risk"
    # 20% = $60: June 1..5 usage $50; June 6: $50 + $10 + the seat's $1 = $61 → crossed.
    # 50% = $150: through June 9 usage $90 + seat $4 = $94; then each day +$11:
    # June 10 $105, June 11 $116, June 12 $127, June 13 $138, June 14 $149, June 15 $160.
    # 100% = $300: $94 + 11 × n ≥ 300 → n = 19 (June 10 + 18 = June 28, $303).
    assert [(t.percent, t.day, t.crossed) for t in total.thresholds] == [
        (20, date(2026, 6, 6), True), (50, date(2026, 6, 15), False),
        (100, date(2026, 6, 28), False)]
    seats = got["dev seats"]
    assert (seats.spent, seats.forecast, seats.rate) == (Decimal(5), Decimal(25), Decimal(0))
    # Two cursor seats: ana's June 1..10 = $10 + dev's $5; the claude seat is another tool.
    cursor = got["cursor seats"]
    assert (cursor.spent, cursor.forecast) == (Decimal(15), Decimal(55))
    assert "prorated per day held" in cursor.note
    assert (cursor.as_dict()["seats_usd"], cursor.as_dict()["seats_period_usd"]) == (
        "15.00", "55.00")


def test_account_budget_counts_its_provider_seats_not_csv_seats_and_says_so(
        app, ctx, tmp_path):
    from abacus.models import Account, Seat

    account = Account(provider="copilot", name="gh")
    db.session.add(account)
    db.session.flush()
    db.session.add(Seat(account_id=account.id, login="ann-gh", plan="business",
                        seat_created_at=datetime(2026, 6, 1, 12, tzinfo=UTC)))
    _seat_csv(tmp_path, "dev@example.com,copilot,business,30,2026-06-01,\n")
    service.add_budget("acct", "account:gh", "month", "100", counts="seats")
    service.add_budget("org", "org", "month", "100", counts="seats")
    db.session.commit()
    got = {s.budget.name: s for s in service.states(date(2026, 6, 10))}
    # Copilot Business $19/month: June 1..10 = 19 × 10/30 = $6.33; the CSV seat ($30/month,
    # $10 so far) has no account, so only the org budget counts it.
    assert got["acct"].spent == Decimal("6.33") and got["acct"].forecast == Decimal(19)
    assert got["org"].spent == Decimal("16.33")
    assert "not attributable to an account budget" in got["acct"].note
    assert "not attributable" not in got["org"].note


def test_budgets_page_shows_seat_cost_and_the_rule(app, client, tmp_path):
    with app.app_context():
        today = service.org_today()
        start, end = service.period_bounds("month", today)
        _seat_csv(tmp_path, f"dev@example.com,cursor,pro,{(end - start).days + 1},"
                            f"{start.isoformat()},\n")  # $1 a day
        service.add_budget("Seats", "org", "month", "1000", counts="total")
        db.session.commit()
    sign_in(client, "admin@example.com")
    page = client.get("/budgets").get_data(as_text=True)
    held = (today - start).days + 1
    assert f"seats ${held}.00 (prorated seat prices" in page
    assert f"seats ${(end - start).days + 1}.00 for the whole month" in page
    assert "the forecast adds the seat cost of the whole period" in page
    assert "count as $0" not in page


def test_cli_edit_thresholds_does_not_resend_this_periods_alerts_and_delete(
        app, runner, receiver):
    with app.app_context():
        today = service.org_today()
        seed(app, [_record(today, "85")])
    ok = runner.invoke(args=["abacus", "budgets", "add", "--name", "Dev", "--scope",
                             "person:dev@example.com", "--period", "month", "--amount", "100",
                             "--notify", receiver.url])
    assert ok.exit_code == 0, ok.output
    runner.invoke(args=["abacus", "budgets", "evaluate"])
    assert sorted(b["title"] for b in receiver.bodies) == [
        "Abacus: Dev reached 50% of its budget", "Abacus: Dev reached 80% of its budget"]
    # Same thresholds reordered plus a new one; a lower amount moves 100% below the spend.
    edited = runner.invoke(args=["abacus", "budgets", "edit", "Dev", "--thresholds",
                                 "80,50,60,100", "--amount", "85"])
    assert edited.exit_code == 0 and "thresholds [50, 60, 80, 100]" in edited.output
    assert "amount $85" in edited.output
    receiver.bodies.clear()
    runner.invoke(args=["abacus", "budgets", "evaluate"])
    runner.invoke(args=["abacus", "budgets", "evaluate"])
    # 50% and 80% were sent; 60% came in below the 80% alert: recorded, not sent; 100% is
    # newly crossed under the new amount.
    assert [b["title"] for b in receiver.bodies] == ["Abacus: Dev reached 100% of its budget"]
    with app.app_context():
        assert db.session.execute(select(BudgetNotification.message).where(
            BudgetNotification.threshold == 60)).scalar().startswith("not sent: 60% was added")
    bad = runner.invoke(args=["abacus", "budgets", "edit", "Dev", "--amount", "-3"])
    assert bad.exit_code == 1 and "--amount" in bad.output and "'-3'" in bad.output
    missing = runner.invoke(args=["abacus", "budgets", "edit", "Nope", "--amount", "3"])
    assert missing.exit_code == 1 and "no budget named 'Nope'" in missing.output
    url = runner.invoke(args=["abacus", "budgets", "edit", "Dev", "--notify", "nonsense://x"])
    assert url.exit_code == 1 and "--notify: URL 1" in url.output
    with app.app_context():
        assert service.budget_urls(service.get_budget("Dev")) == (receiver.url,)
    cleared = runner.invoke(args=["abacus", "budgets", "edit", "Dev", "--clear-notify"])
    assert cleared.exit_code == 0 and "ABACUS_ALERT_URLS" in cleared.output
    gone = runner.invoke(args=["abacus", "budgets", "delete", "Dev"])
    assert gone.exit_code == 0
    assert json.loads(runner.invoke(args=["abacus", "budgets", "list", "--json"]).output) == []
    with app.app_context():
        assert db.session.execute(select(BudgetNotification)).first() is None
    again = runner.invoke(args=["abacus", "budgets", "delete", "Dev"])
    assert again.exit_code == 1 and "no budget named 'Dev'" in again.output


def test_admin_edits_and_deletes_on_the_page_with_csrf_and_clear_errors(app, client):
    from tests.helpers import csrf_token

    with app.app_context():
        service.add_budget("Org", "org", "month", "100",
                           notify_urls=("json://127.0.0.1:9/tok-s3cret",))
        db.session.commit()
        budget_id = service.get_budget("Org").id
    sign_in(client, "admin@example.com")
    page = client.get("/budgets").get_data(as_text=True)
    assert "Edit or delete" in page and "s3cret" not in page
    token = csrf_token(page)
    assert client.post(f"/budgets/{budget_id}/edit",
                       data={"amount": "250"}).status_code == 400  # no CSRF token
    bad = client.post(f"/budgets/{budget_id}/edit", data={
        "csrf_token": token, "amount": "lots", "thresholds": "50,80"}, follow_redirects=True)
    text = bad.get_data(as_text=True)
    assert bad.status_code == 200
    assert "Budget “Org” not changed: amount: expected USD" in text and "&#39;lots&#39;" in text
    ok = client.post(f"/budgets/{budget_id}/edit", data={
        "csrf_token": token, "amount": "250.50", "thresholds": "25,75", "notify": ""},
        follow_redirects=True).get_data(as_text=True)
    assert "of $250.50" in ok and "25% ($62.62)" in ok and "75% ($187.88)" in ok
    with app.app_context():
        assert service.budget_urls(service.get_budget("Org")) == (
            "json://127.0.0.1:9/tok-s3cret",)  # blank notify keeps the channels
    member = app.test_client()
    sign_in(member, "dev@example.com")
    member_token = csrf_token(member.get("/budgets").get_data(as_text=True))
    assert member.post(f"/budgets/{budget_id}/delete",
                       data={"csrf_token": member_token}).status_code == 403
    gone = client.post(f"/budgets/{budget_id}/delete", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Deleted the budget “Org”" in gone and "No budgets" in gone
    assert client.post(f"/budgets/{budget_id}/delete",
                       data={"csrf_token": token}).status_code == 404
