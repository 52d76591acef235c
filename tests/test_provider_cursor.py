"""Cursor Admin API provider against a fake Cursor over real HTTP (no database, no Redis)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from abacus.providers.base import (
    AccountConfig,
    AuthExpired,
    Identity,
    Page,
    ProviderError,
    RateLimited,
    UsageRecord,
    Window,
)
from abacus.providers.cursor import CursorProvider, event_record
from abacus.providers.cursor_events import cursor_event_key
from abacus.providers.http import HttpSettings
from tests.fakes.cursor_admin import DEFAULT_KEY, TOO_MANY, FakeCursorAdmin

DAY = datetime(2025, 6, 26, tzinfo=UTC)
EVENTS = "/teams/filtered-usage-events"


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def day_window(start: datetime = DAY, days: int = 1) -> Window:
    return Window(start, start + timedelta(days=days))


@pytest.fixture
def fake() -> Iterator[FakeCursorAdmin]:
    with FakeCursorAdmin() as server:
        yield server


def account_for(fake: FakeCursorAdmin, key: str = DEFAULT_KEY,
                interval: float = 0.0) -> AccountConfig:
    return AccountConfig(name="team", credentials={"api_key": key}, base_url=fake.url,
                         min_request_interval=interval)


def fetch_pages(fake: FakeCursorAdmin, window: Window, **kwargs) -> list[Page]:
    return list(CursorProvider().fetch(account_for(fake, **kwargs), window))


def records_of(pages: list[Page]) -> list[UsageRecord]:
    return [r for page in pages for r in page.records]


def by_key(records: list[UsageRecord]) -> dict[str, UsageRecord]:
    keyed = {r.event_key: r for r in records}
    assert len(keyed) == len(records), "an event came back twice"
    return keyed


# --- pagination and totals ---------------------------------------------------------------

def test_day_with_more_events_than_a_page_returns_every_event_once(fake):
    fake.max_page_size = 7
    expected = Decimal(0)
    for i in range(25):
        cents = Decimal(f"{i}.{i:02d}123")
        fake.add_event(ms(DAY) + i * 3_000_000, f"dev{i % 4}@example.com", "claude-4.5-sonnet",
                       input=100 + i, output=50, cache_write=10, cache_read=1000,
                       total_cents=cents - 1 if i else None, charged_cents=cents)
        expected += cents / 100
    fake.add_event(ms(DAY - timedelta(milliseconds=1)), "dev0@example.com", "gpt-5",
                   charged_cents=500)  # the day before: not ours

    pages = fetch_pages(fake, day_window())

    assert len(pages) == 4  # 7 + 7 + 7 + 4
    records = records_of(pages)
    assert len(by_key(records)) == 25
    assert sum(r.cost_usd for r in records) == expected == Decimal("3.0303075")
    assert sum(r.input_tokens for r in records) == sum(100 + i for i in range(25))
    bodies = [r.json() for r in fake.requests_to(EVENTS)]
    assert [b["page"] for b in bodies] == [1, 2, 3, 4]
    assert {b["pageSize"] for b in bodies} == {1000}
    assert {(b["startDate"], b["endDate"]) for b in bodies} == {(ms(DAY), ms(DAY) + 86_400_000
                                                                 - 1)}


def test_record_fields_follow_the_contract_example(fake):
    fake.add_event(1750979225854, "Developer@Company.com", "claude-4.5-sonnet", maxMode=True,
                   requestsCosts=5, input=126, output=450, cache_write=6112, cache_read=11964,
                   total_cents=20.18232, charged_cents=21.36232, cursorTokenFee=1.18)
    at = datetime(2025, 6, 26, 23, 7, 5, 854_000, tzinfo=UTC)

    [record] = records_of(fetch_pages(fake, day_window()))

    assert record.event_key == cursor_event_key(1750979225854, "developer@company.com",
                                                "claude-4.5-sonnet")
    assert record.occurred_at == at and record.occurred_at.utcoffset() == timedelta(0)
    assert (record.tool, record.actor, record.email) == ("cursor", "developer@company.com",
                                                        "developer@company.com")
    assert (record.raw_model, record.kind) == ("claude-4.5-sonnet", "Usage-based")
    assert (record.input_tokens, record.output_tokens, record.cache_write_tokens,
            record.cache_read_tokens) == (126, 450, 6112, 11964)
    assert record.cost_usd == Decimal("0.2136232")
    assert record.extras == {
        "charged_cents": Decimal("21.36232"), "total_cents": Decimal("20.18232"),
        "cursor_token_fee": Decimal("1.18"), "max_mode": True, "requests_costs": 5,
        "is_token_based_call": True, "is_chargeable": True, "is_headless": False,
        "is_free_bugbot": False, "token_fee_usd": Decimal("0.0118"),
    }
    json.dumps(record.extras, default=str)  # storable


def test_events_without_tokens_are_kept_with_their_charge(fake):
    ts = ms(DAY) + 1000
    fake.add_event(ts, "admin@company.com", "claude-4-sonnet-thinking",
                   "Included in Business", token_based=False, charged_cents=8,
                   requestsCosts=1.4)
    fake.add_event(ts + 1, "admin@company.com", "gpt-5", "Errored, Not Charged",
                   token_based=False, charged_cents=0)
    fake.add_event(ts + 2, "admin@company.com", "o3", "Included in Business",
                   token_based=False)  # no money figure at all

    records = by_key(records_of(fetch_pages(fake, day_window())))

    assert len(records) == 3
    charged = records[cursor_event_key(ts, "admin@company.com", "claude-4-sonnet-thinking")]
    assert charged.cost_usd == Decimal("0.08")
    assert (charged.input_tokens, charged.output_tokens, charged.cache_write_tokens,
            charged.cache_read_tokens) == (0, 0, 0, 0)
    assert charged.kind == "Included in Business"
    assert charged.extras["requests_costs"] == Decimal("1.4")
    assert charged.extras["is_token_based_call"] is False
    assert "total_cents" not in charged.extras
    errored = records[cursor_event_key(ts + 1, "admin@company.com", "gpt-5")]
    assert errored.cost_usd == Decimal(0) and errored.kind == "Errored, Not Charged"
    assert records[cursor_event_key(ts + 2, "admin@company.com", "o3")].cost_usd is None


def test_charged_cents_win_over_total_cents_and_total_cents_fill_in(fake):
    ts = ms(DAY) + 5000
    fake.add_event(ts, "a@x.io", "gpt-5", input=1000, output=200, total_cents=20.18232,
                   charged_cents=21.36232)
    fake.add_event(ts + 1, "a@x.io", "gpt-5", input=1000, output=200, total_cents=3.5)

    records = by_key(records_of(fetch_pages(fake, day_window())))

    both = records[cursor_event_key(ts, "a@x.io", "gpt-5")]
    assert both.cost_usd == Decimal("0.2136232")
    assert (both.extras["charged_cents"], both.extras["total_cents"]) == (
        Decimal("21.36232"), Decimal("20.18232"))
    only_total = records[cursor_event_key(ts + 1, "a@x.io", "gpt-5")]
    assert only_total.cost_usd == Decimal("0.035")
    assert "charged_cents" not in only_total.extras


def test_default_model_is_kept_raw_and_keyed_like_the_csv_auto(fake):
    ts = ms(DAY) + 42
    fake.add_event(ts, "Dev@Example.com", "default", input=10, output=5, total_cents=0.1)

    [record] = records_of(fetch_pages(fake, day_window()))

    assert record.raw_model == "default"
    assert record.event_key == cursor_event_key(ts, "dev@example.com", "auto")


def test_revised_values_come_back_under_the_same_key(fake):
    event = fake.add_event(ms(DAY) + 10, "a@x.io", "gpt-5", input=100, total_cents=1,
                           charged_cents=1)
    [first] = records_of(fetch_pages(fake, day_window()))

    event["chargedCents"] = 2.5
    event["tokenUsage"]["inputTokens"] = 150
    fake.add_event(ms(DAY) + 20, "b@x.io", "gpt-5", charged_cents=4)  # late data
    again = by_key(records_of(fetch_pages(fake, day_window())))

    revised = again[first.event_key]
    assert (revised.cost_usd, revised.input_tokens) == (Decimal("0.025"), 150)
    assert sum(r.cost_usd for r in again.values()) == Decimal("0.065")


@given(charged=st.decimals(min_value=0, max_value=10**7, places=5),
       total=st.decimals(min_value=0, max_value=10**7, places=5))
def test_cents_become_exact_dollars(charged, total):
    event = {"timestamp": "1750979225854", "userEmail": "a@x.io", "model": "gpt-5",
             "kind": "Usage-based", "isTokenBasedCall": True,
             "tokenUsage": {"inputTokens": 1, "totalCents": total}}
    assert event_record(event).cost_usd == total / 100
    assert event_record({**event, "chargedCents": charged}).cost_usd == charged / 100


# --- windows -----------------------------------------------------------------------------

def test_adjacent_windows_never_return_the_same_event(fake):
    midnight = DAY + timedelta(days=1)
    fake.add_event(ms(midnight) - 1, "a@x.io", "gpt-5", charged_cents=1)
    fake.add_event(ms(midnight), "a@x.io", "gpt-5", charged_cents=2)
    fake.add_event(ms(midnight) + 1, "a@x.io", "gpt-5", charged_cents=4)

    before = by_key(records_of(fetch_pages(fake, Window(DAY, midnight))))
    after = by_key(records_of(fetch_pages(fake, Window(midnight, midnight + timedelta(days=1)))))

    assert not set(before) & set(after)
    assert [r.occurred_at for r in before.values()] == [midnight - timedelta(milliseconds=1)]
    assert sorted(r.occurred_at for r in after.values()) == [
        midnight, midnight + timedelta(milliseconds=1)]
    assert sum(r.cost_usd for r in [*before.values(), *after.values()]) == Decimal("0.07")


def test_multi_day_window_is_split_into_day_requests(fake):
    for day in range(3):
        fake.add_event(ms(DAY + timedelta(days=day, hours=12)), "a@x.io", "gpt-5",
                       charged_cents=day + 1)

    records = records_of(fetch_pages(fake, day_window(days=3)))

    assert len(by_key(records)) == 3
    assert sum(r.cost_usd for r in records) == Decimal("0.06")
    bodies = [r.json() for r in fake.requests_to(EVENTS)]
    assert [(b["startDate"], b["endDate"]) for b in bodies] == [
        (ms(DAY) + d * 86_400_000, ms(DAY) + (d + 1) * 86_400_000 - 1) for d in range(3)]


def test_cursor_resumes_an_interrupted_day_and_never_skips_one(fake):
    fake.max_page_size = 2
    day2 = DAY + timedelta(days=1)
    for i in range(3):  # 2 pages each day
        fake.add_event(ms(DAY) + i, "a@x.io", "gpt-5", charged_cents=1)
        fake.add_event(ms(day2) + i, "b@x.io", "gpt-5", charged_cents=1)
    provider, account, window = CursorProvider(), account_for(fake), day_window(days=2)

    pages = list(provider.fetch(account, window))
    assert [p.cursor for p in pages] == [
        {"start_ms": ms(DAY), "page": 2}, {"start_ms": ms(DAY), "page": None},
        {"start_ms": ms(day2), "page": 2}, {"start_ms": ms(day2), "page": None},
    ]
    fake.requests.clear()

    resumed = list(provider.fetch(account, window, cursor=pages[2].cursor))

    assert by_key(records_of(resumed)).keys() == by_key(records_of(pages[:2] + pages[3:])).keys()
    assert [(b["startDate"], b["page"]) for b in (r.json() for r in fake.requests_to(EVENTS))] \
        == [(ms(DAY), 1), (ms(DAY), 2), (ms(day2), 2)]
    # What the engine keeps after a complete window (the last cursor) re-reads everything.
    again = list(provider.fetch(account, window, cursor=pages[-1].cursor))
    assert len(by_key(records_of(again))) == 6


# --- identities --------------------------------------------------------------------------

def test_members_become_identities_removed_ones_too(fake):
    fake.add_member(12345, "Developer@Company.com", "Alex")
    fake.add_member(12346, "admin@company.com", "Sam", role="owner")
    fake.add_member(12347, "gone@company.com", "Kim", removed=True)
    fake.members.append({"name": "Old", "email": "old@company.com", "role": "member"})  # v1

    identities = list(CursorProvider().identities(account_for(fake)))

    assert set(identities) == {
        Identity("developer@company.com", "developer@company.com", "Alex"),
        Identity("12345", "developer@company.com", "Alex"),
        Identity("admin@company.com", "admin@company.com", "Sam"),
        Identity("12346", "admin@company.com", "Sam"),
        Identity("gone@company.com", "gone@company.com", "Kim"),
        Identity("12347", "gone@company.com", "Kim"),
        Identity("old@company.com", "old@company.com", "Old"),
    }
    assert [r.method for r in fake.requests_to("/teams/members")] == ["GET"]


# --- errors ------------------------------------------------------------------------------

def test_refused_key_is_auth_expired_without_the_key_in_the_message(fake):
    fake.add_event(ms(DAY) + 1, "a@x.io", "gpt-5", charged_cents=1)
    fake.revoke(DEFAULT_KEY)

    with pytest.raises(AuthExpired) as excinfo:
        fetch_pages(fake, day_window())

    assert DEFAULT_KEY not in str(excinfo.value)
    assert "filtered-usage-events" in str(excinfo.value) and "401" in str(excinfo.value)
    with pytest.raises(AuthExpired):
        list(CursorProvider().identities(account_for(fake)))


def test_forbidden_is_auth_expired(fake):
    fake.fail_next(403, {"error": "Forbidden", "message": "Enterprise access required"})

    # The error code only: free text from a response body is never repeated.
    with pytest.raises(AuthExpired, match=r"HTTP 403 \(Forbidden\)$"):
        fetch_pages(fake, day_window())


def test_missing_key_is_auth_expired_without_a_request(fake):
    with pytest.raises(AuthExpired):
        fetch_pages(fake, day_window(), key="")
    assert fake.requests == []


def test_a_429_without_retry_after_is_retried(fake):
    fake.add_event(ms(DAY) + 1, "a@x.io", "gpt-5", charged_cents=3)
    fake.fail_next(429, TOO_MANY, path=EVENTS)

    records = records_of(fetch_pages(fake, day_window()))

    assert [r.cost_usd for r in records] == [Decimal("0.03")]
    assert len(fake.requests_to(EVENTS)) == 2


def test_a_429_storm_from_the_rate_limit_is_rate_limited(fake):
    fake.max_page_size = 1
    for i in range(5):
        fake.add_event(ms(DAY) + i, "a@x.io", "gpt-5", charged_cents=1)
    fake.rate_limit_per_minute = 2
    pages = CursorProvider().fetch(account_for(fake), day_window())

    got = [next(pages), next(pages)]
    with pytest.raises(RateLimited) as excinfo:
        next(pages)

    assert len(records_of(got)) == 2
    assert excinfo.value.retry_after is None
    assert DEFAULT_KEY not in str(excinfo.value)
    assert len(fake.requests_to(EVENTS)) == 2 + 1 + HttpSettings.retries


def test_server_errors_are_provider_errors_naming_the_endpoint(fake):
    fake.fail_next(500, {"error": "Internal Server Error",
                         "message": "An unexpected error occurred"}, times=50)

    with pytest.raises(ProviderError) as excinfo:
        fetch_pages(fake, day_window())

    assert not isinstance(excinfo.value, AuthExpired)
    assert "filtered-usage-events" in str(excinfo.value)
    assert DEFAULT_KEY not in str(excinfo.value)


def test_a_body_without_events_is_a_provider_error(fake):
    fake.fail_next(200, {"error": "nope"})

    with pytest.raises(ProviderError, match="usageEvents"):
        fetch_pages(fake, day_window())


# --- pacing ------------------------------------------------------------------------------

def test_requests_are_paced_by_the_account_interval(fake):
    fake.max_page_size = 1
    for i in range(3):
        fake.add_event(ms(DAY) + i, "a@x.io", "gpt-5", charged_cents=1)

    started = time.monotonic()
    pages = fetch_pages(fake, day_window(), interval=0.2)
    elapsed = time.monotonic() - started

    assert len(pages) == 3
    assert elapsed >= 0.4


# --- the fake itself ---------------------------------------------------------------------

def test_fake_follows_the_documented_shape(fake):
    for i in range(12):
        fake.add_event(ms(DAY) + i, "a@x.io", "gpt-5", token_based=i % 2 == 0)
    auth = (DEFAULT_KEY, "")

    reply = requests.post(fake.url + EVENTS, auth=auth, timeout=5,
                          json={"startDate": ms(DAY), "endDate": ms(DAY) + 11})
    body = reply.json()
    assert body["totalUsageEventsCount"] == 12
    assert body["pagination"] == {"numPages": 2, "currentPage": 1, "pageSize": 10,
                                  "hasNextPage": True, "hasPreviousPage": False}
    stamps = [e["timestamp"] for e in body["usageEvents"]]
    assert stamps == [str(ms(DAY) + i) for i in range(11, 1, -1)]  # strings, newest first
    assert all(("tokenUsage" in e) == e["isTokenBasedCall"] for e in body["usageEvents"])

    assert requests.post(fake.url + "/teams/members", auth=auth, timeout=5).status_code in (
        404, 405)
    refused = requests.post(fake.url + EVENTS, auth=("not-a-key", ""), json={}, timeout=5)
    assert (refused.status_code, refused.json()) == (
        401, {"error": "Unauthorized", "message": "Invalid API key"})

    fake.rate_limit_per_minute = 1
    assert requests.post(fake.url + EVENTS, auth=auth, json={}, timeout=5).status_code == 200
    limited = requests.post(fake.url + EVENTS, auth=auth, json={}, timeout=5)
    assert (limited.status_code, limited.json()) == (429, TOO_MANY)
    assert "retry-after" not in {k.lower() for k in limited.headers}
