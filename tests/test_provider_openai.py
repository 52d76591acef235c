"""OpenAI Admin API and Codex Analytics adapters against the fake servers over real HTTP
(no database): paging, token split, batch, identities, the bill, credits → dollars, auth
errors, 429 with and without Retry-After, the 90-day history floor."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from abacus.providers.base import AccountConfig, AuthExpired, Identity, RateLimited, Window
from abacus.providers.codex import CodexProvider
from abacus.providers.http import HttpSettings
from abacus.providers.openai import OpenAIProvider
from abacus.providers.testing import check_provider
from tests.fakes.openai import (
    ADMIN_KEY,
    CODEX_KEY,
    PROJECT_KEY,
    FakeCodexAnalytics,
    FakeOpenAI,
    days_ago,
)


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def codex() -> Iterator[FakeCodexAnalytics]:
    with FakeCodexAnalytics() as fake:
        yield fake


def org(fake: FakeOpenAI, key: str = ADMIN_KEY) -> AccountConfig:
    return AccountConfig("org", {"admin_key": key}, fake.base_url)


def workspace(fake: FakeCodexAnalytics, key: str = CODEX_KEY, **settings) -> AccountConfig:
    return AccountConfig("ws", {"api_key": key}, fake.base_url,
                         settings={"workspace_id": "ws_123", **settings})


def days(first: str, last: str) -> Window:
    start = datetime.fromisoformat(first).replace(tzinfo=UTC)
    return Window(start, datetime.fromisoformat(last).replace(tzinfo=UTC) + timedelta(days=1))


def recent(n: int) -> Window:
    start = datetime.combine(days_ago(n), datetime.min.time(), UTC)
    return Window(start, datetime.now(UTC))


# --- OpenAI usage ------------------------------------------------------------------------------

def test_usage_pages_through_next_page_and_keeps_cached_input_apart(openai):
    openai.bucket_page_cap = 2  # a page holds two day buckets: five days need three pages
    openai.add_usage("2026-01-01", user_id="user-abc", input=5000, cached=1800,
                     cache_write=200, output=1000, requests=5)
    openai.add_usage("2026-01-01", user_id="user-abc", model="gpt-5-mini", input=10, output=2)
    openai.add_usage("2026-01-05", api_key_id="key_ci", input=700, cached=100, output=70,
                     old_format=True)  # the 2024 fields only: uncached = input - cached

    records = check_provider(OpenAIProvider(), org(openai), days("2026-01-01", "2026-01-05"))

    calls = openai.requests_for("completions")
    assert len(calls) == 2 * 3  # check_provider fetches twice; three pages each
    assert [r.arg("page") is None for r in calls[:3]] == [True, False, False]
    first = calls[0]
    assert first.query["group_by"] == ["project_id", "user_id", "api_key_id", "model", "batch"]
    assert (first.arg("start_time"), first.arg("end_time"), first.arg("bucket_width"),
            first.arg("limit")) == ("1767225600", "1767657600", "1d", "5")
    got = {(r.actor, r.raw_model): r for r in records}
    jane = got[("user-abc", "gpt-5-codex")]
    assert (jane.input_tokens, jane.cache_read_tokens, jane.cache_write_tokens,
            jane.output_tokens) == (3000, 1800, 200, 1000)
    assert jane.cost_usd is None  # OpenAI reports no money per user: ingest estimates
    assert jane.occurred_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert jane.extras["requests"] == 5 and jane.tool == "openai"
    ci = got[("key_ci", "gpt-5-codex")]
    assert (ci.input_tokens, ci.cache_read_tokens, ci.output_tokens) == (600, 100, 70)
    assert ci.occurred_at.date().isoformat() == "2026-01-05"


def test_batch_is_flagged_and_other_token_types_are_read(openai):
    openai.add_usage("2026-01-02", api_key_id="key_b", input=1000, output=100, batch=True)
    openai.add_usage("2026-01-02", api_key_id="key_b", input=1000, output=100)
    openai.add_usage("2026-01-02", usage_type="embeddings", api_key_id="key_b",
                     model="text-embedding-3-small", input=4000)
    records = check_provider(OpenAIProvider(), org(openai), days("2026-01-02", "2026-01-02"))
    kinds = sorted((r.extras["usage_type"], r.kind, r.input_tokens) for r in records)
    assert kinds == [("completions", "", 1000), ("completions", "batch", 1000),
                     ("embeddings", "", 4000)]
    assert len({r.event_key for r in records}) == 3


def test_unattributable_usage_stays_under_its_key_or_project(openai):
    openai.add_usage("2026-01-02", project_id="proj_x", input=5, output=1)
    openai.add_usage("2026-01-02", project_id="proj_x", api_key_id="key_svc", input=7)
    records = check_provider(OpenAIProvider(), org(openai), days("2026-01-02", "2026-01-02"))
    assert sorted(r.actor for r in records) == ["key_svc", "proj_x"]
    assert all(r.email is None for r in records)


def test_identities_map_users_and_user_owned_keys_not_service_accounts(openai):
    openai.list_page_cap = 1  # every list takes several pages
    openai.add_user("user-abc", "Jane@Example.com", "Jane")
    openai.add_user("user-bot", "bot@example.com", "Bot", service_account=True)
    openai.add_user("user-def", "dan@example.com", "Dan")
    openai.add_project("proj_a", "Codex CLI")
    openai.add_project("proj_old", "Old", archived=True)
    openai.add_project_key("proj_a", "key_1", "laptop", "user-abc")
    openai.add_project_key("proj_a", "key_2", "ci", None)  # a service account's key
    openai.add_project_key("proj_old", "key_3", "old", "user-def")
    got = list(OpenAIProvider().identities(org(openai)))
    assert got == [Identity("user-abc", "jane@example.com", "Jane"),
                   Identity("user-def", "dan@example.com", "Dan"),
                   Identity("key_1", "jane@example.com", "Jane"),
                   Identity("key_3", "dan@example.com", "Dan")]
    assert all(r.arg("limit") == "100" for r in openai.requests_for("users"))
    assert openai.requests_for("projects")[0].arg("include_archived") == "true"


def test_costs_come_back_as_the_bill_of_each_day_exactly(openai):
    openai.add_cost("2026-01-02", "0.06", line_item="gpt-5-codex, input")
    openai.add_cost("2026-01-02", "1.005", line_item="gpt-5-codex, output",
                    quantity=Decimal("100500"))
    openai.add_cost("2026-01-03", "12.3456789", project_id="proj_b")
    openai.add_cost("2026-01-03", "99", currency="eur")  # not dollars: left out
    pages = list(OpenAIProvider().fetch(org(openai), days("2026-01-02", "2026-01-04")))
    bill = pages[-1]
    assert bill.records == [] and bill.costs_days == [
        datetime(2026, 1, d).date() for d in (2, 3, 4)]
    assert sum(c.amount_usd for c in bill.costs) == Decimal("13.4106789")
    assert {(c.day.day, c.project_id, c.line_item) for c in bill.costs} == {
        (2, "proj_default", "gpt-5-codex, input"), (2, "proj_default", "gpt-5-codex, output"),
        (3, "proj_b", "gpt-5-codex, input")}
    call = openai.requests_for("costs")[0]
    assert call.query["group_by"] == ["project_id", "line_item"] and call.arg("limit") == "3"


def test_refused_keys_raise_auth_expired(openai):
    for key in ("sk-admin-wrong", PROJECT_KEY):  # unknown: 401; a project key: 403
        with pytest.raises(AuthExpired, match="HTTP 40[13]") as info:
            list(OpenAIProvider().fetch(org(openai, key), days("2026-01-02", "2026-01-02")))
        assert key not in str(info.value)


def test_a_project_key_is_refused_when_the_account_is_added():
    problems = OpenAIProvider().check_credentials({"admin_key": "sk-proj-abc"})
    assert problems and "sk-admin" in problems[0]
    assert OpenAIProvider().check_credentials({"admin_key": ADMIN_KEY}) == []


def test_429_with_retry_after_is_waited_out(openai):
    openai.add_usage("2026-01-02", user_id="user-abc", input=10)
    openai.rate_limit(times=1, retry_after="1", path="/v1/organization/usage/completions")
    began = time.monotonic()
    records = [r for p in OpenAIProvider().fetch(org(openai), days("2026-01-02", "2026-01-02"))
               for r in p.records]
    assert time.monotonic() - began >= 0.9  # Retry-After honoured, then the page came
    assert [r.input_tokens for r in records] == [10]


def test_429_storm_without_retry_after_ends_rate_limited(openai):
    HttpSettings.retries = 2
    openai.rate_limit(times=10, retry_after=None)
    with pytest.raises(RateLimited):
        list(OpenAIProvider().fetch(org(openai), days("2026-01-02", "2026-01-02")))


# --- Codex Analytics ---------------------------------------------------------------------------

def test_codex_rows_become_model_records_with_credits_in_dollars(codex):
    codex.page_size = 1  # one row per page: paging through next_page
    codex.add_usage(days_ago(3), "Jane@Example.com", threads=6, turns=41,
                    models=[("gpt-5.4", "standard", 430000, 1720000, 61000, "60.5")],
                    clients=[("CODEX_DESKTOP_APP", 4, 29, "45.5"), ("CODEX_CLI", 2, 12, "15")])
    codex.add_usage(days_ago(2), "bob@example.com", credits="5",
                    models=[("gpt-5.4", "fast", 1000, 0, 100, "2"),
                            ("gpt-5.5", "standard", 10, 0, 1, "1.25")])
    records = check_provider(CodexProvider(), workspace(codex), recent(5))
    assert len(codex.usage_requests()) == 2 * 2
    assert codex.usage_requests()[0].headers["authorization"] == f"Bearer {CODEX_KEY}"
    jane = next(r for r in records if r.actor == "jane@example.com")
    assert (jane.email, jane.raw_model, jane.input_tokens, jane.cache_read_tokens,
            jane.output_tokens) == ("jane@example.com", "gpt-5.4", 430000, 1720000, 61000)
    assert jane.cost_usd == Decimal("2.42")  # 60.5 credits × $0.04
    assert jane.extras["threads"] == 6 and jane.extras["turns"] == 41
    assert [c["client"] for c in jane.extras["clients"]] == ["CODEX_DESKTOP_APP", "CODEX_CLI"]
    bob = sorted((r.raw_model, r.kind, r.cost_usd) for r in records
                 if r.actor == "bob@example.com")
    # 2 + 1.25 credits on models; the other 1.75 credits are kept on no model.
    assert bob == [("", "unallocated", Decimal("0.07")), ("gpt-5.4", "fast", Decimal("0.08")),
                   ("gpt-5.5", "", Decimal("0.05"))]
    assert sum(r.cost_usd for r in records) == Decimal("2.62")


def test_codex_rate_is_a_per_account_setting_and_bad_rates_are_refused(codex):
    codex.add_usage(days_ago(1), "jane@example.com", models=[("gpt-5.4", "", 1, 0, 1, "100")])
    records = check_provider(CodexProvider(), workspace(codex, usd_per_credit="0.035"),
                             recent(3))
    assert [r.cost_usd for r in records] == [Decimal("3.5")]
    provider = CodexProvider()
    assert provider.check_settings({"workspace_id": "ws_1"}) == []
    assert "workspace_id" in provider.check_settings({})[0]
    assert "usd_per_credit" in provider.check_settings({"workspace_id": "w",
                                                        "usd_per_credit": "-1"})[0]
    assert "workspace_id" in provider.check_settings({"workspace_id": "../other"})[0]


def test_codex_follows_next_cursor_and_renamed_keys(codex):
    codex.page_size, codex.cursor_style = 1, "next_cursor"
    codex.rename = {"credits": "total_credits", "threads": "total_threads"}
    for n in (1, 2):
        codex.add_usage(days_ago(n), "jane@example.com", threads=3,
                        models=[("gpt-5.4", "", 10, 0, 1, "2.5")])
    records = check_provider(CodexProvider(), workspace(codex), recent(3))
    assert sum(r.cost_usd for r in records) == Decimal("0.2")
    assert {r.extras["threads"] for r in records} == {3}
    assert [r.arg("cursor") is None for r in codex.usage_requests()[:2]] == [True, False]


def test_codex_key_without_the_scope_or_for_another_workspace_is_refused():
    with FakeCodexAnalytics(keys={CODEX_KEY: ("api.read",)}) as fake, \
            pytest.raises(AuthExpired, match="403"):
        list(CodexProvider().fetch(workspace(fake), recent(2)))
    with FakeCodexAnalytics(workspaces=("ws_other",)) as fake, \
            pytest.raises(AuthExpired, match="403"):
        list(CodexProvider().fetch(workspace(fake), recent(2)))


def test_codex_history_floor_is_within_the_90_days_the_api_keeps(codex):
    provider = CodexProvider()
    now = datetime.now(UTC)
    floor = provider.history_floor(now)
    window = Window(datetime.combine(floor, datetime.min.time(), UTC),
                    datetime.combine(floor, datetime.min.time(), UTC) + timedelta(days=1))
    assert list(provider.fetch(workspace(codex), window))  # the fake refuses older starts
    older = Window(window.start - timedelta(days=1), window.start)
    with pytest.raises(Exception, match="HTTP 400"):
        list(provider.fetch(workspace(codex), older))
    assert OpenAIProvider().history_floor(now) is None
