"""Sign-in, the guard, and the first page, against the real database and the real ingest."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from abacus.analytics import overview as analytics
from abacus.analytics.common import default_range
from abacus.extensions import db
from abacus.models import User
from abacus.providers.base import UsageRecord
from abacus.usage.pricing import canonical_model, load_shipped_prices
from abacus.web.auth import safe_next
from abacus.web.filters import compact, day_range, number, usd
from tests.helpers import csrf_token, seed, sign_in  # noqa: F401 - other tests import them here

BANNER = "Development sign-in — not for production"


# --- helpers -------------------------------------------------------------------------------

def today() -> date:
    return datetime.now(UTC).date()  # the test app's org time zone is UTC


def record(key: str, days_ago: int, *, tool: str = "cursor", actor: str = "alice@example.com",
           email: str | None = "alice@example.com", model: str = "claude-sonnet-4-5-20250929",
           input_tokens: int = 0, output_tokens: int = 0,
           cost: Decimal | None = None) -> UsageRecord:
    occurred = datetime.combine(today() - timedelta(days=days_ago), time(12), tzinfo=UTC)
    return UsageRecord(event_key=key, occurred_at=occurred, tool=tool, actor=actor,
                       email=email, raw_model=model, input_tokens=input_tokens,
                       output_tokens=output_tokens, cost_usd=cost)





def text_of(response) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def table_row(response, needle: str) -> str:
    """Visible text of the first table row mentioning `needle`."""
    for row in re.findall(r"<tr>.*?</tr>", response.get_data(as_text=True), flags=re.S):
        if needle in row:
            return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", row))).strip()
    raise AssertionError(f"no table row mentions {needle!r}")


def estimate(raw_model: str, input_tokens: int, output_tokens: int) -> Decimal:
    price = load_shipped_prices()[canonical_model(raw_model)]
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000



# --- the guard -----------------------------------------------------------------------------

def test_root_redirects_to_sign_in_when_signed_out(client):
    response = client.get("/?days=7")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/sign-in"
    assert parse_qs(location.query)["next"] == ["/?days=7"]


def test_every_page_but_the_public_ones_needs_sign_in(app, client):
    from abacus.web.auth import PUBLIC_ENDPOINTS

    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or "GET" not in rule.methods:
            continue
        url = rule.build({arg: "1" for arg in rule.arguments}, append_unknown=False)[1]
        response = client.get(url)
        if url.startswith("/api/"):  # the JSON API asks for its bearer token instead
            assert response.status_code == 401, rule.endpoint
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), rule.endpoint
            continue
        assert response.status_code == 302, rule.endpoint
        assert urlsplit(response.headers["Location"]).path == "/auth/sign-in", rule.endpoint
        checked += 1
    assert checked >= 1


def test_htmx_request_signed_out_gets_hx_redirect(client):
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/auth/sign-in")


def test_healthz_works_signed_out(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"db": "ok", "redis": "ok"}


def test_sign_in_page_offers_dev_sign_in(client):
    response = client.get("/auth/sign-in?next=/%3Fdays%3D7")
    assert response.status_code == 200
    assert "/auth/dev-login?next=" in response.get_data(as_text=True)


# --- development sign-in -------------------------------------------------------------------

def test_dev_login_form_has_fields_and_banner(client):
    response = client.get("/auth/dev-login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="email"' in page
    assert 'name="csrf_token"' in page
    assert BANNER in text_of(response)


def test_post_without_csrf_token_is_refused(client):
    response = client.post("/auth/dev-login", data={"email": "alice@example.com"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_disallowed_domain_is_refused_and_nobody_signed_in(client, ctx):
    response = sign_in(client, "mallory@example.org")
    assert response.status_code == 403
    assert "example.org is not an allowed domain" in text_of(response)
    assert client.get("/").status_code == 302
    assert db.session.execute(select(User)).first() is None


@pytest.mark.parametrize("email", ["alice", "@example.com", "a@b@example.com", "a b@example.com"])
def test_malformed_address_is_refused(client, email):
    response = sign_in(client, email)
    assert response.status_code == 400
    assert "Enter an e-mail address" in text_of(response)
    assert client.get("/").status_code == 302


def test_no_allowed_domain_configured_is_refused(app, make_app):
    client = make_app(ALLOWED_DOMAINS="").test_client()
    response = sign_in(client, "alice@example.com")
    assert response.status_code == 403
    assert "No sign-in domain is configured (ALLOWED_DOMAINS)" in text_of(response)
    assert client.get("/").status_code == 302


def test_allowed_domain_signs_in_and_records_user(client, ctx):
    response = sign_in(client, "Alice@Example.com")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    user = db.session.execute(select(User)).scalar_one()
    assert (user.email, user.role) == ("alice@example.com", "member")
    assert user.last_login_at is not None

    page = client.get("/")
    assert page.status_code == 200
    assert BANNER in text_of(page)  # every page while signed in through dev login
    assert "alice@example.com" in text_of(page)


def test_configured_admin_gets_admin_role(client, ctx):
    sign_in(client, "admin@example.com")
    user = db.session.execute(select(User)).scalar_one()
    assert user.role == "admin"


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example",
                                    "/\\evil.example", "/\t/evil.example", "javascript:x"])
def test_next_off_site_is_ignored(client, target):
    response = sign_in(client, next_url=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_on_site_is_followed(client):
    response = sign_in(client, next_url="/?days=7")
    assert response.headers["Location"] == "/?days=7"


def test_safe_next():
    assert safe_next("/team?sort=cost") == "/team?sort=cost"
    for bad in (None, "", "team", "https://evil.example/", "//evil.example", "/\\evil",
                "http:/evil.example", "/\r\n/evil.example"):
        assert safe_next(bad) is None


def test_sign_out_needs_csrf_and_signs_out(client):
    sign_in(client)
    page = client.get("/").get_data(as_text=True)
    assert client.post("/auth/sign-out").status_code == 400
    assert client.get("/").status_code == 200
    response = client.post("/auth/sign-out", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    assert client.get("/").status_code == 302


def test_dev_login_is_404_when_disabled(app, make_app):
    client = make_app(ABACUS_DEV_LOGIN="0").test_client()
    assert client.get("/auth/dev-login").status_code == 404
    sign_in_page = client.get("/auth/sign-in")
    assert "Sign-in is not configured yet; ask your administrator" in text_of(sign_in_page)
    assert "/auth/dev-login" not in sign_in_page.get_data(as_text=True)


# --- the first page ------------------------------------------------------------------------

SONNET = "claude-sonnet-4-5-20250929"
OPUS = "claude-opus-4-1"
UNKNOWN = "mystery-model-9"


@pytest.fixture
def usage(app) -> list[UsageRecord]:
    records = [
        # Provider-reported cost, mapped person, today.
        record("a1", 0, input_tokens=1_000_000, output_tokens=200_000, cost=Decimal("12.50")),
        # No cost reported: estimated from the price table; an API key nobody mapped yet.
        record("k1", 5, tool="claude_code", actor="ci-key", email=None, model=OPUS,
               input_tokens=100_000, output_tokens=10_000),
        # A model without a price, on the oldest day inside a 30-day window.
        record("b1", 29, actor="bob@example.com", email="bob@example.com", model=UNKNOWN,
               input_tokens=50_000, output_tokens=5_000),
        # One day too old for the 30-day window.
        record("old", 30, input_tokens=7_000_000, cost=Decimal("100")),
    ]
    seed(app, records)
    return records


def test_overview_shows_totals_a_reader_can_check(client, usage):
    estimated = estimate(OPUS, 100_000, 10_000)
    sign_in(client)
    response = client.get("/")
    assert response.status_code == 200
    text = text_of(response)
    # 1,200,000 + 110,000 + 55,000 tokens; the 30-days-back record is outside the window.
    assert "Total tokens 1.4M" in text
    assert "1,365,000 tokens" in response.get_data(as_text=True)  # exact figure on hover
    assert f"Cost {usd(Decimal('12.50') + estimated)}" in text
    assert f"incl. {usd(estimated)} estimated" in text
    assert "1 event unpriced" in text
    assert "Active people 3" in text
    assert "1,200,000" in table_row(response, "Sonnet 4.5")
    assert "$12.50" in table_row(response, "Sonnet 4.5")


def test_unpriced_model_is_shown_as_unpriced_not_zero(client, usage):
    sign_in(client)
    row = table_row(client.get("/"), UNKNOWN)
    assert "unpriced" in row
    assert "$0.00" not in row
    assert "55,000" in row


def test_unmapped_identity_is_badged(client, usage):
    sign_in(client)
    response = client.get("/")
    assert "unmapped" in table_row(response, "ci-key")
    assert "unmapped" not in table_row(response, "bob@example.com")


def test_window_includes_today_and_29_days_back_but_not_30(client, usage):
    sign_in(client)
    text = text_of(client.get("/"))
    assert "3 events" in text  # a1 (today), k1, b1 (29 days back); not "old" (30 days back)
    assert "$100" not in text
    start, end = default_range(today(), 30)
    assert (end - start).days == 29
    assert f"Last 30 days · {day_range(start, end)} · UTC" in text


def test_days_parameter_presets_and_fallback(client, usage):
    sign_in(client)
    assert "2 events" in text_of(client.get("/?days=7"))  # b1 is 29 days back
    assert "4 events" in text_of(client.get("/?days=90"))
    assert "Last 30 days" in text_of(client.get("/?days=12"))
    assert "Last 30 days" in text_of(client.get("/?days=abc"))


def test_empty_state_explains_next_step(client):
    sign_in(client)
    text = text_of(client.get("/"))
    assert "Import a Cursor export: flask abacus import cursor-csv export.csv" in text
    assert "or seed demo data: flask abacus demo" in text


# --- analytics and formatting --------------------------------------------------------------

def test_default_range_is_inclusive():
    assert default_range(date(2026, 3, 31)) == (date(2026, 3, 2), date(2026, 3, 31))
    assert default_range(date(2026, 3, 31), 1) == (date(2026, 3, 31),) * 2


def test_overview_breakdowns(app, ctx):
    seed(app, [
        record("c1", 1, input_tokens=300, cost=Decimal("0.30")),
        record("c2", 1, tool="claude_code", input_tokens=900, cost=Decimal("0.90")),
        record("c3", 2, actor="key-7", email=None, model=UNKNOWN, input_tokens=50),
        record("c4", 2, actor="key-7", email=None, model=UNKNOWN, input_tokens=60),
    ])
    ov = analytics.overview(*default_range(today(), 7))
    assert (ov.total_tokens, ov.events, ov.unpriced_events, ov.active_people) == (1310, 4, 2, 2)
    assert ov.cost_usd == Decimal("1.20") and ov.estimated_cost_usd == 0
    assert [(t.tool, t.tokens, t.people) for t in ov.by_tool] == [
        ("claude_code", 900, 1), ("cursor", 410, 2)]
    assert [(m.model, m.events, m.unpriced_events) for m in ov.by_model] == [
        ("sonnet-4.5", 2, 0), (UNKNOWN, 2, 2)]
    assert ov.by_model[1].fully_unpriced
    assert [(p.person, p.mapped, p.tokens, p.top_tool) for p in ov.by_person] == [
        ("alice@example.com", True, 1200, "claude_code"), ("key-7", False, 110, "cursor")]
    assert len(analytics.overview(ov.start, ov.end, limit=1).by_person) == 1


def test_formatting_filters():
    assert number(1234567) == "1,234,567"
    assert compact(999) == "999"
    assert compact(1234) == "1.2K"
    assert compact(1_250_000) == "1.3M"
    assert compact(999_960) == "1M"
    assert compact(123_456_789) == "123M"
    assert usd(Decimal("1234.565")) == "$1,234.57"
    assert usd(Decimal("0")) == "$0.00"
    assert usd(Decimal("-3.5")) == "-$3.50"
    assert day_range(date(2026, 3, 4), date(2026, 4, 2)) == "Mar 4 – Apr 2, 2026"
    assert day_range(date(2025, 12, 3), date(2026, 1, 1)) == "Dec 3, 2025 – Jan 1, 2026"
