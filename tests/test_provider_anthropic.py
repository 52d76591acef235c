"""Anthropic Claude Code provider against the fake Admin API over real HTTP (no database)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from abacus.providers.anthropic import AnthropicProvider
from abacus.providers.base import (
    AccountConfig,
    AuthExpired,
    Identity,
    ProviderError,
    RateLimited,
    UsageRecord,
    Window,
)
from abacus.providers.http import HttpSettings
from abacus.providers.units import cents_to_usd
from tests.fakes.anthropic import (
    API_KEYS_PATH,
    CLAUDE_CODE_PATH,
    USERS_PATH,
    FakeAnthropic,
    error_body,
)

KEY = "sk-ant-admin01-test"
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-3-5-haiku-20241022"
OPUS = "claude-opus-4-1-20250805"


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(admin_keys=(KEY,)) as server:
        yield server


def account(fake: FakeAnthropic, key: str = KEY) -> AccountConfig:
    return AccountConfig(name="org", credentials={"admin_key": key}, base_url=fake.url + "/")


def days(first: str, last: str) -> Window:
    """The window covering the UTC days first..last inclusive."""
    start = datetime.fromisoformat(first).replace(tzinfo=UTC)
    end = datetime.fromisoformat(last).replace(tzinfo=UTC)
    return Window(start, end.replace(hour=23, minute=59, second=59))


def fetch(fake: FakeAnthropic, window: Window, **kw) -> list[UsageRecord]:
    pages = list(AnthropicProvider().fetch(account(fake), window, **kw))
    return [record for page in pages for record in page.records]


def total_usd(records: list[UsageRecord]) -> Decimal:
    return sum((r.cost_usd for r in records if r.cost_usd is not None), Decimal(0))


def by_key(records: list[UsageRecord]) -> dict[str, UsageRecord]:
    keys = [r.event_key for r in records]
    assert len(keys) == len(set(keys)), "event keys must be unique"
    return {r.event_key: r for r in records}


# --- usage ---------------------------------------------------------------------------------

def test_multi_day_window_gives_exact_usd_totals_and_per_actor_records(fake):
    fake.add_claude_code("2025-09-07", actor_email="Dev@Example.com",
                         models=[(SONNET, 100000, 35000, 10000, 5000, 1025)])
    fake.add_claude_code("2025-09-08", actor_email="dev@example.com",
                         models=[(SONNET, 2000, 500, 0, 0, 33), (HAIKU, 900, 100, 50, 10, 1)])
    fake.add_claude_code("2025-09-08", actor_email="ops@example.com",
                         models=[(OPUS, 5000, 800, 0, 120, Decimal("12.5"))])
    fake.add_claude_code("2025-09-09", actor_email="ops@example.com",
                         models=[(OPUS, 10, 10, 0, 0, 7)])
    fake.add_claude_code("2025-09-10", actor_email="ops@example.com",  # outside the window
                         models=[(OPUS, 10, 10, 0, 0, 999)])

    records = fetch(fake, days("2025-09-07", "2025-09-09"))

    # 10.25 + 0.33 + 0.01 + 0.125 + 0.07, exactly (no float on the way).
    assert total_usd(records) == Decimal("10.785")
    assert all(isinstance(r.cost_usd, Decimal) for r in records)
    assert [r.arg("starting_at") for r in fake.report_requests()] == [
        "2025-09-07", "2025-09-08", "2025-09-09"]
    assert all(r.arg("limit") == "1000" for r in fake.report_requests())
    got = by_key(records)
    assert set(got) == {
        f"2025-09-07|user_actor:dev@example.com|{SONNET}",
        f"2025-09-08|user_actor:dev@example.com|{HAIKU}",
        f"2025-09-08|user_actor:dev@example.com|{SONNET}",
        f"2025-09-08|user_actor:ops@example.com|{OPUS}",
        f"2025-09-09|user_actor:ops@example.com|{OPUS}",
    }
    first = got[f"2025-09-07|user_actor:dev@example.com|{SONNET}"]
    assert (first.actor, first.email, first.raw_model, first.kind, first.tool) == (
        "dev@example.com", "dev@example.com", SONNET, "subscription", "claude_code")
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens,
            first.cache_write_tokens) == (100000, 35000, 10000, 5000)
    assert first.occurred_at == datetime(2025, 9, 7, 12, tzinfo=UTC)
    per_actor = {}
    for r in records:
        per_actor[r.actor] = per_actor.get(r.actor, Decimal(0)) + r.cost_usd
    assert per_actor == {"dev@example.com": Decimal("10.59"), "ops@example.com": Decimal("0.195")}


def test_refetching_revised_data_keeps_event_keys_and_picks_up_late_data(fake):
    record = fake.add_claude_code("2025-09-08", actor_email="dev@example.com",
                                  models=[(SONNET, 100, 10, 0, 0, 5)])
    window = days("2025-09-08", "2025-09-08")
    before = by_key(fetch(fake, window))

    record["model_breakdown"][0]["tokens"]["input"] = 400
    record["model_breakdown"][0]["estimated_cost"]["amount"] = 20
    fake.add_claude_code("2025-09-08", api_key_name="late-key", models=[(HAIKU, 1, 1, 0, 0, 1)])
    after = by_key(fetch(fake, window))

    key = f"2025-09-08|user_actor:dev@example.com|{SONNET}"
    assert set(before) == {key}
    assert set(after) == {key, f"2025-09-08|api_actor:late-key|{HAIKU}"}
    assert (after[key].input_tokens, after[key].cost_usd) == (400, Decimal("0.20"))


def test_short_pages_follow_next_page_for_each_day(fake):
    for day in ("2025-09-08", "2025-09-09"):
        for i in range(5):
            fake.add_claude_code(day, actor_email=f"user{i}@example.com",
                                 models=[(SONNET, 10, 1, 0, 0, 100 + i)])
    fake.short_pages = True  # 2 records per page while has_more is true

    pages = list(AnthropicProvider().fetch(account(fake), days("2025-09-08", "2025-09-09")))

    records = [r for page in pages for r in page.records]
    assert len(records) == 10
    assert total_usd(records) == Decimal("10.20")  # 2 × (1.00 + … + 1.04)
    assert [len(p.records) for p in pages] == [2, 2, 1, 2, 2, 1]
    for day in ("2025-09-08", "2025-09-09"):
        requests = fake.report_requests(day)
        assert len(requests) == 3
        assert requests[0].arg("page") is None
        assert all(r.arg("page", "").startswith("page_") for r in requests[1:])
        assert all(r.arg("limit") == "1000" for r in requests)
    assert pages[0].cursor == {"day": "2025-09-08", "page": fake.report_requests(
        "2025-09-08")[1].arg("page")}
    assert pages[2].cursor == {"day": "2025-09-08", "page": None}


def test_cursor_resumes_the_interrupted_day_without_skipping_others(fake):
    for i in range(4):
        fake.add_claude_code("2025-09-08", actor_email=f"user{i}@example.com",
                             models=[(SONNET, 10, 1, 0, 0, 1)])
    fake.add_claude_code("2025-09-07", actor_email="early@example.com",
                         models=[(SONNET, 10, 1, 0, 0, 1)])
    fake.short_pages = True
    provider = AnthropicProvider()
    window = days("2025-09-07", "2025-09-08")
    pages = provider.fetch(account(fake), window)
    next(pages)  # 2025-09-07
    interrupted = next(pages)  # first page of 2025-09-08
    assert interrupted.cursor["page"]

    resumed = [r for p in provider.fetch(account(fake), window, interrupted.cursor)
               for r in p.records]

    assert sorted(r.actor for r in resumed) == [
        "early@example.com", "user2@example.com", "user3@example.com"]


def test_both_date_formats_are_read(fake):
    fake.add_claude_code("2025-09-08", actor_email="a@example.com", date_format="date",
                         models=[(SONNET, 1, 1, 0, 0, 1)])
    fake.add_claude_code("2025-09-08", actor_email="b@example.com",
                         models=[(SONNET, 1, 1, 0, 0, 2)])
    assert fake.claude_code["2025-09-08"][0]["date"] == "2025-09-08"
    assert fake.claude_code["2025-09-08"][1]["date"] == "2025-09-08T00:00:00Z"

    records = fetch(fake, days("2025-09-08", "2025-09-08"))

    assert sorted(r.actor for r in records) == ["a@example.com", "b@example.com"]
    assert {r.occurred_at for r in records} == {datetime(2025, 9, 8, 12, tzinfo=UTC)}


def test_record_from_another_day_is_an_error_naming_the_day(fake):
    fake.add_claude_code("2025-09-08", actor_email="a@example.com",
                         models=[(SONNET, 1, 1, 0, 0, 1)])
    fake.claude_code["2025-09-08"][0]["date"] = "2025-09-07T00:00:00Z"

    with pytest.raises(ProviderError, match="2025-09-08"):
        fetch(fake, days("2025-09-08", "2025-09-08"))


def test_api_actor_is_kept_under_its_key_name_without_email(fake):
    fake.add_claude_code("2025-09-08", api_key_name="CI-bot-key",
                         models=[(HAIKU, 23100, 5680, 3420, 890, 42)])

    (record,) = fetch(fake, days("2025-09-08", "2025-09-08"))

    assert (record.actor, record.email, record.kind) == ("CI-bot-key", None, "api")
    assert record.event_key == f"2025-09-08|api_actor:CI-bot-key|{HAIKU}"
    assert record.cost_usd == Decimal("0.42")
    assert (record.input_tokens, record.output_tokens, record.cache_read_tokens,
            record.cache_write_tokens) == (23100, 5680, 3420, 890)


def test_actor_day_extras_are_on_exactly_one_record(fake):
    first = fake.add_claude_code(
        "2025-09-08", actor_email="dev@example.com",
        models=[(SONNET, 1, 1, 0, 0, 1), (HAIKU, 1, 1, 0, 0, 1), (OPUS, 1, 1, 0, 0, 1)],
        tool_actions={"edit_tool": {"accepted": 4, "rejected": 1},
                      "future_tool": {"accepted": 2, "rejected": 0}})
    first["core_metrics"]["lines_of_code"]["added"] = 1543
    second = fake.add_claude_code("2025-09-08", api_key_name="ci", models=[(SONNET, 1, 1, 0, 0, 1)])
    second["core_metrics"]["lines_of_code"]["added"] = 10
    fake.add_claude_code("2025-09-08", actor_email="idle@example.com", models=[])

    records = fetch(fake, days("2025-09-08", "2025-09-08"))

    lines = sum(r.extras.get("core_metrics", {}).get("lines_of_code", {}).get("added", 0)
                for r in records)
    assert lines == 1543 + 10 + 120  # 120: the fake's default for the idle actor
    dev = sorted((r for r in records if r.actor == "dev@example.com"), key=lambda r: r.raw_model)
    assert [r.raw_model for r in dev] == [HAIKU, OPUS, SONNET]  # API order was S, H, O
    carrying = dev[0].extras
    assert carrying["tool_actions"]["future_tool"] == {"accepted": 2, "rejected": 0}
    assert carrying["terminal_type"] == "vscode"
    assert carrying["customer_type"] == "subscription"
    assert carrying["subscription_type"] == "team"
    assert carrying["organization_id"] == first["organization_id"]
    assert "is_remote" not in carrying
    assert [r.extras for r in dev[1:]] == [{"organization_id": first["organization_id"]}] * 2
    (idle,) = [r for r in records if r.actor == "idle@example.com"]
    assert (idle.raw_model, idle.input_tokens, idle.output_tokens, idle.cost_usd) == (
        "", 0, 0, None)
    assert idle.extras["core_metrics"]["num_sessions"] == 3


def test_remote_and_local_rows_of_one_actor_get_distinct_keys(fake):
    fake.add_claude_code("2025-09-08", actor_email="dev@example.com", is_remote=False,
                         models=[(SONNET, 1, 1, 0, 0, 10)])
    fake.add_claude_code("2025-09-08", actor_email="dev@example.com", is_remote=True,
                         models=[(SONNET, 2, 2, 0, 0, 20)])

    got = by_key(fetch(fake, days("2025-09-08", "2025-09-08")))

    local = got[f"2025-09-08|user_actor:dev@example.com|{SONNET}"]
    remote = got[f"2025-09-08|user_actor:dev@example.com|{SONNET}|remote"]
    assert (local.cost_usd, remote.cost_usd) == (Decimal("0.10"), Decimal("0.20"))
    assert (local.extras["is_remote"], remote.extras["is_remote"]) == (False, True)


def test_headers_and_base_url(fake):
    fetch(fake, days("2025-09-08", "2025-09-08"))

    (req,) = fake.requests
    assert req.path == CLAUDE_CODE_PATH
    assert req.headers["x-api-key"] == KEY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["user-agent"].startswith("Abacus/")


def test_cents_to_usd_is_exact():
    assert cents_to_usd(186) == Decimal("1.86")
    assert cents_to_usd(Decimal("123.78912")) == Decimal("1.2378912")
    assert cents_to_usd("0.1") == Decimal("0.001")
    with pytest.raises(ProviderError, match="abc"):
        cents_to_usd("abc")


# --- identities ----------------------------------------------------------------------------

def test_identities_active_key_beats_archived_and_unknown_creators_are_skipped(fake):
    fake.add_user("user_1", "Jane@Example.com", "Jane Doe")
    fake.add_user("user_2", "bob@example.com", "Bob")
    fake.add_api_key("apikey_a1", "ci-bot-key", "user_2", status="archived")
    fake.add_api_key("apikey_a2", "ci-bot-key", "user_1", status="active")
    fake.add_api_key("apikey_a3", "old-laptop", "user_2", status="archived")
    fake.add_api_key("apikey_a4", "ghost", "user_gone", status="active")
    fake.add_api_key("apikey_a5", "disabled", "user_1", status="inactive")

    found = list(AnthropicProvider().identities(account(fake)))

    assert found == [
        Identity(external_id="ci-bot-key", email="jane@example.com", name="Jane Doe"),
        Identity(external_id="old-laptop", email="bob@example.com", name="Bob"),
    ]
    statuses = sorted(r.arg("status") for r in fake.requests_to(API_KEYS_PATH))
    assert statuses == ["active", "archived"]


def test_identities_follow_list_paging(fake):
    fake.list_page_cap = 2  # the fake ignores limit=1000 beyond this
    for i in range(7):
        fake.add_user(f"user_{i}", f"u{i}@example.com", f"User {i}")
    for i in range(5):
        fake.add_api_key(f"apikey_{i}", f"key-{i}", f"user_{6 - i}")

    found = list(AnthropicProvider().identities(account(fake)))

    assert {i.external_id: i.email for i in found} == {
        f"key-{i}": f"u{6 - i}@example.com" for i in range(5)}
    users = fake.requests_to(USERS_PATH)
    assert [r.arg("after_id") for r in users] == [None, "user_1", "user_3", "user_5"]
    assert all(r.arg("limit") == "1000" for r in users)
    active = [r for r in fake.requests_to(API_KEYS_PATH) if r.arg("status") == "active"]
    assert [r.arg("after_id") for r in active] == [None, "apikey_1", "apikey_3"]


def test_fake_lists_use_the_documented_default_page_size(fake):
    import requests

    for i in range(25):
        fake.add_user(f"user_{i:02}", f"u{i}@example.com", f"User {i}")
    body = requests.get(fake.url + USERS_PATH, headers={
        "x-api-key": KEY, "anthropic-version": "2023-06-01"}, timeout=5).json()
    assert len(body["data"]) == 20
    assert (body["has_more"], body["first_id"], body["last_id"]) == (True, "user_00", "user_19")


# --- errors --------------------------------------------------------------------------------

def test_refused_key_is_auth_expired_and_never_shown(fake):
    fake.revoke(KEY)

    with pytest.raises(AuthExpired) as caught:
        fetch(fake, days("2025-09-08", "2025-09-08"))

    text = str(caught.value) + repr(caught.value) + repr(account(fake))
    assert KEY not in text
    assert CLAUDE_CODE_PATH in str(caught.value)
    assert "401" in str(caught.value)
    with pytest.raises(AuthExpired) as caught:
        list(AnthropicProvider().identities(account(fake)))
    assert KEY not in str(caught.value)


def test_forbidden_is_auth_expired(fake):
    fake.fail_next(403, error_body("permission_error", "not an admin"), path=USERS_PATH)

    with pytest.raises(AuthExpired, match="403"):
        list(AnthropicProvider().identities(account(fake)))


def test_429_with_retry_after_then_success_returns_records(fake):
    fake.add_claude_code("2025-09-08", actor_email="a@example.com",
                         models=[(SONNET, 1, 1, 0, 0, 250)])
    fake.rate_limit(times=1, retry_after="1")

    started = time.monotonic()
    records = fetch(fake, days("2025-09-08", "2025-09-08"))

    assert total_usd(records) == Decimal("2.50")
    assert len(fake.report_requests()) == 2
    assert time.monotonic() - started >= 0.9  # the Retry-After was honoured


def test_429_storm_is_rate_limited_with_retry_after(fake):
    HttpSettings.retries = 2  # keeps the honoured 1 s waits short
    fake.add_claude_code("2025-09-08", actor_email="a@example.com",
                         models=[(SONNET, 1, 1, 0, 0, 1)])
    fake.rate_limit(times=10, retry_after="1")

    with pytest.raises(RateLimited) as caught:
        fetch(fake, days("2025-09-08", "2025-09-08"))

    assert caught.value.retry_after == 1.0
    assert len(fake.report_requests()) == 3  # first try + 2 retries
    assert CLAUDE_CODE_PATH in str(caught.value)


def test_429_storm_without_retry_after_is_rate_limited(fake):
    fake.rate_limit(times=10, retry_after=None)

    with pytest.raises(RateLimited) as caught:
        fetch(fake, days("2025-09-08", "2025-09-08"))

    assert caught.value.retry_after is None
    assert len(fake.report_requests()) == HttpSettings.retries + 1


def test_long_retry_after_is_rate_limited_at_once(fake):
    fake.rate_limit(times=1, retry_after=str(int(HttpSettings.max_retry_after) + 480))

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        fetch(fake, days("2025-09-08", "2025-09-08"))

    assert caught.value.retry_after == HttpSettings.max_retry_after + 480
    assert time.monotonic() - started < 5
    assert len(fake.report_requests()) == 1


def test_server_error_then_success(fake):
    fake.add_claude_code("2025-09-08", actor_email="a@example.com",
                         models=[(SONNET, 1, 1, 0, 0, 3)])
    fake.fail_next(500, error_body("api_error", "Internal server error"))

    records = fetch(fake, days("2025-09-08", "2025-09-08"))

    assert total_usd(records) == Decimal("0.03")
    assert len(fake.report_requests()) == 2


def test_persistent_server_error_is_provider_error(fake):
    fake.fail_next(529, error_body("overloaded_error", "Overloaded"), times=20)

    with pytest.raises(ProviderError) as caught:
        fetch(fake, days("2025-09-08", "2025-09-08"))

    assert not isinstance(caught.value, AuthExpired | RateLimited)
    assert "529" in str(caught.value)


def test_bad_request_is_provider_error(fake):
    fake.fail_next(400, error_body("invalid_request_error", "starting_at: bad"))

    with pytest.raises(ProviderError, match="400"):
        fetch(fake, days("2025-09-08", "2025-09-08"))


# --- the fake itself -----------------------------------------------------------------------

@pytest.mark.parametrize("query", ["starting_at=2025-09-08T00:00:00Z", "starting_at=2025-9-8",
                                   "starting_at=2025-09-08&limit=0",
                                   "starting_at=2025-09-08&limit=1001", ""])
def test_fake_validates_report_parameters(fake, query):
    import requests

    reply = requests.get(f"{fake.url}{CLAUDE_CODE_PATH}?{query}", headers={
        "x-api-key": KEY, "anthropic-version": "2023-06-01"}, timeout=5)
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert reply.headers["request-id"].startswith("req_")


def test_fake_pagination_is_a_snapshot(fake):
    """Records added mid-pagination show up in the next session, not the running one."""
    for i in range(3):
        fake.add_claude_code("2025-09-08", actor_email=f"u{i}@example.com",
                             models=[(SONNET, 1, 1, 0, 0, 1)])
    fake.short_pages = True
    pages = AnthropicProvider().fetch(account(fake), days("2025-09-08", "2025-09-08"))
    first = next(pages)
    fake.add_claude_code("2025-09-08", actor_email="late@example.com",
                         models=[(SONNET, 1, 1, 0, 0, 1)])
    rest = [r for p in pages for r in p.records]

    assert len(first.records) + len(rest) == 3
    assert len(fetch(fake, days("2025-09-08", "2025-09-08"))) == 4


def test_missing_version_header_is_refused_by_the_fake(fake):
    import requests

    reply = requests.get(f"{fake.url}{CLAUDE_CODE_PATH}?starting_at=2025-09-08",
                         headers={"x-api-key": KEY}, timeout=5)
    assert reply.status_code == 400


def test_check_credentials():
    provider = AnthropicProvider()
    assert provider.check_credentials({"admin_key": "sk-ant-admin01-abc"}) == []
    assert provider.check_credentials({}) == ["Admin API key is required"]
    problems = provider.check_credentials({"admin_key": "sk-ant-api03-secret"})
    assert len(problems) == 1 and "sk-ant-api03-secret" not in problems[0]


def test_declared_contract():
    provider = AnthropicProvider()
    assert (provider.id, provider.tool, provider.default_base_url) == (
        "anthropic", "claude_code", "https://api.anthropic.com")
    assert provider.capabilities.actual_costs and provider.capabilities.identities
    assert [f.name for f in provider.credential_fields] == ["admin_key"]
    assert date(2025, 1, 1) + provider.window == date(2025, 1, 2)


@pytest.mark.parametrize("change", [
    lambda r: r["model_breakdown"][0]["tokens"].update(input=-1),
    lambda r: r["model_breakdown"][0]["tokens"].update(output=Decimal("1.5")),
    lambda r: r.update(actor={"type": "service_actor", "id": "svc_1"}),
    lambda r: r["model_breakdown"][0]["estimated_cost"].update(amount="lots"),
])
def test_malformed_records_are_errors_not_silent_drops(fake, change):
    record = fake.add_claude_code("2025-09-08", actor_email="a@example.com",
                                  models=[(SONNET, 1, 1, 0, 0, 1)])
    change(record)

    with pytest.raises(ProviderError, match="2025-09-08"):
        fetch(fake, days("2025-09-08", "2025-09-08"))
