"""OpenAI organization usage/costs and Codex Analytics end to end: the `flask abacus`
commands against the fake servers over real HTTP, real PostgreSQL and Redis. What a user
would check: exact totals (estimated from tokens for OpenAI, credits × rate for Codex), the
bill stored apart and shown against the estimate, nothing doubled on a re-sync, revisions
logged, a revoked key parking the account."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abacus.config import parse_keys
from abacus.extensions import db
from abacus.models import Account, BilledCostLine, ChangeLog, SyncRun, UsageDaily, UsageEvent
from tests.fakes.openai import (
    ADMIN_KEY,
    CODEX_KEY,
    FakeCodexAnalytics,
    FakeOpenAI,
    days_ago,
)
from tests.helpers import add_key_account, invoke, key_file, sign_in

D1, D2 = date(2026, 1, 5), date(2026, 1, 6)
M = Decimal(1_000_000)


pytestmark = pytest.mark.http_retries(2)  # fewer retries, faster failures


@pytest.fixture
def openai():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def codex():
    with FakeCodexAnalytics() as fake:
        yield fake


def seed_openai(fake: FakeOpenAI) -> Decimal:
    """Jane by user id and by her key, a service-account key, a batch row; the bill. Returns
    the exact estimate from the shipped prices (gpt-5-codex: input 1.25, cached 0.125,
    output 10 $/M; cache writes at the input rate; batch half)."""
    fake.add_user("user-jane", "jane@example.com", "Jane")
    fake.add_user("user-svc", "svc@example.com", "CI", service_account=True)
    fake.add_project("proj_default", "Default")
    fake.add_project_key("proj_default", "key_jane", "laptop", "user-jane")
    fake.add_project_key("proj_default", "key_svc", "ci", None)
    fake.add_usage(D1, user_id="user-jane", input=5000, cached=1800, cache_write=200,
                   output=1000, requests=5)
    fake.add_usage(D1, api_key_id="key_jane", input=2_000_000, output=100_000)
    fake.add_usage(D2, api_key_id="key_svc", input=1_000_000, cached=500_000, output=10_000,
                   batch=True)
    fake.add_cost(D1, "2.25", line_item="gpt-5-codex, input")
    fake.add_cost(D1, "1.0100001", line_item="gpt-5-codex, output")
    fake.add_cost(D2, "0.3")
    jane_user = (3000 * Decimal("1.25") + 1800 * Decimal("0.125") + 200 * Decimal("1.25")
                 + 1000 * 10) / M
    jane_key = (2_000_000 * Decimal("1.25") + 100_000 * 10) / M
    svc_batch = (500_000 * Decimal("1.25") + 500_000 * Decimal("0.125") + 10_000 * 10) / M / 2
    return jane_user + jane_key + svc_batch


def add_openai(ctx, runner, fake: FakeOpenAI, name: str = "acme") -> Account:
    return add_key_account(ctx, runner, "openai", name, ADMIN_KEY, fake.base_url)


def sync_openai(runner):
    return invoke(runner, "sync", "openai", "--from", D1.isoformat(), "--to", D2.isoformat())


def cost(account_id: int) -> Decimal:
    db.session.expire_all()
    return db.session.execute(select(func.sum(UsageDaily.cost_usd))
                              .where(UsageDaily.account_id == account_id)).scalar()


# --- OpenAI --------------------------------------------------------------------------------------

def test_openai_sync_lands_exact_estimates_people_and_the_bill(ctx, runner, client, openai):
    expected = seed_openai(openai)
    account = add_openai(ctx, runner, openai)
    result = sync_openai(runner)
    assert result.exit_code == 0, result.output
    assert "3 new" in result.output
    assert cost(account.id) == expected == Decimal("3.907975")
    rows = db.session.execute(select(UsageEvent.actor, UsageEvent.email, UsageEvent.kind,
                                     UsageEvent.cost_source)).all()
    assert sorted(rows) == [("key_jane", "jane@example.com", "", "estimated"),
                            ("key_svc", None, "batch", "estimated"),  # kept, unmapped
                            ("user-jane", "jane@example.com", "", "estimated")]
    bill = db.session.execute(select(func.sum(BilledCostLine.amount_usd))).scalar()
    assert bill == Decimal("3.5600001")

    stats = json.loads(invoke(runner, "stats", "--json").output)["tools"]["openai"]
    assert stats == {"events": 3, "input_tokens": 2_503_000,
                     "output_tokens": 111_000, "cache_write_tokens": 200,
                     "cache_read_tokens": 501_800, "cost_usd": "3.91",
                     "unpriced_events": 0, "not_charged_events": 0}

    sign_in(client, "admin@example.com")
    page = client.get(f"/status?start={D1}&end={D2}").get_data(as_text=True)
    assert "Billed" in page and "Estimated" in page
    assert '<dd class="bill-reported">$3.56</dd>' in page
    assert '<dd class="bill-estimated">$3.91</dd>' in page
    assert '<dd class="bill-difference">-$0.35</dd>' in page
    assert ADMIN_KEY not in page


def test_openai_resync_changes_nothing_and_revisions_are_logged(ctx, runner, openai):
    seed_openai(openai)
    account = add_openai(ctx, runner, openai)
    assert sync_openai(runner).exit_code == 0
    again = sync_openai(runner)
    assert "0 new, 0 updated, 3 unchanged" in again.output
    assert db.session.execute(select(func.count(ChangeLog.id))).scalar() == 0
    run = db.session.execute(select(SyncRun).order_by(SyncRun.id.desc())).scalars().first()
    assert run.details["bill"] == {"inserted": 0, "updated": 0, "removed": 0, "unchanged": 3}

    # OpenAI revises Jane's D1 output and the D2 bill.
    openai.usage["completions"][D1.isoformat()][0]["output_tokens"] = 2000
    openai.costs[D2.isoformat()][0]["amount"]["value"] = Decimal("0.35")
    revised = sync_openai(runner)
    assert "0 new, 1 updated, 2 unchanged" in revised.output
    changes = {c.field: (c.old_value, c.new_value) for c in
               db.session.execute(select(ChangeLog)).scalars()}
    assert changes["output_tokens"] == ("1000", "2000")
    assert set(changes) == {"output_tokens", "cost_usd"}
    assert Decimal(changes["cost_usd"][1]) - Decimal(changes["cost_usd"][0]) == Decimal("0.01")
    run = db.session.execute(select(SyncRun).order_by(SyncRun.id.desc())).scalars().first()
    assert run.details["bill"]["updated"] == 1
    assert db.session.execute(select(func.sum(BilledCostLine.amount_usd))).scalar() == \
        Decimal("3.6100001")
    assert cost(account.id) == Decimal("3.917975")


def test_revoked_openai_key_parks_the_account(ctx, runner, openai, caplog):
    seed_openai(openai)
    account = add_openai(ctx, runner, openai)
    openai.revoke(ADMIN_KEY)
    result = sync_openai(runner)
    assert result.exit_code == 1
    db.session.refresh(account)
    assert account.status == "auth_expired" and "401" in account.last_error
    seen = len(openai.requests)
    again = sync_openai(runner)
    assert "credentials were refused" in again.output and len(openai.requests) == seen
    for output in (result.output, again.output, caplog.text,
                   invoke(runner, "status", "--json").output):
        assert ADMIN_KEY not in output


def test_openai_accounts_come_from_the_environment(ctx, runner, configure, openai):
    seed_openai(openai)
    configure(openai_admin_keys=parse_keys("OPENAI_ADMIN_KEYS", f"main={ADMIN_KEY}", "openai"),
              openai_base_url=openai.base_url)
    result = sync_openai(runner)
    assert result.exit_code == 0, result.output
    assert "openai/main sync: success" in result.output
    account = db.session.execute(select(Account).where(Account.name == "main")).scalar_one()
    assert account.provider == "openai" and account.settings == {"source": "env"}
    assert cost(account.id) == Decimal("3.907975")
    configure(openai_admin_keys=parse_keys("OPENAI_ADMIN_KEYS", "main=sk-proj-nope", "openai"))
    refused = invoke(runner, "sync", "openai")
    assert refused.exit_code != 0 and "sk-admin" in refused.output


def test_a_project_key_is_refused_by_accounts_add(ctx, runner, openai):
    result = invoke(runner, "accounts", "add", "openai", "--name", "x", "--key-file",
                    key_file(ctx, "sk-proj-abc"))
    assert result.exit_code != 0 and "Admin key" in result.output
    assert db.session.execute(select(func.count(Account.id))).scalar() == 0


# --- Codex ---------------------------------------------------------------------------------------

def add_codex(ctx, runner, fake: FakeCodexAnalytics, *extra: str):
    return invoke(runner, "accounts", "add", "codex", "--name", "ws", "--workspace", "ws_123",
                  "--key-file", key_file(ctx, CODEX_KEY), "--base-url", fake.base_url, *extra)


def test_codex_sync_lands_credits_as_dollars_on_people(ctx, runner, codex):
    codex.page_size = 1
    first, last = days_ago(4), days_ago(2)
    codex.add_usage(first, "Jane@example.com", threads=6, turns=41,
                    models=[("gpt-5.4", "standard", 430000, 1720000, 61000, "60.5")],
                    clients=[("CODEX_CLI", 6, 41, "60.5")])
    codex.add_usage(last, "bob@example.com",
                    models=[("gpt-5.4", "fast", 1000, 0, 100, "2.25")])
    assert add_codex(ctx, runner, codex, "--usd-per-credit", "0.05").exit_code == 0
    result = invoke(runner, "sync", "codex", "--from", first.isoformat(), "--to",
                    last.isoformat())
    assert result.exit_code == 0, result.output
    assert "2 new" in result.output
    people = dict(db.session.execute(select(UsageDaily.email, UsageDaily.cost_usd)).all())
    assert people == {"jane@example.com": Decimal("3.025"), "bob@example.com": Decimal("0.1125")}
    stats = json.loads(invoke(runner, "stats", "--json").output)["tools"]["codex"]
    assert stats == {"events": 2, "input_tokens": 431000, "output_tokens": 61100,
                     "cache_write_tokens": 0, "cache_read_tokens": 1720000, "cost_usd": "3.14",
                     "unpriced_events": 0, "not_charged_events": 0}
    again = invoke(runner, "sync", "codex", "--from", first.isoformat(), "--to",
                   last.isoformat())
    assert "0 new, 0 updated, 2 unchanged" in again.output


def test_codex_sync_before_the_90_day_history_asks_only_for_what_the_api_keeps(ctx, runner,
                                                                              codex):
    codex.add_usage(days_ago(10), "jane@example.com",
                    models=[("gpt-5.4", "", 10, 0, 1, "1")])
    assert add_codex(ctx, runner, codex).exit_code == 0
    result = invoke(runner, "sync", "codex", "--from", days_ago(200).isoformat(), "--to",
                    days_ago(5).isoformat())
    assert result.exit_code == 0, result.output  # the fake answers 400 to older starts
    run = db.session.execute(select(SyncRun)).scalar_one()
    assert "90-day history" in run.details["warnings"][0]
    assert cost(db.session.execute(select(Account.id)).scalar()) == Decimal("0.04")
    backfill = invoke(runner, "backfill", "codex", "--from", days_ago(200).isoformat())
    assert backfill.exit_code == 0 and "reached the target day" in backfill.output


def test_codex_account_needs_a_workspace_and_a_sane_rate(ctx, runner, codex):
    missing = invoke(runner, "accounts", "add", "codex", "--name", "ws", "--key-file",
                     key_file(ctx, CODEX_KEY))
    assert missing.exit_code != 0 and "workspace_id is required" in missing.output
    bad = add_codex(ctx, runner, codex, "--usd-per-credit", "free")
    assert bad.exit_code != 0 and "usd_per_credit" in bad.output
    assert db.session.execute(select(func.count(Account.id))).scalar() == 0


def test_codex_key_without_the_analytics_scope_parks_the_account(ctx, runner):
    with FakeCodexAnalytics(keys={CODEX_KEY: ("api.read",)}) as fake:
        assert add_codex(ctx, runner, fake).exit_code == 0
        result = invoke(runner, "sync", "codex", "--days", "2")
    assert result.exit_code == 1
    account = db.session.execute(select(Account)).scalar_one()
    assert account.status == "auth_expired" and "403" in account.last_error
