"""Cursor seats via the dashboard session cookie, against a fake cursor.com over real HTTP."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from abacus.providers.base import (
    AccountConfig,
    AuthExpired,
    ProviderError,
    RateLimited,
    UsageRecord,
    Window,
)
from abacus.providers.cursor_events import cursor_event_key
from abacus.providers.cursor_session import (
    COOKIE_WARNING_DAYS,
    CursorSessionProvider,
    cookie_expires_soon,
    cookie_expiry,
    normalize_cookie,
)
from abacus.providers.http import HttpSettings
from tests.fakes.cursor_dashboard import FakeCursorDashboard, Seat, make_jwt

EVENTS = "/api/dashboard/get-filtered-usage-events"
INVOICE = "/api/dashboard/get-monthly-invoice"
DAY = Window(datetime(2026, 7, 10, tzinfo=UTC), datetime(2026, 7, 11, tzinfo=UTC))
T0 = DAY.start_ms()
MINUTE = 60_000
ERRORED = "USAGE_EVENT_KIND_ERRORED_NOT_CHARGED"
ABORTED = "USAGE_EVENT_KIND_ABORTED_NOT_CHARGED"
INCLUDED = "USAGE_EVENT_KIND_INCLUDED_IN_PRO"


@pytest.fixture
def fake():
    with FakeCursorDashboard() as server:
        yield server


def account_for(fake: FakeCursorDashboard, seat: Seat, name: str = "ana-pro",
                cookie: str | None = None, **settings) -> AccountConfig:
    settings.setdefault("owner_email", seat.email)
    return AccountConfig(name=name, credentials={"cookie": cookie or seat.cookie},
                         base_url=fake.url, settings=settings)


def fetch_all(account: AccountConfig, window: Window = DAY, page_size: int = 500,
              **kwargs) -> tuple[list[UsageRecord], list]:
    pages = list(CursorSessionProvider(page_size=page_size).fetch(account, window, **kwargs))
    return [r for p in pages for r in p.records], pages


def bodies(fake: FakeCursorDashboard, path: str = EVENTS) -> list[dict]:
    return [r.json() for r in fake.requests_to(path)]


# --- events ---------------------------------------------------------------------------------

def test_window_over_several_pages_every_event_once_with_exact_usd(fake):
    seat = fake.add_seat()
    expected_cents = Decimal(0)
    for i in range(1203):
        cents = Decimal(i % 97) + Decimal("0.37")
        seat.add_event(T0 + i * MINUTE, "claude-4.6-sonnet-medium-thinking", input=i,
                       output=2 * i, cache_read=10, total_cents=cents - 1,
                       charged_cents=cents)
        expected_cents += cents
    seat.add_event(DAY.start_ms() - 1, "gpt-5", charged_cents=500)  # the day before
    seat.add_event(DAY.end_ms() + 1, "gpt-5", charged_cents=700)  # window end is exclusive

    records, pages = fetch_all(account_for(fake, seat))

    assert len(records) == 1203
    assert len({r.event_key for r in records}) == 1203
    assert sum(r.cost_usd for r in records) == expected_cents / 100
    assert sum(r.input_tokens for r in records) == sum(range(1203))
    assert sum(r.output_tokens for r in records) == 2 * sum(range(1203))
    assert sum(r.cache_read_tokens for r in records) == 12030
    assert [len(p.records) for p in pages] == [500, 500, 203]
    bounds = {"start_ms": DAY.start_ms(), "end_ms": DAY.end_ms()}
    assert [p.cursor for p in pages] == [{**bounds, "page": 2, "collected": 500},
                                         {**bounds, "page": 3, "collected": 1000},
                                         {**bounds, "page": None, "collected": 1203}]
    assert bodies(fake) == [{"teamId": 0, "startDate": str(DAY.start_ms()),
                             "endDate": str(DAY.end_ms()), "page": n, "pageSize": 500}
                            for n in (1, 2, 3)]
    # newest first, as the route serves them
    assert records[0].occurred_at > records[-1].occurred_at


def test_team_id_setting_is_sent(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", charged_cents=1)
    fetch_all(account_for(fake, seat, team_id=2168997))
    assert bodies(fake)[0]["teamId"] == 2168997


def test_rows_repeated_at_page_boundaries_are_dropped(fake):
    seat = fake.add_seat()
    for i in range(12):
        seat.add_event(T0 + i * MINUTE, "gpt-5", charged_cents=100 + i)
    fake.duplicate_at_page_boundary = True

    records, _ = fetch_all(account_for(fake, seat), page_size=5)

    assert sorted(r.occurred_at for r in records) == [
        DAY.start + timedelta(minutes=i) for i in range(12)]
    assert sum(r.cost_usd for r in records) == Decimal(sum(100 + i for i in range(12))) / 100


def test_short_non_final_page_does_not_end_the_fetch(fake):
    seat = fake.add_seat()
    for i in range(12):
        seat.add_event(T0 + i * MINUTE, "gpt-5", charged_cents=10)
    fake.short_page = True

    records, pages = fetch_all(account_for(fake, seat), page_size=5)

    assert len(pages[0].records) == 4  # the short page…
    assert len(records) == 12  # …and nothing lost after it
    assert len({r.occurred_at for r in records}) == 12


def test_short_page_and_boundary_repeats_together(fake):
    seat = fake.add_seat()
    for i in range(23):
        seat.add_event(T0 + i * MINUTE, "gpt-5", charged_cents=10)
    fake.short_page = fake.duplicate_at_page_boundary = True
    records, _ = fetch_all(account_for(fake, seat), page_size=5)
    assert sorted(r.occurred_at for r in records) == [
        DAY.start + timedelta(minutes=i) for i in range(23)]


def test_identical_rows_inside_one_page_are_kept(fake):
    seat = fake.add_seat()
    seat.add_event(T0 + MINUTE, "gpt-5", input=10, charged_cents=3)
    seat.add_event(T0 + MINUTE, "gpt-5", input=10, charged_cents=3)  # two real requests
    seat.add_event(T0, "gpt-5", input=1, charged_cents=1)
    records, _ = fetch_all(account_for(fake, seat))
    # Same key twice: ingest numbers repeated keys inside a batch, so both are stored.
    assert [r.event_key for r in records].count(f"{T0 + MINUTE}||gpt-5") == 2
    assert sum(r.cost_usd for r in records) == Decimal("0.07")


def test_errored_and_aborted_cost_nothing_included_is_not_billed(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "composer-2.5-fast", ERRORED, input=104504, cache_read=985600,
                   output=3666, total_cents=Decimal("249.71"), charged_cents=Decimal("411.39"))
    seat.add_event(T0 + 1, "claude-4.6-opus-high-thinking", ABORTED)  # tokenUsage {}
    seat.add_event(T0 + 2, "gpt-5.6-sol-high", INCLUDED, input=124067,
                   total_cents=Decimal("62.3386"), charged_cents=Decimal("62.3386"))
    seat.add_event(T0 + 3, "gpt-5", total_cents=Decimal("3.0723"), charged_cents=Decimal("4.4749"),
                   cursorTokenFee=Decimal("1.4026"))

    by_ts = {r.occurred_at: r for r in fetch_all(account_for(fake, seat))[0]}
    errored, aborted, included, billed = (by_ts[DAY.start + timedelta(milliseconds=i)]
                                          for i in range(4))
    assert errored.cost_usd == Decimal(0) and errored.input_tokens == 104504
    assert errored.extras["charged_cents"] == Decimal("411.39")  # kept, not billed
    assert aborted.cost_usd == Decimal(0) and aborted.input_tokens == 0
    assert included.cost_usd == Decimal("0.623386") and included.extras["billed"] is False
    assert billed.cost_usd == Decimal("0.044749") and billed.extras["billed"] is True
    assert billed.extras["cursor_token_fee"] == Decimal("1.4026")
    assert billed.extras["total_cents"] == Decimal("3.0723")
    assert errored.kind == ERRORED and billed.kind == "USAGE_EVENT_KIND_USAGE_BASED"


def test_string_numbers_missing_fields_and_float32_cents(fake):
    seat = fake.add_seat()
    e1 = seat.add_event(T0, "claude-4.6-opus-high-thinking")
    e1.update({"tokenUsage": {"inputTokens": "3", "outputTokens": "20525",
                              "cacheWriteTokens": "112151", "totalCents": "121.41"},
               "chargedCents": "124.73", "cursorTokenFee": "3.32", "requestsCosts": 30.4,
               "maxMode": "true", "isHeadless": False, "owningTeam": "2168997",
               "usageBasedCosts": "$1.25"})
    e2 = seat.add_event(T0 + 1, "Premium (Codex 5.3)", INCLUDED, input=222994, output=5718,
                        cache_read=1359872, total_cents=70.82691192626953,
                        charged_cents=70.82691192626953, requestsCosts=17.700000762939453)
    e3 = seat.add_event(T0 + 2, "default", kind=None, isChargeable=None, isTokenBasedCall=None,
                        usageBasedCosts=None, tokenUsage=None)  # almost nothing given
    assert "kind" not in e3 and "tokenUsage" not in e3 and e2["timestamp"] == str(T0 + 1)

    r1, r2, r3 = sorted(fetch_all(account_for(fake, seat))[0], key=lambda r: r.occurred_at)
    assert (r1.input_tokens, r1.output_tokens, r1.cache_write_tokens, r1.cache_read_tokens) \
        == (3, 20525, 112151, 0)
    assert r1.cost_usd == Decimal("1.2473")
    assert r1.extras == {"charged_cents": Decimal("124.73"), "total_cents": Decimal("121.41"),
                         "cursor_token_fee": Decimal("3.32"), "requests_costs": Decimal("30.4"),
                         "is_headless": False, "is_chargeable": True, "max_mode": True,
                         "usage_based_costs": "$1.25", "owning_user": seat.owning_user,
                         "owning_team": "2168997", "billed": True,
                         "token_fee_usd": Decimal("0.0332")}
    assert r2.cost_usd == Decimal("0.7082691192626953")
    assert r2.extras["requests_costs"] == Decimal("17.700000762939453")
    assert r2.raw_model == "Premium (Codex 5.3)" and r2.extras["max_mode"] is False
    assert (r3.kind, r3.cost_usd, r3.input_tokens, r3.raw_model) == ("", None, 0, "default")
    assert r3.extras == {"owning_user": seat.owning_user, "max_mode": False, "billed": False}
    json.dumps([r.extras for r in (r1, r2, r3)], default=str)  # storable


def test_total_cents_is_the_cost_when_charged_cents_is_missing(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "claude-4.5-opus-high-thinking", INCLUDED, total_cents=Decimal("22.44"))
    (record,), _ = fetch_all(account_for(fake, seat))
    assert record.cost_usd == Decimal("0.2244") and "charged_cents" not in record.extras


def test_event_key_matches_a_personal_csv_import_of_the_seat(fake):
    seat = fake.add_seat(email="ana@example.com")
    ts = 1783635383682
    seat.add_event(ts, "default", INCLUDED, charged_cents=1)
    window = Window(datetime(2026, 7, 9, tzinfo=UTC), datetime(2026, 7, 10, tzinfo=UTC))
    (record,), _ = fetch_all(account_for(fake, seat, name="ana-pro"), window)

    # What the CSV importer builds for the same row of a personal export (no User column):
    # the ISO Date cell back to ms, empty user, `auto` (the CSV's spelling of `default`).
    csv_date = "2026-07-09T22:16:23.682Z"
    csv_ms = int(datetime.fromisoformat(csv_date).timestamp() * 1000)
    assert record.event_key == cursor_event_key(csv_ms, "", "auto") == f"{ts}||auto"
    assert record.event_key == cursor_event_key(ts, "", "default")
    assert record.occurred_at == datetime.fromisoformat(csv_date)
    assert record.actor == "seat:ana-pro" and record.email == "ana@example.com"
    assert record.tool == "cursor"


def test_owner_email_is_optional(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", charged_cents=1)
    acct = AccountConfig(name="x", credentials={"cookie": seat.cookie}, base_url=fake.url)
    (record,), _ = fetch_all(acct)
    assert record.email is None and record.actor == "seat:x"


def test_two_seats_never_see_each_others_events(fake):
    ana, bob = fake.add_seat(owning_user="111"), fake.add_seat(owning_user="222")
    for i in range(3):
        ana.add_event(T0 + i, "gpt-5", charged_cents=100)
    bob.add_event(T0 + 5, "claude-4.6-sonnet", charged_cents=7)

    ana_records, _ = fetch_all(account_for(fake, ana, name="ana"))
    bob_records, _ = fetch_all(account_for(fake, bob, name="bob"))

    assert len(ana_records) == 3 and len(bob_records) == 1
    assert {r.extras["owning_user"] for r in ana_records} == {"111"}
    assert bob_records[0].extras["owning_user"] == "222" and bob_records[0].actor == "seat:bob"
    assert sum(r.cost_usd for r in ana_records) == Decimal(3)


def test_revised_values_update_the_same_key_and_late_rows_show_up(fake):
    seat = fake.add_seat()
    event = seat.add_event(T0, "gpt-5", charged_cents=100)
    acct = account_for(fake, seat)
    (first,), _ = fetch_all(acct)

    event["chargedCents"] = 150.5  # Cursor finalised the cents
    seat.add_event(DAY.end_ms() - MINUTE, "gpt-5", charged_cents=9)  # arrived late
    second, _ = fetch_all(acct)

    revised = next(r for r in second if r.event_key == first.event_key)
    assert revised.cost_usd == Decimal("1.505")
    assert len(second) == 2


def test_fetch_resumes_only_this_windows_unfinished_cursor(fake):
    seat = fake.add_seat()
    for i in range(7):
        seat.add_event(T0 + i, "gpt-5", charged_cents=1)
    acct = account_for(fake, seat)
    bounds = {"start_ms": DAY.start_ms(), "end_ms": DAY.end_ms()}
    records, pages = fetch_all(acct, page_size=5, cursor={**bounds, "page": 2, "collected": 5})
    assert [b["page"] for b in bodies(fake)] == [2]
    assert len(records) == 2 and pages[-1].cursor["page"] is None

    # The engine keeps the last cursor: a finished one, or another window's, skips nothing.
    yesterday = {"start_ms": DAY.start_ms() - 86_400_000, "end_ms": DAY.start_ms() - 1}
    for kept in (pages[-1].cursor, {**yesterday, "page": 2, "collected": 5}, {"page": "x"}):
        fake.requests.clear()
        records, _ = fetch_all(acct, page_size=5, cursor=kept)
        assert len(records) == 7 and bodies(fake)[0]["page"] == 1


def test_events_outside_the_window_are_dropped_even_if_served(fake):
    seat = fake.add_seat()
    seat.add_event(T0 - 1, "gpt-5", charged_cents=100)
    seat.add_event(T0, "gpt-5", charged_cents=2)
    seat.add_event(DAY.end_ms() + 1, "gpt-5", charged_cents=100)
    fake.ignore_dates = True  # a server that serves every cycle
    records, _ = fetch_all(account_for(fake, seat), page_size=2)
    assert [r.cost_usd for r in records] == [Decimal("0.02")]
    assert len(fake.requests_to(EVENTS)) == 2  # still read to the end


def test_runaway_paging_is_capped(fake):
    seat = fake.add_seat()
    for i in range(5):
        seat.add_event(T0 + i, "gpt-5", charged_cents=1)
    provider = CursorSessionProvider(page_size=1, max_pages=3)
    with pytest.raises(ProviderError, match="more than 3 pages"):
        list(provider.fetch(account_for(fake, seat), DAY))


def test_server_ignoring_the_page_number_is_an_error(fake):
    seat = fake.add_seat()
    rows = [seat.add_event(T0 + i, "gpt-5", charged_cents=1) for i in range(2)]
    fake.fail_next(200, {"totalUsageEventsCount": 10, "usageEventsDisplay": rows}, times=5,
                   path=EVENTS)
    with pytest.raises(ProviderError, match="not paging"):
        fetch_all(account_for(fake, seat), page_size=2)


def test_malformed_numbers_are_reported_not_guessed(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", tokenUsage={"inputTokens": "lots"})
    with pytest.raises(ProviderError, match="inputTokens"):
        fetch_all(account_for(fake, seat))


# --- headers, sessions and errors -----------------------------------------------------------

def test_every_request_carries_the_cookie_and_posts_carry_origin_and_referer(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", charged_cents=1)
    fake.require_referer = True
    acct = account_for(fake, seat)
    fetch_all(acct)
    list(CursorSessionProvider().snapshots(acct))

    for request in fake.requests:
        assert request.headers["cookie"] == f"WorkosCursorSessionToken={seat.cookie}"
        if request.method == "POST":
            assert request.headers["origin"] == fake.url
            assert request.headers["referer"] == f"{fake.url}/dashboard"
            assert request.headers["content-type"] == "application/json"
    assert {r.method for r in fake.requests} == {"GET", "POST"}


def test_a_refused_origin_is_not_mistaken_for_an_expired_session(fake):
    seat = fake.add_seat()
    fake.origin = "https://cursor.com"  # the fake now expects another Origin than we send
    with pytest.raises(ProviderError, match="refused the request.s Origin") as info:
        fetch_all(account_for(fake, seat))
    assert not isinstance(info.value, AuthExpired)


@pytest.mark.parametrize("as_html", [False, True], ids=["401-json", "200-html"])
def test_expired_cookie_is_auth_expired(fake, as_html):
    seat = fake.add_seat(exp=datetime.now(UTC) - timedelta(hours=1))
    seat.add_event(T0, "gpt-5", charged_cents=1)
    fake.expired_as_html = as_html
    with pytest.raises(AuthExpired, match="sign in to cursor.com again and replace the cookie"):
        fetch_all(account_for(fake, seat))
    with pytest.raises(AuthExpired):
        list(CursorSessionProvider().snapshots(account_for(fake, seat)))


def test_revoked_session_is_auth_expired(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", charged_cents=1)
    acct = account_for(fake, seat)
    assert len(fetch_all(acct)[0]) == 1
    seat.revoke()
    with pytest.raises(AuthExpired, match="HTTP 401 \\(not_authenticated\\)"):
        fetch_all(acct)


def test_html_body_is_auth_expired_whatever_its_content_type(fake):
    seat = fake.add_seat()
    fake.fail_next(200, "\n  <!doctype html><html><body>Sign in</body></html>",
                   content_type="application/json", path=EVENTS)
    with pytest.raises(AuthExpired, match="HTML"):
        fetch_all(account_for(fake, seat))
    fake.fail_next(200, "<html><body>login</body></html>", content_type="text/plain",
                   path=EVENTS)
    with pytest.raises(AuthExpired):
        fetch_all(account_for(fake, seat))


def test_plain_403_is_auth_expired(fake):
    seat = fake.add_seat()
    fake.fail_next(403, {"error": "forbidden"}, path=EVENTS)
    with pytest.raises(AuthExpired):
        fetch_all(account_for(fake, seat))


def test_redirect_to_sign_in_is_auth_expired_and_not_followed(fake):
    seat = fake.add_seat()
    fake.fail_next(307, "", headers={"Location": "https://authenticator.cursor.sh/login?x=1"},
                   path=EVENTS)
    with pytest.raises(AuthExpired, match="redirected to sign-in"):
        fetch_all(account_for(fake, seat))
    assert len(fake.requests) == 1  # the cookie never went to another host


def test_the_double_colon_cookie_form_works(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", charged_cents=1)
    records, _ = fetch_all(account_for(fake, seat, cookie=seat.cookie_colons))
    assert len(records) == 1
    assert fake.requests[0].headers["cookie"] == f"WorkosCursorSessionToken={seat.cookie_colons}"


def test_a_pasted_cookie_header_is_used_as_its_value(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", charged_cents=1)
    pasted = f"Cookie: _ga=GA1.1.1; WorkosCursorSessionToken={seat.cookie}; theme=dark"
    assert len(fetch_all(account_for(fake, seat, cookie=pasted))[0]) == 1
    assert fake.requests[0].headers["cookie"] == f"WorkosCursorSessionToken={seat.cookie}"


def test_rate_limited_without_retry_after(fake):
    seat = fake.add_seat()
    fake.fail_next(429, {"error": "The user has sent too many requests"}, times=20, path=EVENTS)
    with pytest.raises(RateLimited) as info:
        fetch_all(account_for(fake, seat))
    assert info.value.retry_after is None
    assert len(fake.requests_to(EVENTS)) == HttpSettings.retries + 1  # the session retried


def test_rate_limited_with_a_long_retry_after(fake):
    seat = fake.add_seat()
    fake.fail_next(429, {"error": "slow down"}, times=20, headers={"Retry-After": "3600"},
                   path=EVENTS)
    with pytest.raises(RateLimited) as info:
        fetch_all(account_for(fake, seat))
    assert info.value.retry_after == pytest.approx(3600)


def test_a_transient_500_is_retried(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", charged_cents=1)
    fake.fail_next(500, "<html>Internal Server Error</html>", path=EVENTS)
    assert len(fetch_all(account_for(fake, seat))[0]) == 1


def test_a_lasting_500_is_a_provider_error_not_auth(fake):
    seat = fake.add_seat()
    fake.fail_next(500, {"error": "boom"}, times=20, path=EVENTS)
    with pytest.raises(ProviderError, match="HTTP 500") as info:
        fetch_all(account_for(fake, seat))
    assert not isinstance(info.value, AuthExpired | RateLimited)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_cookie_never_appears_in_an_error(fake):
    seat = fake.add_seat()
    seat.add_event(T0, "gpt-5", charged_cents=1)
    secrets = (seat.cookie, seat.jwt, seat.jwt.split(".")[1])
    errors: list[BaseException] = []

    def capture(run) -> None:
        with pytest.raises(ProviderError) as info:
            run()
        errors.append(info.value)

    acct = account_for(fake, seat)
    for status, body, headers in [(401, {"error": "not_authenticated"}, {}),
                                  (403, {"error": "Invalid origin for state-changing request"},
                                   {}),
                                  (500, {"error": "x"}, {}), (429, {}, {"Retry-After": "999"}),
                                  (302, "", {"Location": "/elsewhere"}),
                                  (200, "<!DOCTYPE html>", {}), (200, "not json", {})]:
        fake.fail_next(status, body, times=20, headers=headers, path=EVENTS,
                       content_type="text/plain" if body == "not json" else None)
        capture(lambda: fetch_all(acct))
        fake.faults.clear()
    gone = AccountConfig(name="x", credentials={"cookie": seat.cookie},
                         base_url=f"http://127.0.0.1:{_closed_port()}")
    capture(lambda: fetch_all(gone))
    capture(lambda: fetch_all(account_for(fake, seat, cookie="a=b; c=d")))
    seat.revoke()
    capture(lambda: list(CursorSessionProvider().snapshots(acct)))

    assert len(errors) == 10
    for error in errors:
        chain = [error, error.__cause__, error.__context__]
        text = " ".join(f"{e!s} {e!r}" for e in chain if e is not None)
        for secret in secrets:
            assert secret not in text
    assert seat.cookie not in repr(acct)


# --- snapshots ------------------------------------------------------------------------------

def snapshots_by_kind(acct: AccountConfig) -> dict:
    found = {}
    for snap in CursorSessionProvider().snapshots(acct):
        json.dumps(snap.data)  # JSON-serializable as stored
        found[snap.kind] = snap
    return found


def enterprise_summary() -> dict:
    return {
        "billingCycleStart": "2026-04-02T14:11:55.000Z",
        "billingCycleEnd": "2026-05-02T14:11:55.000Z", "membershipType": "enterprise",
        "limitType": "team", "isUnlimited": False,
        "individualUsage": {
            "plan": {"enabled": True, "used": 2000, "limit": 2000, "remaining": 0,
                     "breakdown": {"included": 2000, "bonus": 6121, "total": 8121},
                     "autoPercentUsed": 0, "apiPercentUsed": 100, "totalPercentUsed": 46.444},
            "onDemand": {"enabled": True, "used": 2309, "limit": None, "remaining": None}},
        "teamUsage": {"onDemand": {"enabled": True, "used": "15000", "limit": 50000,
                                   "remaining": 35000}},
    }


def test_snapshots_profile_summary_limit_invoice_session(fake):
    exp = datetime(2026, 9, 1, 12, 0, tzinfo=UTC) + timedelta(days=365 * 3)
    seat = fake.add_seat(email="ana@example.com", name="Ana", exp=exp)
    seat.summary = enterprise_summary()
    seat.set_invoice([("59 token-based usage calls to claude-4-sonnet-thinking, "
                       "totalling: $4.65", 465),
                      ("97 extra fast premium requests beyond 500/month * 4 cents per such "
                       "request", 388),
                      ("Mid-month usage paid for April", -500)],
                     periodStartMs="1775139115000", hasUnpaidMidMonthInvoice=False)

    snaps = snapshots_by_kind(account_for(fake, seat))

    assert snaps["profile"].data == {"email": "ana@example.com", "name": "Ana",
                                     "sub": f"auth0|{seat.user_id}"}
    summary = snaps["summary"].data
    assert summary["billing_cycle_start"] == "2026-04-02T14:11:55+00:00"
    assert summary["billing_cycle_end"] == "2026-05-02T14:11:55+00:00"
    assert (summary["membership_type"], summary["limit_type"]) == ("enterprise", "team")
    plan = summary["individual_usage"]["plan"]
    assert (plan["used_cents"], plan["used_usd"], plan["remaining_usd"]) == (2000, "20.00", "0.00")
    assert plan["breakdown"]["bonus_usd"] == "61.21"
    assert plan["total_percent_used"] == pytest.approx(46.444)
    on_demand = summary["individual_usage"]["on_demand"]
    assert (on_demand["used_usd"], on_demand["limit_usd"], on_demand["limit_cents"]) \
        == ("23.09", None, None)
    assert summary["team_usage"]["on_demand"] == {
        "enabled": True, "used_cents": 15000, "used_usd": "150.00", "limit_cents": 50000,
        "limit_usd": "500.00", "remaining_cents": 35000, "remaining_usd": "350.00"}

    assert snaps["hard_limit"].data == {"hard_limit_usd": None, "unlimited": True,
                                        "no_usage_based_allowed": False}

    invoice = snaps["invoice"]
    assert invoice.key == "2026-04"
    assert invoice.data["items"][0] == {
        "description": "59 token-based usage calls to claude-4-sonnet-thinking, totalling: $4.65",
        "cents": 465, "usd": "4.65"}
    assert invoice.data["items"][2]["usd"] == "-5.00"
    assert (invoice.data["total_cents"], invoice.data["total_usd"]) == (353, "3.53")
    assert invoice.data["period_start"] == "2026-04-02T14:11:55+00:00"
    assert invoice.data["has_unpaid_mid_month_invoice"] is False
    assert bodies(fake, INVOICE) == [{"month": 4, "year": 2026, "includeUsageEvents": False}]

    assert snaps["session"].data == {"expires_at": exp.isoformat()}


def test_hard_limit_in_whole_dollars_and_team_invoice_body(fake):
    seat = fake.add_seat()
    seat.hard_limit = {"hardLimit": "150", "noUsageBasedAllowed": True, "hardLimitPerUser": 40}
    snaps = snapshots_by_kind(account_for(fake, seat, team_id=77))
    assert snaps["hard_limit"].data == {"hard_limit_usd": "150.00", "unlimited": False,
                                        "no_usage_based_allowed": True,
                                        "hard_limit_per_user_usd": "40.00"}
    assert bodies(fake, "/api/dashboard/get-hard-limit") == [{"teamId": 77}]
    assert bodies(fake, INVOICE)[0]["teamId"] == 77
    assert snaps["invoice"].data["items"] == [] and snaps["invoice"].data["total_usd"] == "0.00"


def test_invoice_401_is_skipped_without_auth_expired(fake):
    seat = fake.add_seat()
    seat.invoice_status = 401  # enterprise member: admin-only route
    snaps = snapshots_by_kind(account_for(fake, seat))
    assert "invoice" not in snaps
    assert {"session", "profile", "summary", "hard_limit"} <= set(snaps)


def test_auth_me_404_is_skipped(fake):
    seat = fake.add_seat()
    seat.me_status = 404
    snaps = snapshots_by_kind(account_for(fake, seat))
    assert "profile" not in snaps and {"summary", "hard_limit", "invoice"} <= set(snaps)


def test_summary_refused_is_auth_expired(fake):
    seat = fake.add_seat()
    seat.me_status = 404
    fake.fail_next(401, {"error": "not_authenticated"}, path="/api/usage-summary")
    with pytest.raises(AuthExpired):
        snapshots_by_kind(account_for(fake, seat))


def test_session_snapshot_is_null_for_an_unreadable_token(fake):
    seat = fake.add_seat()
    acct = account_for(fake, seat, cookie="user_01X%3A%3Aopaque")
    first = next(CursorSessionProvider().snapshots(acct))
    assert (first.kind, first.data) == ("session", {"expires_at": None})


# --- cookie helpers -------------------------------------------------------------------------

def jwt_for(exp: datetime, sub: str = "auth0|user_01ABC") -> str:
    return make_jwt({"sub": sub, "exp": int(exp.timestamp()), "type": "session"})


def test_normalize_cookie_input_shapes():
    jwt = jwt_for(datetime(2026, 9, 1, tzinfo=UTC))
    value = f"user_01ABC%3A%3A{jwt}"
    assert normalize_cookie(value) == value
    assert normalize_cookie(f"  {value}\n") == value
    assert normalize_cookie(f"WorkosCursorSessionToken={value}") == value
    assert normalize_cookie(f'WorkosCursorSessionToken="{value}"') == value
    assert normalize_cookie(f"Cookie: NEXT_LOCALE=en; WorkosCursorSessionToken={value}; "
                            "__stripe_mid=abc") == value
    assert normalize_cookie(f"cookie: WorkosCursorSessionToken={value}") == value
    assert normalize_cookie(f"user_01ABC::{jwt}") == f"user_01ABC::{jwt}"
    assert normalize_cookie(jwt) == value  # a bare IDE token gets its user-id prefix


@pytest.mark.parametrize("text", ["", "   ", "Cookie: theme=dark; _ga=1",
                                  "WorkosCursorSessionToken=", "not a cookie at all",
                                  "garbage-without-separator"])
def test_normalize_cookie_refuses_without_quoting(text):
    with pytest.raises(ValueError) as info:
        normalize_cookie(text)
    assert "WorkosCursorSessionToken" in str(info.value)
    if text.strip():
        assert text.strip() not in str(info.value)


def test_cookie_expiry_reads_the_jwt_exp():
    exp = datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
    jwt = jwt_for(exp)
    for value in (f"user_01ABC%3A%3A{jwt}", f"user_01ABC::{jwt}",
                  f"WorkosCursorSessionToken=user_01ABC%3A%3A{jwt}"):
        assert cookie_expiry(value) == exp
    assert cookie_expiry("user_01ABC%3A%3Anot.a-jwt.at-all") is None
    assert cookie_expiry("") is None
    assert cookie_expiry("user_01ABC%3A%3A" + make_jwt({"sub": "x"})) is None


def test_cookie_expires_soon_warns_a_week_ahead():
    now = datetime(2026, 7, 10, 12, tzinfo=UTC)
    assert COOKIE_WARNING_DAYS == 7

    def cookie(days: float) -> str:
        return f"user_01ABC%3A%3A{jwt_for(now + timedelta(days=days))}"

    assert cookie_expires_soon(cookie(6), now) is True
    assert cookie_expires_soon(cookie(8), now) is False
    assert cookie_expires_soon(cookie(-1), now) is True  # already expired
    assert cookie_expires_soon("user_01ABC%3A%3Aopaque", now) is False  # unknown: no warning


def test_check_credentials():
    provider = CursorSessionProvider()
    good = f"user_01ABC%3A%3A{jwt_for(datetime.now(UTC) + timedelta(days=30))}"
    old = f"user_01ABC%3A%3A{jwt_for(datetime(2024, 1, 2, tzinfo=UTC))}"
    assert provider.check_credentials({"cookie": good}) == []
    assert provider.check_credentials({}) == ["WorkosCursorSessionToken cookie is required"]
    (problem,) = provider.check_credentials({"cookie": old})
    assert "expired on 2024-01-02" in problem and old not in problem
    assert provider.check_credentials({"cookie": "Cookie: a=b"}) != []


def test_provider_declaration():
    p = CursorSessionProvider
    assert (p.id, p.display_name, p.tool) == ("cursor_session", "Cursor seat (session cookie)",
                                              "cursor")
    caps = p.capabilities
    assert caps.token_usage and caps.actual_costs and caps.usage_limits and caps.invoices
    assert [f.name for f in p.credential_fields] == ["cookie"]
    assert p.credential_fields[0].secret and p.credential_fields[0].help
    assert p.default_base_url == "https://cursor.com"
    assert p.window == p.overlap == timedelta(days=1)
    assert p.min_request_interval == 1.0


# --- the fake itself (so the tests above prove something) -----------------------------------

def post(fake, seat, path, body, origin=True):
    headers = {"Cookie": f"WorkosCursorSessionToken={seat.cookie}"}
    if origin:
        headers["Origin"] = fake.url
    return requests.post(fake.url + path, json=body, headers=headers, timeout=5)


def test_fake_pages_filters_and_refuses_like_the_contract(fake):
    seat = fake.add_seat()
    for i in range(150):
        seat.add_event(T0 + i, "gpt-5", charged_cents=1)
    page = post(fake, seat, EVENTS, {}).json()
    assert page["totalUsageEventsCount"] == 150 and len(page["usageEventsDisplay"]) == 100
    assert page["usageEventsDisplay"][0]["timestamp"] == str(T0 + 149)  # newest first
    assert post(fake, seat, EVENTS, {"pageSize": 2000}).json()["usageEventsDisplay"] == []
    bounded = post(fake, seat, EVENTS, {"startDate": T0 + 10, "endDate": str(T0 + 19)}).json()
    assert bounded["totalUsageEventsCount"] == 10  # inclusive, numbers or strings
    refused = post(fake, seat, EVENTS, {}, origin=False)
    assert refused.status_code == 403
    assert refused.json() == {"error": "Invalid origin for state-changing request"}

    fake.duplicate_at_page_boundary = True
    p1 = post(fake, seat, EVENTS, {"page": 1, "pageSize": 10}).json()["usageEventsDisplay"]
    p2 = post(fake, seat, EVENTS, {"page": 2, "pageSize": 10}).json()["usageEventsDisplay"]
    assert p2[0] == p1[-1]
    fake.duplicate_at_page_boundary, fake.short_page = False, True
    assert len(post(fake, seat, EVENTS, {"page": 1, "pageSize": 10})
               .json()["usageEventsDisplay"]) == 9


def test_fake_teams_routes_and_sessions(fake):
    seat = fake.add_seat()
    cookie = {"Cookie": f"WorkosCursorSessionToken={seat.cookie}"}
    teams_get = requests.get(fake.url + "/api/dashboard/teams", headers=cookie, timeout=5)
    assert teams_get.status_code == 500 and "text/html" in teams_get.headers["Content-Type"]
    assert post(fake, seat, "/api/dashboard/teams", {}).json() == {}
    anonymous = requests.get(fake.url + "/api/usage-summary", timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"
    other = fake.add_seat()
    other.add_event(T0, "gpt-5")
    assert post(fake, seat, EVENTS, {}).json()["totalUsageEventsCount"] == 0
