"""OpenRouter provider against the fake management API over real HTTP (no database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from abacus.providers.base import AccountConfig, AuthExpired, RateLimited, UsageRecord, Window
from abacus.providers.http import HttpSettings
from abacus.providers.openrouter import OpenRouterProvider
from abacus.providers.testing import check_provider
from tests.fakes.openrouter import (
    INFERENCE_KEY,
    MANAGEMENT_KEY,
    MEMBERS_PATH,
    FakeOpenRouter,
    key_hash,
)

TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=3), TODAY - timedelta(days=2)
GPT, SONNET = "openai/gpt-4.1", "anthropic/claude-sonnet-4.5"


@pytest.fixture
def fake() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter() as server:
        yield server


def account(fake: FakeOpenRouter, key: str = MANAGEMENT_KEY, **settings) -> AccountConfig:
    return AccountConfig(name="org", credentials={"management_key": key},
                         base_url=fake.base_url, settings=settings)


def days(first: date, last: date) -> Window:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return Window(start, datetime(last.year, last.month, last.day, tzinfo=UTC)
                  + timedelta(days=1))


def fetch(fake: FakeOpenRouter, window: Window, **settings) -> list[UsageRecord]:
    return check_provider(OpenRouterProvider(), account(fake, **settings), window)


def seed(fake: FakeOpenRouter) -> None:
    fake.add_member("user_Jane", "Jane@Example.com", "Jane", "Doe")
    fake.add_member("user_Bob", "bob@example.com", "Bob")
    # Jane's GPT-4.1 on two endpoints (one BYOK), Sonnet with cache hits and no workspace.
    fake.add_activity(D1, GPT, user_id="user_Jane", usage="0.015", byok="0.012", requests=5,
                      prompt=50, completion=125, reasoning=25)
    fake.add_activity(D1, GPT, user_id="user_Jane", usage="0.5", requests=2, prompt=1000,
                      completion=10, provider="Azure", cached=None)
    fake.add_activity(D1, SONNET, user_id="user_Bob", usage="1.9374", requests=42,
                      prompt=612000, completion=18400, cached=480000, provider="Anthropic",
                      workspace_id="0df9e665-d932-5740-b2c7-b52af166bc11")
    # A key whose creator left the organization: only the org-wide answer has it.
    fake.add_activity(D2, GPT, key="sk-or-v1-old", usage="0.25", prompt=300, completion=20)


def test_members_models_and_the_unattributed_rest_add_up_to_the_org_total(fake):
    seed(fake)
    records = fetch(fake, days(D1, D2))
    by_key = {r.event_key: r for r in records}
    assert set(by_key) == {f"{D1}|user:user_Jane|{GPT}", f"{D1}|user:user_Bob|{SONNET}",
                           f"{D2}|unattributed:org|{GPT}"}
    jane = by_key[f"{D1}|user:user_Jane|{GPT}"]
    assert (jane.actor, jane.email, jane.tool) == ("user_Jane", "jane@example.com", "openrouter")
    # Two endpoints summed; credits and BYOK both counted, and kept apart.
    assert jane.cost_usd == Decimal("0.527")
    assert (jane.extras["openrouter_usd"], jane.extras["byok_usd"]) == ("0.515", "0.012")
    assert jane.extras["providers"] == ["Azure", "OpenAI"]
    assert (jane.input_tokens, jane.output_tokens, jane.extras["requests"]) == (1050, 135, 7)
    bob = by_key[f"{D1}|user:user_Bob|{SONNET}"]
    # prompt_tokens includes the cache hits: they are not input a second time.
    assert (bob.input_tokens, bob.cache_read_tokens, bob.cache_write_tokens) == (132000, 480000,
                                                                                  0)
    assert by_key[f"{D2}|unattributed:org|{GPT}"].cost_usd == Decimal("0.25")
    assert sum(r.cost_usd for r in records) == Decimal("2.7144")
    # Each day asked once org-wide and once per member, by date (check_provider fetches twice).
    assert len(fake.activity_requests(date=D1.isoformat())) == 2 * 3


def test_days_openrouter_no_longer_holds_cost_no_request(fake):
    seed(fake)
    old = TODAY - timedelta(days=40)
    assert fetch(fake, days(old, old + timedelta(days=5))) == []
    assert fetch(fake, days(TODAY, TODAY)) == []  # today is not complete yet
    assert fake.requests == []


def test_personal_account_keeps_everything_under_the_account(fake):
    fake.personal = True
    fake.add_activity(D1, GPT, usage="0.1", prompt=10, completion=5)
    records = fetch(fake, days(D1, D1))
    assert [(r.actor, r.email, r.cost_usd) for r in records] == [
        ("unattributed:org", None, Decimal("0.1"))]
    assert fake.activity_requests(user_id="user_Jane") == []


def test_members_are_paged_to_total_count(fake):
    for i in range(205):
        fake.add_member(f"user_{i:03}", f"p{i}@example.com")
    ids = {i.external_id for i in OpenRouterProvider().identities(account(fake))}
    assert len(ids) == 205
    assert [r.arg("offset") for r in fake.requests_to(MEMBERS_PATH)] == ["0", "100", "200"]


def test_excluded_key_is_carved_out_of_its_creators_rows(fake):
    seed(fake)
    h = fake.add_key("sk-or-v1-cline", "cline", "user_Jane")
    fake.add_key("sk-or-v1-other", "other", None, disabled=True)
    fake.add_activity(D1, GPT, user_id="user_Jane", key="sk-or-v1-cline", usage="0.2",
                      prompt=100, completion=10)
    records = fetch(fake, days(D1, D1), excluded=[h.upper(), "bob@example.com"])
    by_key = {r.event_key: r for r in records}
    assert by_key[f"{D1}|key:{h}|{GPT}"].cost_usd == Decimal("0.2")
    assert by_key[f"{D1}|key:{h}|{GPT}"].extras["api_key_hash"] == h
    assert by_key[f"{D1}|user:user_Jane|{GPT}"].cost_usd == Decimal("0.527")
    assert sum(r.cost_usd for r in records) == Decimal("0.527") + Decimal("0.2") + \
        Decimal("1.9374")
    # Key hashes map to their creator.
    idents = {i.external_id: i.email for i in OpenRouterProvider().identities(account(fake))}
    assert idents[h] == "jane@example.com" and idents["user_Bob"] == "bob@example.com"
    assert key_hash("sk-or-v1-other") not in idents  # nobody to map it to


def test_refused_keys_raise_auth_expired_without_the_key(fake):
    seed(fake)
    for key in ("sk-or-v1-wrong", INFERENCE_KEY):
        with pytest.raises(AuthExpired) as exc:
            list(OpenRouterProvider().fetch(account(fake, key), days(D1, D1)))
        assert key not in str(exc.value)
    with pytest.raises(AuthExpired):
        list(OpenRouterProvider().fetch(account(fake, ""), days(D1, D1)))


def test_429_is_retried_honouring_retry_after_then_gives_up(fake):
    seed(fake)
    fake.rate_limit(times=1, retry_after="0")
    assert len(fetch(fake, days(D1, D1))) == 2
    HttpSettings.retries = 1
    fake.rate_limit(times=5, retry_after="3600")  # longer than a run waits
    with pytest.raises(RateLimited) as exc:
        list(OpenRouterProvider().fetch(account(fake), days(D1, D1)))
    assert exc.value.retry_after == pytest.approx(3600, abs=5)
