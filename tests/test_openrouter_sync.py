"""OpenRouter end to end: `flask abacus` commands against the fake management API, through the
sync engine, ingest and the rollups (real PostgreSQL), and the admin page's exclusion field."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abacus.analytics.person import raw_records
from abacus.config import ConfigError, Settings, parse_keys
from abacus.extensions import db
from abacus.models import Account, ChangeLog, IdentityMapping, UsageDaily, UsageEvent
from abacus.sync import accounts as accounts_service
from tests.fakes.openrouter import MANAGEMENT_KEY, FakeOpenRouter
from tests.helpers import add_key_account, csrf_token, invoke, sign_in

TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=3), TODAY - timedelta(days=2)
GPT, SONNET = "openai/gpt-4.1", "anthropic/claude-sonnet-4.5"
RANGE = ("--from", D1.isoformat(), "--to", D2.isoformat())


pytestmark = pytest.mark.http_retries(2)  # fewer retries, faster failures


@pytest.fixture
def fake():
    with FakeOpenRouter() as server:
        yield server


def add_account(ctx, runner, fake, name: str = "acme") -> Account:
    return add_key_account(ctx, runner, "openrouter", name, MANAGEMENT_KEY, fake.base_url)


def seed(fake: FakeOpenRouter) -> Decimal:
    """Two members, a departed key's usage; returns the exact USD total. Data like
    test_provider_openrouter.seed's, kept apart: each file's totals assert its own rows."""
    fake.add_member("user_Jane", "jane@example.com", "Jane", "Doe")
    fake.add_member("user_Bob", "bob@example.com", "Bob")
    fake.add_activity(D1, GPT, user_id="user_Jane", usage="0.015", byok="0.012", requests=5,
                      prompt=50, completion=125, reasoning=25)
    fake.add_activity(D1, GPT, user_id="user_Jane", usage="0.5", prompt=1000, completion=10,
                      provider="Azure", cached=None)
    fake.add_activity(D1, SONNET, user_id="user_Bob", usage="1.9374", requests=42,
                      prompt=612000, completion=18400, cached=480000, provider="Anthropic")
    fake.add_activity(D2, SONNET, user_id="user_Bob", usage="0.0101", prompt=10, completion=3)
    fake.add_activity(D2, GPT, key="sk-or-v1-old", usage="0.25", prompt=300, completion=20)
    return Decimal("0.015") + Decimal("0.012") + Decimal("0.5") + Decimal("1.9374") + \
        Decimal("0.0101") + Decimal("0.25")


def stats(runner) -> dict:
    result = invoke(runner, "stats", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["tools"]["openrouter"]


def person_cost() -> dict[str, Decimal]:
    db.session.expire_all()
    return {person: cost for person, cost in db.session.execute(
        select(func.coalesce(UsageDaily.email, UsageDaily.actor), func.sum(UsageDaily.cost_usd))
        .where(UsageDaily.tool == "openrouter")
        .group_by(func.coalesce(UsageDaily.email, UsageDaily.actor)))}


def test_sync_lands_exact_totals_per_member_and_keeps_the_unattributed_rest(ctx, runner, fake):
    total = seed(fake)
    account = add_account(ctx, runner, fake)
    result = invoke(runner, "sync", "openrouter", "--account", "acme", *RANGE)
    assert result.exit_code == 0, result.output
    assert "4 new" in result.output
    tool = stats(runner)
    assert tool == {"events": 4, "input_tokens": 50 + 1000 + 132000 + 10 + 300,
                    "output_tokens": 125 + 10 + 18400 + 3 + 20, "cache_write_tokens": 0,
                    "cache_read_tokens": 480000, "cost_usd": "2.72",
                     "unpriced_events": 0, "not_charged_events": 0}
    assert sum(person_cost().values()) == total  # exact, beyond the cents stats shows
    assert person_cost() == {"jane@example.com": Decimal("0.527"),
                             "bob@example.com": Decimal("1.9475"),
                             "unattributed:acme": Decimal("0.25")}
    # Members feed identity mappings; the cost is OpenRouter's own.
    mapped = dict(db.session.execute(
        select(IdentityMapping.external_id, IdentityMapping.email)
        .where(IdentityMapping.source == "openrouter")).all())
    assert mapped == {"user_Jane": "jane@example.com", "user_Bob": "bob@example.com"}
    sources = set(db.session.execute(select(UsageEvent.cost_source).where(
        UsageEvent.account_id == account.id)).scalars())
    assert sources == {"provider"}
    unmapped = invoke(runner, "mappings", "list", "openrouter").output
    assert "unattributed:acme" in unmapped and "(unmapped)" in unmapped


def test_resync_changes_nothing_and_revisions_are_logged(ctx, runner, fake):
    seed(fake)
    add_account(ctx, runner, fake)
    args = ("sync", "openrouter", *RANGE)
    assert invoke(runner, *args).exit_code == 0
    again = invoke(runner, *args)
    assert "0 new, 0 updated, 4 unchanged" in again.output, again.output
    assert db.session.execute(select(func.count(ChangeLog.id))).scalar() == 0

    # OpenRouter revises Bob's D2 spend.
    row = next(r for r in fake.activity if r["date"] == D2.isoformat()
               and r["_user_id"] == "user_Bob")
    row["usage"] = Decimal("0.0201")
    revised = invoke(runner, *args)
    assert "0 new, 1 updated" in revised.output, revised.output
    assert person_cost()["bob@example.com"] == Decimal("1.9575")
    fields = dict(db.session.execute(select(ChangeLog.field, ChangeLog.new_value)).all())
    assert Decimal(fields["cost_usd"]) == Decimal("0.0201")
    assert "extras" in fields  # the OpenRouter-billed part is kept apart and revised too


def test_revoked_key_parks_the_account_and_stops_polling(ctx, runner, fake, caplog):
    seed(fake)
    account = add_account(ctx, runner, fake)
    fake.revoke(MANAGEMENT_KEY)
    result = invoke(runner, "sync", "openrouter", *RANGE)
    assert result.exit_code == 1
    db.session.refresh(account)
    assert account.status == "auth_expired" and "401" in account.last_error
    seen = len(fake.requests)
    again = invoke(runner, "sync", "openrouter", *RANGE)
    assert "credentials were refused" in again.output
    assert len(fake.requests) == seen
    for output in (result.output, again.output, caplog.text,
                   invoke(runner, "status", "--json").output):
        assert MANAGEMENT_KEY not in output


def test_rate_limit_with_retry_after_is_waited_out(ctx, runner, fake):
    seed(fake)
    add_account(ctx, runner, fake)
    fake.rate_limit(times=2, retry_after="0")
    result = invoke(runner, "sync", "openrouter", *RANGE)
    assert result.exit_code == 0, result.output
    assert stats(runner)["cost_usd"] == "2.72"


def test_excluded_member_and_key_are_stored_but_not_counted(ctx, runner, fake):
    seed(fake)
    cline = fake.add_key("sk-or-v1-cline", "cline", "user_Jane")
    fake.add_activity(D1, GPT, user_id="user_Jane", key="sk-or-v1-cline", usage="0.3",
                      prompt=200, completion=20)
    account = add_account(ctx, runner, fake)
    assert invoke(runner, "sync", "openrouter", *RANGE).exit_code == 0
    assert person_cost()["jane@example.com"] == Decimal("0.827")

    # Bob's usage is already counted elsewhere: excluded at once, history included.
    out = invoke(runner, "accounts", "exclude", "acme", "Bob@Example.com")
    assert "bob@example.com" in out.output
    assert "bob@example.com" not in person_cost()
    assert stats(runner)["cost_usd"] == "1.08"  # 0.827 + 0.25 (unattributed)
    stored = db.session.execute(select(func.count(UsageEvent.id)).where(
        UsageEvent.account_id == account.id)).scalar()
    assert stored == 4  # the raw data stays

    # Jane's Cline key routes through OpenRouter: its usage is carved out of hers.
    assert invoke(runner, "accounts", "exclude", "acme", cline).exit_code == 0
    assert invoke(runner, "sync", "openrouter", *RANGE).exit_code == 0
    assert person_cost()["jane@example.com"] == Decimal("0.527")
    assert stats(runner)["cost_usd"] == "0.78"
    key_row = db.session.execute(select(UsageEvent).where(UsageEvent.actor == cline)).scalar()
    assert key_row.cost_usd == Decimal("0.3") and key_row.email == "jane@example.com"
    again = invoke(runner, "sync", "openrouter", *RANGE)
    assert "0 new, 0 updated" in again.output  # idempotent with exclusions in place
    # Jane's raw listing shows what her totals count, not the excluded key's record.
    raw = raw_records("jane@example.com", D1, D2, UTC)
    assert raw.total == len(raw.records) == 1 and raw.records[0].cost_usd == Decimal("0.527")

    # Counting them again restores the totals without a sync.
    assert invoke(runner, "accounts", "exclude", "acme", "--remove", "bob@example.com",
                  cline).exit_code == 0
    assert sum(person_cost().values()) == Decimal("2.7245") + Decimal("0.3")  # + the key
    bad = invoke(runner, "accounts", "exclude", "acme", "no spaces allowed?")
    assert bad.exit_code != 0 and "excluded" in bad.output


def test_admin_sets_exclusions_on_the_account_page(app, runner, fake, client):
    # No app context held around the client: the page's CSRF token must be its own.
    seed(fake)
    with app.app_context():
        account_id = add_account(app, runner, fake).id
        assert invoke(runner, "sync", "openrouter", *RANGE).exit_code == 0
    sign_in(client, "admin@example.com")
    page = client.get(f"/admin/accounts/{account_id}").get_data(as_text=True)
    assert "Excluded from totals" in page
    response = client.post(f"/admin/accounts/{account_id}/settings", data={
        "csrf_token": csrf_token(page), "excluded": "user_Jane, bob@example.com",
        "base_url": fake.base_url})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    with app.app_context():
        assert db.session.get(Account, account_id).settings["excluded"] == [
            "bob@example.com", "user_jane"]
        assert set(person_cost()) == {"unattributed:acme"}
    page = client.get(f"/admin/accounts/{account_id}").get_data(as_text=True)
    assert 'value="bob@example.com, user_jane"' in page
    # What the exclusion keeps out is said on the page: Jane's and Bob's three records.
    assert "3 stored records" in page and "$2.47" in page


def test_accounts_from_the_environment(ctx, monkeypatch, fake):
    settings = dataclasses.replace(
        ctx.config["ABACUS"], openrouter_base_url=fake.base_url,
        openrouter_management_keys=parse_keys("OPENROUTER_MANAGEMENT_KEYS",
                                              f"team={MANAGEMENT_KEY}", "openrouter"))
    monkeypatch.setitem(ctx.config, "ABACUS", settings)
    accounts_service.ensure_env_accounts()
    account = accounts_service.find_account("team", "openrouter")
    assert accounts_service.decrypt_credentials(account) == {"management_key": MANAGEMENT_KEY}
    assert accounts_service.account_config(account).base_url == fake.base_url


def test_environment_variables_are_parsed_and_bad_ones_named(tmp_path):
    env = {"ABACUS_INSTANCE_PATH": str(tmp_path),
           "OPENROUTER_MANAGEMENT_KEYS": f"org={MANAGEMENT_KEY}, sk-or-v1-other",
           "OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1/"}
    settings = Settings.from_mapping(env)
    names = [name for name, _ in settings.openrouter_management_keys]
    assert names[0] == "org" and names[1].startswith("openrouter-")
    assert settings.openrouter_base_url == "http://127.0.0.1:9/api/v1"
    with pytest.raises(ConfigError, match="OPENROUTER_BASE_URL") as exc:
        Settings.from_mapping({**env, "OPENROUTER_BASE_URL": "openrouter.ai"})
    with pytest.raises(ConfigError, match="OPENROUTER_MANAGEMENT_KEYS: entry 1") as exc:
        Settings.from_mapping({**env, "OPENROUTER_MANAGEMENT_KEYS": "=sk-or-v1-secret"})
    assert "sk-or-v1-secret" not in str(exc.value)
