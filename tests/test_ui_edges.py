"""The everyday edges of the pages: a styled 405 with a way back (and no form-only address
pushed into history), pricing tiers left blank, demo data never in the future, commit SHAs
linked to GitHub, one "AI %" threshold, ranges in words, the CSV upload inside Admin and a
Cursor team account without seat-only fields."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from abacus.analytics.commits import AI_RATE_HIGH, commit_url, forge_web_base
from abacus.demo.seed import demo_commits, demo_records, seed_demo
from abacus.extensions import db
from abacus.github import store
from abacus.models import Account, ModelPrice, UsageEvent
from abacus.providers.base import UsageRecord
from abacus.usage.prices import price_on
from abacus.web.commits import ai_rate_class
from tests.helpers import csrf_token, seed, sign_in

ADMIN = "admin@example.com"
TEMPLATES = Path(__file__).resolve().parent.parent / "abacus" / "templates"


def _account(app, provider: str, name: str, **settings) -> int:
    with app.app_context():
        account = Account(provider=provider, name=name, settings=settings)
        db.session.add(account)
        db.session.commit()
        return account.id


def _record(day: date, tokens: int = 1000) -> UsageRecord:
    at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    return UsageRecord(event_key=f"{day}|a", occurred_at=at, tool="cursor",
                       actor="ann@example.com", email="ann@example.com",
                       raw_model="gpt-5", kind="Included", input_tokens=tokens)


# --- 405: styled, with a link back; a boosted form never pushes a form-only address ---------

def test_opening_a_form_only_address_shows_a_styled_page_with_a_way_back(app, client):
    sign_in(client, ADMIN)
    account = _account(app, "cursor", "team")
    response = client.get(f"/admin/accounts/{account}/settings")  # a reload after a POST
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    body = response.get_data(as_text=True)
    assert "This address takes a form, not a visit" in body and 'class="topbar"' in body
    assert f'href="/admin/accounts/{account}">Back to the page</a>' in body
    assert "Method Not Allowed" not in body


def test_a_form_refused_through_htmx_keeps_the_page_address(app, client):
    sign_in(client, ADMIN)
    account = _account(app, "cursor", "team")
    page = client.get(f"/admin/accounts/{account}").get_data(as_text=True)
    boosted = {"HX-Request": "true", "HX-Boosted": "true"}
    refused = client.post(f"/admin/accounts/{account}/settings", headers=boosted,
                          data={"csrf_token": csrf_token(page), "min_request_interval": "x"})
    assert refused.status_code == 400 and "must be a number" in refused.get_data(as_text=True)
    assert refused.headers["HX-Push-Url"] == "false"  # a reload then opens the account page
    # a form posted to the page's own address may be pushed: its GET is that page
    priced = client.post("/admin/pricing", headers=boosted,
                         data={"csrf_token": csrf_token(page), "model": ""})
    assert priced.status_code == 400 and "HX-Push-Url" not in priced.headers


# --- pricing: a blank cache tier is NULL, not 0 ----------------------------------------------

def test_price_override_with_blank_cache_tiers_stores_null(app, client):
    sign_in(client, ADMIN)
    page = client.get("/admin/pricing").get_data(as_text=True)
    for field in ("cache_write", "cache_read"):
        tag = re.search(rf'<input id="f-{field}"[^>]*>', page).group(0)
        assert "required" not in tag and 'placeholder="blank: no such tier"' in tag
    # no placeholder reads like a price someone set
    assert not re.search(r'placeholder="\$?\d', page)
    response = client.post("/admin/pricing", data={
        "csrf_token": csrf_token(page), "model": "house-model", "input": "2", "output": "8",
        "cache_write": "", "cache_read": " "})
    assert response.status_code == 303
    with app.app_context():
        row = db.session.execute(select(ModelPrice).where(
            ModelPrice.model == "house-model")).scalar_one()
        assert (row.input, row.output) == (Decimal(2), Decimal(8))
        assert row.cache_write_5m is None and row.cache_read is None
        price = price_on("house-model", date.today())
        # cache tokens of a model without those tiers cost the input price
        assert price.rates().base == (Decimal(2), Decimal(8), Decimal(2), Decimal(4), Decimal(2))
    listed = client.get("/admin/pricing").get_data(as_text=True)
    assert "house-model" in listed and "—" in listed
    edit = client.get("/admin/pricing?model=house-model").get_data(as_text=True)
    assert re.search(r'<input id="f-cache_read"[^>]*value=""', edit)


def test_input_and_output_prices_stay_required(client):
    sign_in(client, ADMIN)
    page = client.get("/admin/pricing").get_data(as_text=True)
    response = client.post("/admin/pricing", data={
        "csrf_token": csrf_token(page), "model": "house-model", "input": "", "output": "8"})
    assert response.status_code == 400
    assert "Input: enter a price" in response.get_data(as_text=True)


# --- demo data never lies in the future -------------------------------------------------------

def test_demo_data_is_never_after_now_in_any_time_zone():
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    for zone in ("UTC", "Pacific/Auckland", "America/Los_Angeles"):
        tz = ZoneInfo(zone)
        records = list(demo_records(6, 14, 3, now, tz))
        assert records and max(r.occurred_at for r in records) <= now, zone
        org_days = {r.occurred_at.astimezone(tz).date() for r in records}
        assert max(org_days) == now.astimezone(tz).date(), zone  # up to the org's today
        assert min(org_days) >= now.astimezone(tz).date() - timedelta(days=13), zone
        commits = [c for _, c in demo_commits(6, 14, 3, now, tz)]
        assert commits and max(c.committed_at for c in commits) <= now, zone


def test_seeded_demo_usage_is_not_in_the_future(app, configure):
    configure(timezone="Pacific/Kiritimati")  # UTC+14: its today is mostly UTC's tomorrow
    before = datetime.now(UTC)
    seed_demo(people=4, days=5, seed=2)
    latest = db.session.execute(select(UsageEvent.occurred_at)
                                .order_by(UsageEvent.occurred_at.desc())).scalars().first()
    assert latest is not None and latest <= datetime.now(UTC)
    assert latest.date() >= (before - timedelta(days=2)).date()


# --- commit SHAs link to the forge -------------------------------------------------------------

def test_commit_links_come_from_the_repository_name():
    sha = "a" * 40
    assert commit_url(None, "acme/api", sha) == f"https://github.com/acme/api/commit/{sha}"
    assert commit_url("https://github.com/x/y/commit/1", "acme/api", sha) == (
        "https://github.com/x/y/commit/1")
    assert commit_url("javascript:alert(1)", "acme/api", sha) == (
        f"https://github.com/acme/api/commit/{sha}")
    assert commit_url(None, "not a repo", sha) is None
    assert forge_web_base("https://ghe.example.com/api/v3") == "https://ghe.example.com"
    assert forge_web_base("https://api.github.com") == "https://github.com"


def test_commits_page_links_every_sha(app, client):
    sha = "0123456789abcdef0123456789abcdef01234567"
    with app.app_context():
        repo = store.repository("acme/api", default_branch="main", html_url=None)
        store.store(repo, [store.CommitIn(
            sha=sha, message="Fix it", committed_at=datetime.now(UTC) - timedelta(hours=1),
            author_name="Ann", author_email="ann@example.com")], "webhook")
        db.session.commit()
    sign_in(client, ADMIN)
    link = f'href="https://github.com/acme/api/commit/{sha}"'
    assert link in client.get("/repositories/github/acme/api?days=7").get_data(as_text=True)
    person = client.get("/users/ann@example.com?tab=commits&days=7").get_data(as_text=True)
    assert link in person


# --- one "AI %" threshold ------------------------------------------------------------------------

def test_ai_share_colouring_has_one_threshold():
    assert ai_rate_class(AI_RATE_HIGH) == "rate-high"
    assert ai_rate_class(AI_RATE_HIGH - 0.1) == "" and ai_rate_class(None) == ""
    for path in TEMPLATES.rglob("*.html"):  # no template decides it on its own
        text = path.read_text()
        assert not re.search(r"rate-high'? if", text), path
        assert "ai_rate >=" not in text and "ai_rate >" not in text, path


# --- ranges in words, first steps only before any data ----------------------------------------

def test_empty_custom_range_keeps_month_capitals_and_offers_no_demo_once_data_exists(app, client):
    sign_in(client, ADMIN)
    empty = client.get("/usage?start=2026-01-01&end=2026-01-05").get_data(as_text=True)
    assert "flask abacus demo" in empty  # nothing stored yet: the first steps
    seed(app, [_record(date.today() - timedelta(days=1))])
    body = client.get("/usage?start=2026-01-01&end=2026-01-05").get_data(as_text=True)
    assert "No usage in Jan 1, 2026 – Jan 5, 2026" in body
    assert "flask abacus demo" not in body and "stored for other days" in body
    team = client.get("/team?start=2026-01-01&end=2026-01-05").get_data(as_text=True)
    assert "No usage in Jan 1, 2026 – Jan 5, 2026" in team and "flask abacus demo" not in team
    preset = client.get("/team?days=7&q=").get_data(as_text=True)
    assert "No usage in" not in preset


def test_custom_range_subtitle_says_the_dates_once_and_the_popover_starts_closed(app, client):
    seed(app, [_record(date(2026, 1, 3))])
    sign_in(client, ADMIN)
    body = client.get("/?start=2026-01-01&end=2026-01-05").get_data(as_text=True)
    subtitle = re.search(r'<p class="muted">([^<]*Jan[^<]*)</p>', body).group(1)
    assert subtitle.count("Jan 1") == 1, subtitle
    details = re.search(r'<details class="range-custom"[^>]*>\s*<summary[^>]*>', body).group(0)
    assert " open" not in details.split(">")[0] and 'aria-current="true"' in details


# --- Admin: the CSV upload inside Admin; a Cursor team account without seat fields -------------

def test_csv_upload_is_an_admin_tab(client):
    sign_in(client, ADMIN)
    body = client.get("/admin/upload").get_data(as_text=True)
    assert 'aria-label="Admin sections"' in body
    assert re.search(r'href="/admin/upload" aria-current="page">CSV upload', body)
    current = re.search(r'<nav class="mainnav".*?</nav>', body, re.S).group(0)
    assert re.search(r'aria-current="page">Admin</a>', current)
    assert not re.search(r'aria-current="page">Status</a>', current)


def test_cursor_team_account_shows_no_seat_only_fields(app, client):
    sign_in(client, ADMIN)
    team = _account(app, "cursor", "cursor-team")
    seat = _account(app, "cursor_session", "ann-seat", owner_email="ann@example.com")
    team_page = client.get(f"/admin/accounts/{team}").get_data(as_text=True)
    assert 'name="owner_email"' not in team_page and 'name="team_id"' not in team_page
    seat_page = client.get(f"/admin/accounts/{seat}").get_data(as_text=True)
    assert 'name="owner_email"' in seat_page and 'name="team_id"' in seat_page
