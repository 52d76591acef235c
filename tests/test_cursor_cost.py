"""What a Cursor event cost, the same whichever way it came in (shared/providers/cursor.md
§4.1, §6): not-charged kinds are $0 and never estimated, the token fee is part of the cost
when there is no `chargedCents`, and the 2026 `Requests` export imports whole.

The CSV fixtures are written from the contract's headers and example rows, quoted as Cursor
quotes them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from abacus.extensions import db
from abacus.models import Account, ChangeLog, UsageDaily, UsageEvent
from abacus.providers.base import UsageRecord
from abacus.providers.cursor_events import is_not_charged
from abacus.sync import accounts as accounts_service
from abacus.sync.engine import sync_account
from abacus.usage.imports import ImportFailed, import_cursor_csv
from abacus.usage.ingest import ingest, rebuild_rollups
from abacus.usage.prices import org_today, prices_on
from abacus.usage.pricing import canonical_model
from abacus.usage.pricing import estimate as price_estimate
from tests.fakes.cursor_admin import DEFAULT_KEY, FakeCursorAdmin
from tests.fakes.cursor_dashboard import FakeCursorDashboard
from tests.helpers import sign_in
from tests.test_person_page import rows

REQUESTS_TEAM = ("Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),"
                 "Cache Read,Output Tokens,Total Tokens,Requests")
REQUESTS_PERSONAL = ("Date,Cloud Agent ID,Automation ID,Kind,Model,Max Mode,"
                     "Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
                     "Total Tokens,Requests")
V3_TEAM = ("Date,User,Cloud Agent ID,Automation ID,Kind,Model,Max Mode,Input (w/ Cache Write),"
           "Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost")


def export(path: Path, header: str, rows_: list[list[str]]) -> Path:
    """A file as Cursor writes it: every value double-quoted, a comma inside a Kind."""
    lines = [header] + [",".join(f'"{v}"' for v in row) for row in rows_]
    path.write_text("\n".join(lines) + "\n")
    return path


def events() -> dict[str, UsageEvent]:
    """Stored events by (kind, raw model) — unique in each fixture."""
    return {f"{e.kind}|{e.raw_model}": e
            for e in db.session.execute(select(UsageEvent)).scalars()}


def estimate(raw_model: str, inp: int = 0, out: int = 0, cw: int = 0, cr: int = 0) -> Decimal:
    """The price table's estimate of one Cursor request (one event per request: a big one
    is at the model's long-context rates)."""
    p = prices_on(org_today())[canonical_model(raw_model)]
    return price_estimate(p, inp, out, cw, cr, per_request=True)


def assert_reimport_changes_nothing(path: Path, rows_: int, **kwargs) -> None:
    again = import_cursor_csv(path, **kwargs)
    assert (again.result.inserted, again.result.updated, again.result.unchanged) == (0, 0, rows_)


# --- the rule ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [
    "Errored, Not Charged", "Errored, No Charge", "Aborted, Not Charged", "Free", "free",
    "User API Key", "ERRORED, NO CHARGE", "errored-not-charged", "Aborted (not charged)",
    "USAGE_EVENT_KIND_ERRORED_NOT_CHARGED", "USAGE_EVENT_KIND_ABORTED_NOT_CHARGED",
    "USAGE_EVENT_KIND_FREE_CREDIT", "USAGE_EVENT_KIND_USER_API_KEY",
])
def test_every_not_billed_kind_of_the_contract_is_not_charged(kind):
    assert is_not_charged(kind)


@pytest.mark.parametrize("kind", [
    "Usage-based", "On-Demand", "Included", "Included in Business", "Included in Pro", "",
    "USAGE_EVENT_KIND_USAGE_BASED", "USAGE_EVENT_KIND_INCLUDED_IN_ULTRA", "Freeform",
])
def test_billed_and_included_kinds_are_charged(kind):
    assert not is_not_charged(kind)


# --- CSV: the 2026 Requests export -------------------------------------------------------------

TEAM_2026 = [
    ["2026-02-19T13:00:40.253Z", "developer@company.com", "User API Key",
     "us.anthropic.claude-opus-4-6-v1", "No", "1000", "1000", "5000", "1000", "8000", "1"],
    ["2026-02-18T09:00:00.000Z", "developer@company.com", "Included", "claude-4.5-sonnet",
     "No", "", "", "", "", "", "Free"],
    ["2026-02-18T10:00:00.000Z", "ana@company.com", "On-Demand", "claude-4.5-sonnet-thinking",
     "Yes", "290479", "70868", "3837013", "46434", "4244794", "141.5"],
    ["2026-02-18T11:00:00.000Z", "ana@company.com", "Errored, No Charge", "gpt-5", "No",
     "74113", "14", "425122", "2098", "501347", "-"],
    ["2026-02-17T08:00:00.000Z", "ana@company.com", "Included", "gpt-5-fast", "No",
     "791490", "499887", "19954940", "232369", "21478686", "17.3"],
]


def test_a_2026_requests_team_export_imports_every_row_as_an_event(ctx, tmp_path):
    path = export(tmp_path / "team-2026.csv", REQUESTS_TEAM, TEAM_2026)
    report = import_cursor_csv(path)
    assert (report.rows, report.result.inserted, report.rejected) == (5, 5, 0)
    stored = events()
    # Empty token cells are 0, and the row says its tokens are unknown.
    free = stored["Included|claude-4.5-sonnet"]
    assert (free.input_tokens, free.output_tokens, free.cache_write_tokens,
            free.cache_read_tokens) == (0, 0, 0, 0)
    assert free.extras["tokens_unknown"] is True and free.extras["requests"] == "Free"
    # No money column: priced rows are estimated from their tokens, marked estimated.
    on_demand = stored["On-Demand|claude-4.5-sonnet-thinking"]
    assert on_demand.extras["requests"] == "141.5" and "tokens_unknown" not in on_demand.extras
    assert (on_demand.cost_source, on_demand.cost_usd) == (
        "estimated", estimate("claude-4.5-sonnet", inp=70868, out=46434, cw=290479,
                              cr=3837013))
    # Not charged: $0, never estimated, however many tokens.
    for key in ("Errored, No Charge|gpt-5", "User API Key|us.anthropic.claude-opus-4-6-v1"):
        assert (stored[key].cost_usd, stored[key].cost_source) == (Decimal(0), "not_charged")
    assert stored["Errored, No Charge|gpt-5"].input_tokens == 14
    assert stored["Errored, No Charge|gpt-5"].extras["requests"] == "-"
    assert_reimport_changes_nothing(path, 5)


def test_a_2026_requests_personal_export_from_the_contract_imports(ctx, tmp_path):
    rows_ = [
        ["2026-05-13T09:33:42.386Z", "", "", "Included", "claude-opus-4-7-thinking-max", "No",
         "791490", "499887", "19954940", "232369", "21478686", "1"],
        ["2026-03-24T09:51:28.195Z", "bc-d78b7b31-c4a1-461d-a2aa-9a1e870bdac2", "", "Included",
         "claude-4.6-opus-high-thinking", "Yes", "290479", "70868", "3837013", "46434",
         "4244794", "141.5"],
        ["2026-05-12T06:42:04.874Z", "", "", "Included", "claude-opus-4-7-thinking-max", "No",
         "", "", "", "", "", "Free"],
        ["2026-05-13T01:42:25.617Z", "", "", "Errored, No Charge", "claude-opus-4-7-thinking-max",
         "No", "74113", "14", "425122", "2098", "501347", "-"],
    ]
    path = export(tmp_path / "mine.csv", REQUESTS_PERSONAL, rows_)
    report = import_cursor_csv(path, account_name="my-seat", user="me@example.com")
    assert (report.result.inserted, report.rejected, report.total_mismatch_count) == (4, 0, 0)
    total = db.session.execute(select(func.sum(UsageEvent.input_tokens),
                                      func.sum(UsageEvent.cache_read_tokens))).one()
    assert total == (499887 + 70868 + 14, 19954940 + 3837013 + 425122)
    agent = db.session.execute(select(UsageEvent).where(
        UsageEvent.extras["cloud_agent_id"].astext.is_not(None))).scalar_one()
    assert agent.extras["requests"] == "141.5" and agent.extras["max_mode"] is True
    assert_reimport_changes_nothing(path, 4, account_name="my-seat", user="me@example.com")


def test_unknown_columns_are_ignored_with_one_note(ctx, runner, tmp_path):
    header = REQUESTS_TEAM + ",Subscription Tier,Region"
    path = export(tmp_path / "wider.csv", header, [r + ["business", "eu"] for r in TEAM_2026])
    result = runner.invoke(args=["abacus", "import", "cursor-csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "5 inserted" in result.output
    notes = [line for line in result.output.splitlines() if "Abacus does not read" in line]
    assert notes == ["  note: wider.csv: ignored 2 column(s) Abacus does not read: "
                     "'Subscription Tier', 'Region'"]


def test_the_report_counts_bad_rows_and_names_columns_as_the_file_writes_them(ctx, tmp_path):
    header = REQUESTS_TEAM.replace("Input (w/ Cache Write)", "Input (w/ cache write)")
    rows_ = [list(r) for r in TEAM_2026]
    rows_[1][5], rows_[1][10] = "lots", "many"  # row 3: two bad cells, one bad row
    rows_[3][8] = "1e5"  # row 5
    path = export(tmp_path / "bad.csv", header, rows_)
    with pytest.raises(ImportFailed) as info:
        import_cursor_csv(path)
    report = info.value.report
    assert (report.rows, report.rejected) == (5, 2)
    assert report.problem_lines() == [
        "bad.csv: row 3, column 'Input (w/ cache write)': 'lots' is not a whole number of "
        "tokens",
        "bad.csv: row 3, column 'Requests': 'many' is not a number of requests (or Free, -)",
        "bad.csv: row 5, column 'Output Tokens': '1e5' is not a whole number of tokens",
    ]
    assert report.summary() == "bad.csv: 2 bad row(s) in 5; nothing was imported"
    assert db.session.execute(select(func.count(UsageEvent.id))).scalar_one() == 0


# --- CSV: not-charged rows that carry a Cost; odd Cost cells ------------------------------------

NOT_CHARGED_WITH_COST = [
    ["2026-04-09T07:39:09.091Z", "dev@example.com", "", "", "Errored, No Charge", "composer-2",
     "Yes", "0", "104504", "985600", "3666", "1093770", "0.37"],
    ["2026-04-09T08:00:00.000Z", "dev@example.com", "", "", "Aborted, Not Charged",
     "claude-4.5-sonnet", "No", "0", "1000000", "0", "0", "1000000", "$1.10"],
    ["2026-04-09T09:00:00.000Z", "ana@example.com", "", "", "Errored, Not Charged", "gpt-5",
     "No", "0", "5000", "0", "100", "5100", "0.05"],
    ["2026-04-09T10:00:00.000Z", "ana@example.com", "", "", "free", "claude-4.5-sonnet", "No",
     "0", "2000", "0", "0", "2000", "Included"],
    ["2026-04-09T18:02:13.576Z", "dev@example.com", "", "", "On-Demand", "composer-2", "Yes",
     "0", "43478", "420864", "7957", "472299", "0.11"],
]


def test_not_charged_rows_cost_nothing_whatever_their_cost_cell(ctx, runner, tmp_path):
    path = export(tmp_path / "nc.csv", V3_TEAM, NOT_CHARGED_WITH_COST)
    assert import_cursor_csv(path).result.inserted == 5
    stored = events()
    expected = {"Errored, No Charge|composer-2": "0.370000",
                "Aborted, Not Charged|claude-4.5-sonnet": "1.100000",
                "Errored, Not Charged|gpt-5": "0.050000",
                "free|claude-4.5-sonnet": None}  # `Included` carries no figure
    for key, would_have in expected.items():
        e = stored[key]
        assert (e.cost_usd, e.cost_source) == (Decimal(0), "not_charged"), key
        assert e.extras.get("would_have_cost_usd") == would_have, key
    assert stored["On-Demand|composer-2"].cost_usd == Decimal("0.11")
    daily = db.session.execute(select(func.sum(UsageDaily.cost_usd),
                                      func.sum(UsageDaily.estimated_cost_usd),
                                      func.sum(UsageDaily.not_charged_events))).one()
    assert daily == (Decimal("0.11"), Decimal(0), 4)
    stats = json.loads(runner.invoke(args=["abacus", "stats", "--json"]).output)
    cursor = stats["tools"]["cursor"]
    assert (cursor["events"], cursor["cost_usd"], cursor["not_charged_events"],
            cursor["unpriced_events"]) == (5, "0.11", 4, 0)
    assert stats["tools"]["claude_code"]["not_charged_events"] == 0
    assert_reimport_changes_nothing(path, 5)


def test_included_dollar_and_dash_cost_cells_import(ctx, tmp_path):
    rows_ = [
        ["2026-04-08T10:00:00.000Z", "a@example.com", "", "", "Included", "claude-4.5-sonnet",
         "No", "0", "1000000", "0", "0", "1000000", "Included"],
        ["2026-04-08T11:00:00.000Z", "a@example.com", "", "", "Usage-based", "auto", "No",
         "28342", "775", "105891", "21282", "156290", "$0.42"],
        ["2026-04-08T12:00:00.000Z", "a@example.com", "", "", "Errored, No Charge", "gpt-5",
         "Yes", "0", "104504", "985600", "3666", "1093770", "-"],
        ["2026-04-08T13:00:00.000Z", "b@example.com", "", "", "On-Demand", "gpt-5", "No",
         "0", "10", "0", "10", "20", "$1,234.50"],
    ]
    path = export(tmp_path / "cells.csv", V3_TEAM, rows_)
    report = import_cursor_csv(path)
    assert (report.result.inserted, report.rejected) == (4, 0)
    stored = events()
    included = stored["Included|claude-4.5-sonnet"]
    assert (included.cost_source, included.cost_usd) == (
        "estimated", estimate("claude-4.5-sonnet", inp=1_000_000))
    assert included.extras["cost_label"] == "Included"
    assert (stored["Usage-based|auto"].cost_source, stored["Usage-based|auto"].cost_usd) == (
        "provider", Decimal("0.42"))
    dash = stored["Errored, No Charge|gpt-5"]
    assert (dash.cost_source, dash.cost_usd) == ("not_charged", Decimal(0))
    assert "would_have_cost_usd" not in dash.extras
    assert stored["On-Demand|gpt-5"].cost_usd == Decimal("1234.50")
    assert_reimport_changes_nothing(path, 4)


# --- the two API syncs agree --------------------------------------------------------------------

DAY = date(2026, 11, 20)
T0 = int(datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp() * 1000)

# (kind label, dashboard enum, model, tokens, totalCents, discount %, chargedCents, fee cents)
SAME_USAGE = [
    ("Errored, Not Charged", "USAGE_EVENT_KIND_ERRORED_NOT_CHARGED", "claude-4.5-sonnet",
     (1200, 300, 0, 5000), "249.71", None, "411.39", None),
    ("Aborted, Not Charged", "USAGE_EVENT_KIND_ABORTED_NOT_CHARGED", "gpt-5",
     (4000, 0, 0, 0), None, None, None, None),  # no figures: still $0, never estimated
    ("Usage-based", "USAGE_EVENT_KIND_USAGE_BASED", "gpt-5",
     (126, 450, 6112, 11964), "20.18232", None, None, "1.18"),  # no chargedCents: + fee
    ("Usage-based", "USAGE_EVENT_KIND_USAGE_BASED", "claude-4.5-sonnet",
     (5201, 2048, 0, 30112), "40.167", 10, None, "1.18"),  # discounted, + fee
    ("Usage-based", "USAGE_EVENT_KIND_USAGE_BASED", "claude-4.5-opus",
     (126, 450, 6112, 11964), "20.18232", None, "21.36232", "1.18"),  # fee already in it
]
# What each costs, by the contract's formula (cursor.md §4.1): cents → dollars, NUMERIC(14,6).
EXPECTED = [(Decimal(0), "not_charged", "4.1139", None),
            (Decimal(0), "not_charged", None, None),
            (Decimal("0.213623"), "provider", None, "0.0118"),
            (Decimal("0.373303"), "provider", None, "0.0118"),
            (Decimal("0.213623"), "provider", None, "0.0118")]


def stored_costs(account: Account) -> list[tuple]:
    found = db.session.execute(select(UsageEvent).where(UsageEvent.account_id == account.id)
                               .order_by(UsageEvent.occurred_at)).scalars().all()
    return [(e.cost_usd, e.cost_source, e.extras.get("would_have_cost_usd"),
             e.extras.get("token_fee_usd")) for e in found]


def test_admin_api_and_cookie_syncs_give_the_same_costs(ctx, monkeypatch):
    with FakeCursorAdmin() as admin, FakeCursorDashboard() as dashboard:
        seat = dashboard.add_seat(email="ana@example.com")
        for n, (label, enum, model, tokens, total, off, charged, fee) in enumerate(SAME_USAGE):
            inp, out, cw, cr = tokens
            amounts = {"total_cents": Decimal(total) if total else None,
                       "charged_cents": Decimal(charged) if charged else None}
            extra = {"cursorTokenFee": Decimal(fee)} if fee else {}
            api_event = admin.add_event(T0 + n * 1000, "ana@example.com", model, label,
                                        input=inp, output=out, cache_write=cw, cache_read=cr,
                                        token_based=total is not None, **amounts, **extra)
            seat_event = seat.add_event(T0 + n * 1000, model, enum, input=inp, output=out,
                                        cache_write=cw, cache_read=cr, **amounts, **extra)
            if total is None:  # the Admin API sends no tokenUsage then; keep the tokens
                api_event["tokenUsage"] = {"inputTokens": inp}
            if off:
                api_event["tokenUsage"]["discountPercentOff"] = off
                seat_event["tokenUsage"]["discountPercentOff"] = off
        monkeypatch.setattr(dashboard, "origin", dashboard.url)
        team = accounts_service.add_account("cursor", "team", {"api_key": DEFAULT_KEY},
                                            {"base_url": admin.url,
                                             "min_request_interval": 0})
        pro = accounts_service.add_account("cursor_session", "ana-pro",
                                           {"cookie": seat.cookie},
                                           {"base_url": dashboard.url,
                                            "min_request_interval": 0})
        db.session.commit()
        for account in (team, pro):
            outcome = sync_account(account.id, first=DAY, last=DAY)
            assert outcome.inserted == 5, outcome
        db.session.expire_all()
        assert stored_costs(team) == stored_costs(pro) == EXPECTED
        # The not-charged rows keep their tokens.
        tokens = db.session.execute(select(func.sum(UsageEvent.input_tokens)).where(
            UsageEvent.cost_source == "not_charged")).scalar_one()
        assert tokens == 2 * (1200 + 4000)
        # Syncing again changes nothing.
        for account in (team, pro):
            again = sync_account(account.id, first=DAY, last=DAY)
            assert (again.inserted, again.updated) == (0, 0)


# --- what a person sees --------------------------------------------------------------------------

def test_raw_usage_shows_not_charged_rows_and_the_token_fee(app, client, tmp_path):
    when = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0,
                                                           microsecond=0)
    with FakeCursorAdmin() as admin:
        ms = int(when.timestamp() * 1000)
        admin.add_event(ms, "alice@example.com", "gpt-5", "Errored, Not Charged",
                        input=5000, total_cents=Decimal("249.71"),
                        charged_cents=Decimal("411.39"))
        admin.add_event(ms + 1000, "alice@example.com", "claude-4.5-sonnet", "Usage-based",
                        input=126, total_cents=Decimal("20.18232"),
                        cursorTokenFee=Decimal("1.18"))
        with app.app_context():
            team = accounts_service.add_account("cursor", "team", {"api_key": DEFAULT_KEY},
                                                {"base_url": admin.url,
                                                 "min_request_interval": 0})
            db.session.commit()
            assert sync_account(team.id, first=when.date(), last=when.date()).inserted == 2
    sign_in(client)
    listed = rows(client.get("/users/alice@example.com?days=7&tab=raw&tool=cursor"),
                  "person-raw-table")
    errored = next(r for r in listed if "Errored, Not Charged" in r)
    assert "$0.00" in errored and "would have been $4.11" in errored
    assert errored.endswith("not charged")
    billed = next(r for r in listed if "Usage-based" in r)
    assert "$0.21" in billed and "incl. $0.01 fee" in billed and billed.endswith("reported")


# --- events stored before the rule ---------------------------------------------------------------

def rollup_rows() -> dict[str, list[tuple]]:
    """Every rollup table's rows in a stable order, for comparing two states."""
    out = {}
    for table in ("usage_daily", "usage_person_daily", "usage_day_totals",
                  "usage_person_blocks"):
        cols = [c for c in db.session.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
            "AND column_name <> 'id' ORDER BY column_name"), {"t": table}).scalars()]
        out[table] = sorted(tuple(map(str, r)) for r in db.session.execute(text(
            f"SELECT {', '.join(cols)} FROM {table}")))
    return out


def test_the_migration_zeroes_not_charged_events_stored_before_it(app):
    from flask_migrate import downgrade, upgrade

    def old(key: str, day: int, kind: str, cost: str | None, who: str = "ann@example.com",
            tool: str = "cursor") -> UsageRecord:
        # What the importer and the Admin API sync stored before: the row's figure as given.
        return UsageRecord(event_key=key, occurred_at=datetime(2026, 3, day, 12, tzinfo=UTC),
                           tool=tool, actor=who, email=who, raw_model="claude-4.5-sonnet",
                           kind=kind, input_tokens=1000, output_tokens=100,
                           cost_usd=Decimal(cost) if cost else None)

    with app.app_context():
        team = Account(provider="cursor", name="team")
        db.session.add(team)
        db.session.flush()
        ingest(team, [old("e1", 2, "Errored, No Charge", "0.37"),
                      old("e2", 2, "Usage-based", "0.11"),
                      old("e3", 9, "Aborted, Not Charged", None),  # was estimated
                      old("e4", 9, "Included", None, who="bob@example.com"),
                      old("e5", 9, "Errored, Not Charged", "1.50", tool="claude_code")])
        db.session.commit()
        db.session.remove()
        downgrade(revision="0009_interrupted")
        upgrade()
        stored = {e.event_key: e for e in db.session.execute(select(UsageEvent)).scalars()}
        assert (stored["e1"].cost_usd, stored["e1"].cost_source) == (Decimal(0), "not_charged")
        assert stored["e1"].extras["would_have_cost_usd"] == "0.370000"
        assert (stored["e3"].cost_usd, stored["e3"].cost_source) == (Decimal(0), "not_charged")
        assert "would_have_cost_usd" not in stored["e3"].extras
        assert stored["e2"].cost_usd == Decimal("0.11")
        assert stored["e4"].cost_source == "estimated"
        assert stored["e5"].cost_usd == Decimal("1.50")  # not a Cursor event: untouched
        changes = db.session.execute(select(func.count(ChangeLog.id))).scalar_one()
        assert changes == 2 + 1 + 2  # e1: cost, source, extras; e3: cost, source
        # The rollups the migration patched are what a full rebuild computes.
        migrated = rollup_rows()
        rebuild_rollups()
        assert rollup_rows() == migrated
        assert db.session.execute(select(func.sum(UsageDaily.not_charged_events))
                                  ).scalar_one() == 2
        db.session.commit()
