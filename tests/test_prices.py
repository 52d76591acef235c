"""The price engine: effective-dated prices, tiers, `flask abacus pricing show|update`, the
weekly job, and Admin → Pricing. LiteLLM's table is served by a fake HTTP server."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abacus import jobs
from abacus.extensions import db
from abacus.models import Account, ChangeLog, ModelPrice, UsageDaily, UsageEvent
from abacus.providers.anthropic import claude_code_records
from abacus.providers.base import UsageRecord
from abacus.usage.ingest import ingest, reestimate_model
from abacus.usage.prices import org_today, price_on
from abacus.usage.pricing import (
    FAR_PAST,
    Price,
    estimate,
    load_shipped_prices,
    price_from_litellm,
)
from tests.fakes.litellm import SONNET_45, FakeLiteLLM
from tests.test_admin import notice_after, post, sign_in, text_of

M = 1_000_000


@pytest.fixture
def litellm():
    with FakeLiteLLM() as fake:
        yield fake


def _account(provider: str = "cursor", name: str = "team") -> Account:
    acc = Account(provider=provider, name=name)
    db.session.add(acc)
    db.session.flush()
    return acc


def _event(key: str, day: date, *, model: str = "claude-sonnet-4-5-20250929",
           tool: str = "cursor", inp: int = 100_000, out: int = 0, cw: int = 0, cr: int = 0,
           cost: Decimal | None = None, extras: dict | None = None) -> UsageRecord:
    return UsageRecord(event_key=key, occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
                       tool=tool, actor="ann@example.com", email="ann@example.com",
                       raw_model=model, input_tokens=inp, output_tokens=out,
                       cache_write_tokens=cw, cache_read_tokens=cr, cost_usd=cost,
                       extras=extras or {})


def _costs() -> dict[str, tuple[Decimal | None, str]]:
    return {e.event_key: (e.cost_usd, e.cost_source)
            for e in db.session.execute(select(UsageEvent)).scalars()}


def _price_row(model: str, valid_from: date, source: str, inp: str, out: str = "15",
               **extra) -> ModelPrice:
    row = ModelPrice(model=model, valid_from=valid_from, source=source, input=Decimal(inp),
                     output=Decimal(out), cache_write_5m=Decimal(inp) * Decimal("1.25"),
                     cache_read=Decimal(inp) / 10, **extra)
    db.session.add(row)
    db.session.flush()
    return row


# --- effective dating ---------------------------------------------------------------------------

def test_event_before_and_after_a_price_change_is_estimated_with_its_own_days_price(ctx):
    change = date(2026, 6, 1)
    _price_row("sonnet-4.5", change, "updated", "4")
    acc = _account()
    ingest(acc, [_event("before", change - timedelta(days=1)), _event("on", change),
                 _event("after", change + timedelta(days=30))])
    # 100K input tokens: $3/M on the shipped price before the change, $4/M from its day on.
    assert _costs() == {"before": (Decimal("0.300000"), "estimated"),
                        "on": (Decimal("0.400000"), "estimated"),
                        "after": (Decimal("0.400000"), "estimated")}
    daily = dict(db.session.execute(select(UsageDaily.day, UsageDaily.estimated_cost_usd)).all())
    assert daily[change - timedelta(days=1)] == Decimal("0.3")
    assert daily[change] == Decimal("0.4")


def test_a_model_first_priced_by_an_update_is_unpriced_before_it(ctx):
    _price_row("opus-9", date(2026, 6, 1), "updated", "20")
    ingest(_account(), [_event("old", date(2026, 5, 31), model="claude-opus-9"),
                        _event("new", date(2026, 6, 1), model="claude-opus-9")])
    assert _costs() == {"old": (None, "unpriced"), "new": (Decimal("2.000000"), "estimated")}


def test_an_override_wins_from_its_day_on_even_over_later_updates(ctx):
    _price_row("sonnet-4.5", date(2026, 3, 1), "override", "1")
    _price_row("sonnet-4.5", date(2026, 6, 1), "updated", "4")
    assert price_on("sonnet-4.5", date(2026, 2, 28)).source == "shipped"
    assert price_on("sonnet-4.5", date(2026, 3, 1)).input == Decimal("1")
    later = price_on("sonnet-4.5", date(2026, 7, 1))
    assert (later.source, later.input, later.valid_from) == ("override", Decimal("1"),
                                                             date(2026, 3, 1))
    assert price_on("no-such-model", date(2026, 7, 1)) is None


def test_reestimation_after_a_change_only_touches_days_from_its_valid_from(ctx):
    acc = _account()
    ingest(acc, [_event("may", date(2026, 5, 20)), _event("june", date(2026, 6, 10)),
                 _event("reported", date(2026, 6, 10), cost=Decimal("9.99"))])
    _price_row("sonnet-4.5", date(2026, 6, 1), "updated", "4")
    result = reestimate_model("sonnet-4.5", since=date(2026, 6, 1))
    assert (result.examined, result.changed, result.days_refreshed) == (1, 1, 1)
    assert _costs() == {"may": (Decimal("0.300000"), "estimated"),
                        "june": (Decimal("0.400000"), "estimated"),
                        "reported": (Decimal("9.990000"), "provider")}
    changes = db.session.execute(select(ChangeLog.field, ChangeLog.old_value,
                                        ChangeLog.new_value)).all()
    assert [tuple(c) for c in changes] == [("cost_usd", "0.300000", "0.400000")]
    # Re-sending the same events with the price table as it is now changes nothing.
    again = ingest(acc, [_event("may", date(2026, 5, 20)), _event("june", date(2026, 6, 10))])
    assert (again.updated, again.unchanged) == (0, 2)


# --- tiers --------------------------------------------------------------------------------------

def test_one_hour_cache_writes_cost_more_than_five_minute_ones(ctx):
    """Anthropic reports 5-minute and 1-hour writes apart; each is priced at its own rate."""
    day = date(2026, 6, 1)

    def report(actor: str, five: int, hour: int) -> dict:
        return {"date": f"{day.isoformat()}T00:00:00Z",
                "actor": {"type": "user_actor", "email_address": actor},
                "model_breakdown": [{"model": "claude-sonnet-4-5-20250929",
                                     "tokens": {"input": 0, "output": 0, "cache_read": 0,
                                                "cache_creation": {
                                                    "ephemeral_5m_input_tokens": five,
                                                    "ephemeral_1h_input_tokens": hour}}}]}

    records = (claude_code_records(report("five@example.com", M, 0), day)
               + claude_code_records(report("hour@example.com", 0, M), day)
               + claude_code_records(report("both@example.com", M, M), day))
    assert [r.cache_write_tokens for r in records] == [M, M, 2 * M]
    assert records[1].extras["cache_write_1h_tokens"] == M
    ingest(_account("anthropic", "org"), records)
    costs = {e.actor: e.cost_usd for e in db.session.execute(select(UsageEvent)).scalars()}
    # Sonnet 4.5: 5-minute writes $3.75, 1-hour writes $6 (2x input) per 1M tokens.
    assert costs == {"five@example.com": Decimal("3.75"), "hour@example.com": Decimal("6"),
                     "both@example.com": Decimal("9.75")}


def test_one_hour_rate_defaults_to_twice_input_unless_the_table_says_otherwise():
    price = Price(Decimal(3), Decimal(15), Decimal("3.75"), Decimal("0.3"))
    assert estimate(price, 0, 0, M, 0, cache_write_1h_tokens=M) == Decimal("6")
    cheaper = Price(Decimal(3), Decimal(15), Decimal("3.75"), Decimal("0.3"),
                    cache_write_1h=Decimal("5"))
    assert estimate(cheaper, 0, 0, M, 0, cache_write_1h_tokens=M) == Decimal("5")


def test_long_context_rates_apply_to_big_requests_only_and_never_to_daily_aggregates(ctx):
    _price_row("sonnet-4.5", FAR_PAST + timedelta(days=1), "updated", "3",
               long_context_threshold=200_000, long_input=Decimal("6"),
               long_output=Decimal("22.5"))
    day = date(2026, 6, 1)
    big = {"inp": 150_000, "cr": 60_000, "out": 10_000}  # 210K input side: above 200K
    small = {"inp": 150_000, "cr": 40_000, "out": 10_000}  # 190K: base rates
    ingest(_account(), [_event("big", day, **big), _event("small", day, **small)])
    ingest(_account("anthropic", "org"),
           [_event("daily", day, tool="claude_code", **big)])
    costs = _costs()
    # big: 150K x $6 + 60K x $0.60 (cache read scaled like input) + 10K x $22.50
    assert costs["big"] == (Decimal("1.161000"), "estimated")
    # small: 150K x $3 + 40K x $0.30 + 10K x $15
    assert costs["small"] == (Decimal("0.612000"), "estimated")
    # A per-day Claude Code row cannot know its requests: base tier.
    assert costs["daily"] == (Decimal("0.618000"), "estimated")


def test_fast_mode_multiplies_the_price_when_the_provider_reports_it(ctx):
    _price_row("sonnet-4.5", FAR_PAST + timedelta(days=1), "updated", "3",
               fast_multiplier=Decimal(2))
    day = date(2026, 6, 1)
    ingest(_account(), [_event("normal", day, inp=0, out=M),
                        _event("fast", day, model="claude-sonnet-4-5-fast", inp=0, out=M),
                        _event("speed", day, inp=0, out=M, extras={"speed": "fast"}),
                        _event("priority", day, inp=0, out=M,
                               extras={"service_tier": "priority"})])
    costs = _costs()
    assert costs["normal"] == (Decimal("15.000000"), "estimated")
    assert costs["fast"] == costs["speed"] == costs["priority"] == (Decimal("30.000000"),
                                                                    "estimated")
    assert db.session.execute(select(UsageEvent.model).where(
        UsageEvent.event_key == "fast")).scalar_one() == "sonnet-4.5"


def test_python_and_sql_estimates_agree(ctx):
    price = Price(Decimal("3"), Decimal("15"), Decimal("3.75"), Decimal("0.3"),
                  long_threshold=200_000, long_input=Decimal("6"), long_output=Decimal("22.5"),
                  fast_multiplier=Decimal("1.5"), source="updated",
                  valid_from=FAR_PAST + timedelta(days=1))
    _price_row("sonnet-4.5", price.valid_from, "updated", "3", long_context_threshold=200_000,
               long_input=Decimal("6"), long_output=Decimal("22.5"),
               fast_multiplier=Decimal("1.5"))
    cases = [(123_457, 9_876, 54_321, 77_777, 11_111, ""), (1, 3, 5, 7, 0, "-fast"),
             (250_001, 1, 0, 0, 0, ""), (100_000, 0, 60_000, 50_000, 70_000, "-fast")]
    records = [_event(f"c{i}", date(2026, 6, 1), model="claude-sonnet-4-5" + suffix, inp=i_,
                      out=o, cw=w, cr=r, extras={"cache_write_1h_tokens": h})
               for i, (i_, o, w, r, h, suffix) in enumerate(cases)]
    ingest(_account(), records)
    stored = _costs()
    for i, (i_, o, w, r, h, suffix) in enumerate(cases):
        want = estimate(price, i_, o, w, r, cache_write_1h_tokens=h, per_request=True,
                        fast=bool(suffix))
        assert stored[f"c{i}"] == (want, "estimated"), cases[i]


def test_price_from_litellm_reads_every_tier():
    price = price_from_litellm(SONNET_45)
    assert (price.input, price.output, price.cache_write, price.write_1h, price.cache_read) == (
        Decimal(3), Decimal(15), Decimal("3.75"), Decimal(6), Decimal("0.3"))
    rates = price.rates()
    assert rates.threshold == 200_000
    assert rates.long == (Decimal(6), Decimal("22.5"), Decimal("7.5"), Decimal(12),
                          Decimal("0.6"))
    openai = price_from_litellm({"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
                                 "input_cost_per_token_priority": 2.5e-06})
    assert (openai.cache_write, openai.cache_read, openai.fast_multiplier) == (
        Decimal("1.25"), Decimal("1.25"), Decimal(2))  # no write charge, no cache discount
    with pytest.raises(ValueError, match="output_cost_per_token is missing"):
        price_from_litellm({"input_cost_per_token": 1e-06})
    with pytest.raises(ValueError, match="input_cost_per_token: not a number"):
        price_from_litellm({"input_cost_per_token": "cheap", "output_cost_per_token": 1e-06})


# --- pricing update -----------------------------------------------------------------------------

def _count_rows(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(ModelPrice)).scalar()


def _seed_sonnet_days(app) -> tuple[date, date]:
    with app.app_context():
        today = org_today()
        yesterday = today - timedelta(days=1)
        # 100K input tokens: below Sonnet's long-context threshold.
        ingest(_account(), [_event("yesterday", yesterday), _event("today", today)])
        db.session.commit()
        return yesterday, today


def test_update_dry_run_lists_the_differences_and_stores_nothing(app, runner, litellm):
    litellm.catalog["claude-sonnet-4-5"]["input_cost_per_token"] = 4e-06
    litellm.catalog["claude-sonnet-4-5-20250929"]["input_cost_per_token"] = 4e-06
    litellm.catalog["claude-opus-9"] = {"litellm_provider": "anthropic", "mode": "chat",
                                        "input_cost_per_token": 2e-05,
                                        "output_cost_per_token": 1e-04}
    _seed_sonnet_days(app)
    result = runner.invoke(args=["abacus", "pricing", "update", "--url", litellm.price_url,
                                 "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:2] == ["new", "opus-9"] and "input $20, output $100" in line
               for line in lines), result.output
    sonnet = [line for line in lines if line.split()[:2] == ["changed", "sonnet-4.5"]]
    assert len(sonnet) == 1 and "input $3, output $15" in sonnet[0] \
        and "->  input $4, output $15" in sonnet[0]
    for ignored in ("haiku-4.5", "text-embedding", "gpt-4o-mini", "bedrock"):
        assert ignored not in result.output  # unchanged, not a chat model, a fine-tune, a copy
    assert result.output.rstrip().endswith("Dry run: nothing stored.")
    assert _count_rows(app) == 0
    with app.app_context():
        assert {k: v[0] for k, v in _costs().items()} == {"yesterday": Decimal("0.300000"),
                                                          "today": Decimal("0.300000")}


def test_update_stores_rows_from_today_and_reestimates_only_from_today(app, runner, litellm):
    for key in ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"):
        litellm.catalog[key]["input_cost_per_token"] = 4e-06
    yesterday, today = _seed_sonnet_days(app)
    result = runner.invoke(args=["abacus", "pricing", "update", "--url", litellm.price_url])
    assert result.exit_code == 0, result.output
    assert (f"re-estimated 1 event(s) on 1 day(s) from {today.isoformat()} "
            "(earlier days keep their estimates)") in result.output
    with app.app_context():
        assert _costs() == {"yesterday": (Decimal("0.300000"), "estimated"),
                            "today": (Decimal("0.400000"), "estimated")}
        row = db.session.execute(select(ModelPrice).where(
            ModelPrice.model == "sonnet-4.5")).scalar_one()
        assert (row.source, row.valid_from, row.input, row.note) == (
            "updated", today, Decimal("4"), "LiteLLM claude-sonnet-4-5")
        stored = _count_rows(app)
    # Running it again changes nothing.
    again = runner.invoke(args=["abacus", "pricing", "update", "--url", litellm.price_url])
    assert again.exit_code == 0 and "Nothing to store: every price is current." in again.output
    assert _count_rows(app) == stored


def test_pricing_show_on_a_past_day_shows_the_old_price(app, runner, litellm):
    for key in ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"):
        litellm.catalog[key]["input_cost_per_token"] = 4e-06
    with app.app_context():
        today = org_today()
    assert runner.invoke(args=["abacus", "pricing", "update", "--url",
                               litellm.price_url]).exit_code == 0
    past = runner.invoke(args=["abacus", "pricing", "show", "claude-sonnet-4-5-20250929",
                               "--on", (today - timedelta(days=1)).isoformat(), "--json"])
    assert past.exit_code == 0, past.output
    old = json.loads(past.output)
    assert (old["model"], old["input"], old["output"], old["cache_read"], old["cache_write_5m"],
            old["cache_write_1h"], old["source"], old["valid_from"]) == (
        "sonnet-4.5", "3", "15", "0.3", "3.75", "6", "shipped", "1970-01-01")
    new = json.loads(runner.invoke(args=["abacus", "pricing", "show", "sonnet-4.5",
                                         "--json"]).output)
    assert (new["input"], new["source"], new["valid_from"]) == ("4", "updated",
                                                                today.isoformat())
    # The fake's Sonnet entry has a long-context tier: shown with its threshold.
    assert new["long_context"] == {"above_input_tokens": 200000, "input": "6",
                                   "output": "22.5", "cache_write_5m": "7.5",
                                   "cache_write_1h": "12", "cache_read": "0.6"}
    text = runner.invoke(args=["abacus", "pricing", "show", "sonnet-4.5"]).output
    assert f"sonnet-4.5 on {today.isoformat()}: updated price, valid from {today}" in text
    assert "cache_write_1h  $6" in text and "above 200,000 input tokens per request" in text


def test_pricing_show_unknown_model_exits_nonzero_with_no_price(runner):
    result = runner.invoke(args=["abacus", "pricing", "show", "mystery-model-9"])
    assert result.exit_code != 0 and "no price for mystery-model-9" in result.output
    bad = runner.invoke(args=["abacus", "pricing", "show", "gpt-5", "--on", "yesterday"])
    assert bad.exit_code != 0 and "“yesterday” is not a day" in bad.output


@pytest.mark.parametrize("setup, message", [
    (lambda f: f.fail_next(404, {"message": "Not Found"}), "HTTP 404"),
    (lambda f: f.fail_next(500, times=10), "HTTP 500"),
    (lambda f: f.fail_next(200, "<html>maintenance</html>"), "expected JSON"),
    (lambda f: f.fail_next(200, {"data": []}), "not a LiteLLM price table"),
])
def test_update_from_a_bad_url_says_why_and_stores_nothing(app, runner, litellm, setup,
                                                           message):
    setup(litellm)
    result = runner.invoke(args=["abacus", "pricing", "update", "--url",
                                 litellm.price_url + "?token=s3cret"])
    assert result.exit_code != 0
    assert message in result.output and "nothing was stored" in result.output
    assert "s3cret" not in result.output  # the query string may hold a token
    assert _count_rows(app) == 0


def test_update_from_an_unreachable_or_non_http_url_fails_cleanly(app, runner):
    down = runner.invoke(args=["abacus", "pricing", "update", "--url",
                               "http://127.0.0.1:9/prices.json"])
    assert down.exit_code != 0 and "could not connect" in down.output
    ftp = runner.invoke(args=["abacus", "pricing", "update", "--url", "ftp://example.com/p"])
    assert ftp.exit_code != 0 and "not an http(s) URL" in ftp.output
    assert _count_rows(app) == 0


def test_update_waits_out_a_rate_limit(app, runner, litellm):
    litellm.fail_next(429, {"error": "slow down"}, headers={"Retry-After": "0"})
    litellm.fail_next(429, {"error": "slow down"})  # no Retry-After: backoff
    result = runner.invoke(args=["abacus", "pricing", "update", "--url", litellm.price_url,
                                 "--dry-run"])
    assert result.exit_code == 0, result.output
    assert len(litellm.requests) == 3


def test_weekly_job_is_scheduled_only_when_enabled_and_updates(app, make_app, litellm):
    assert "abacus-schedule-pricing" not in {s.id for s in jobs.schedules(app.config["ABACUS"])}
    enabled = make_app(ABACUS_PRICING_AUTO_UPDATE="1", ABACUS_PRICING_URL=litellm.price_url)
    schedule = {s.id: s for s in jobs.schedules(enabled.config["ABACUS"])}[
        "abacus-schedule-pricing"]
    assert (schedule.cron, schedule.func) == ("0 5 * * 1", "abacus.jobs.update_prices")
    litellm.catalog["claude-opus-9"] = {"litellm_provider": "anthropic", "mode": "chat",
                                        "input_cost_per_token": 2e-05,
                                        "output_cost_per_token": 1e-04}
    with enabled.app_context():
        report = jobs.update_prices()
    assert "opus-9" in report["new_models"] and report["stored"] >= 1
    with app.app_context():
        assert price_on("opus-9", org_today()).input == Decimal(20)


# --- Admin → Pricing ----------------------------------------------------------------------------

def test_admin_pricing_shows_source_valid_from_and_unpriced_models(app, client, runner, litellm):
    for key in ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"):
        litellm.catalog[key]["input_cost_per_token"] = 4e-06
    with app.app_context():
        today = org_today()
        ingest(_account(), [_event("s", today), _event("m1", today, model="mystery-model-9"),
                            _event("m2", today, model="mystery-model-9")])
        db.session.commit()
    assert runner.invoke(args=["abacus", "pricing", "update", "--url",
                               litellm.price_url]).exit_code == 0
    token = sign_in(client)
    page = text_of(client.get("/admin/pricing"))
    assert "mystery-model-9 unpriced — 2 2" in page  # unpriced models with their event counts
    assert f"sonnet-4.5 updated {today.isoformat()} 1 0" in page
    assert f"sonnet-4.5 1 earlier price updated {today.isoformat()} $4.00 $15.00" in page
    assert "haiku-4.5 shipped always $1.00 $5.00 $1.25 $2.00 $0.10" in page
    assert "Per-day reports (Claude Code)" in page

    # An override from a chosen day: earlier days keep their estimates.
    response = post(client, "/admin/pricing", token, model="mystery-model-9", input="2",
                    output="8", cache_write="2.5", cache_read="0.2",
                    valid_from=today.isoformat())
    notice = notice_after(client, response)
    assert (f"2 of 2 estimated or unpriced events from {today.isoformat()} (earlier days keep "
            "their estimates) re-estimated on 1 day(s)") in notice
    assert f"mystery-model-9 override {today.isoformat()} 2 0" in notice
    bad = post(client, "/admin/pricing", token, model="gpt-5", input="1", output="1",
               cache_write="1", cache_read="1", valid_from="June 1st")
    assert bad.status_code == 400
    assert "Valid from: “June 1st” is not a day; write it as YYYY-MM-DD." in text_of(bad)


def test_update_from_the_catalog_the_shipped_table_was_built_from_changes_no_price(ctx):
    """The shipped table and `pricing update` read LiteLLM's entries the same way (tiers and
    known catalog fixes included), so the build's own snapshot is no change."""
    from abacus.usage.price_updates import plan_update

    snapshot = Path(__file__).resolve().parent.parent / "scripts" / "data" / \
        "litellm_model_prices_and_context_window.json"
    catalog = json.loads(snapshot.read_text(), parse_float=Decimal)
    report = plan_update({k: v for k, v in catalog.items() if k != "sample_spec"},
                         org_today())
    assert report.changed == []
    assert not {c.model for c in report.new} & set(load_shipped_prices())
