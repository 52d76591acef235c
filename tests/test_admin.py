"""The admin area: accounts, identity mapping, pricing overrides, roles — what an admin sees
and what each action changes in the database (real PostgreSQL, the real ingest)."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abacus.analytics.admin import _people, name_suggestions
from abacus.extensions import db
from abacus.models import (
    Account,
    ChangeLog,
    IdentityMapping,
    ModelPrice,
    UsageDaily,
    UsageEvent,
    User,
)
from abacus.providers.base import UsageRecord
from abacus.sync.account_rows import mask_url
from abacus.sync.accounts import decrypt_credentials
from abacus.usage.pricing import FAR_PAST
from abacus.web.admin import parse_price
from tests.helpers import csrf_token
from tests.helpers import seed as _seed

ADMIN = "admin@example.com"  # ABACUS_ADMINS in the test app
ADMIN_KEY = "sk-ant-admin01-" + "S3cr3tV4lue" * 4


# --- helpers -------------------------------------------------------------------------------

def today() -> date:
    return datetime.now(UTC).date()


def record(key: str, days_ago: int = 1, *, actor: str = "alice@example.com",
           email: str | None = "alice@example.com", model: str = "claude-sonnet-4-5-20250929",
           tool: str = "claude_code", input_tokens: int = 1000, output_tokens: int = 500,
           cache_write: int = 0, cache_read: int = 0,
           cost: Decimal | None = None) -> UsageRecord:
    occurred = datetime.combine(today() - timedelta(days=days_ago), time(12), tzinfo=UTC)
    return UsageRecord(event_key=key, occurred_at=occurred, tool=tool, actor=actor, email=email,
                       raw_model=model, input_tokens=input_tokens, output_tokens=output_tokens,
                       cache_write_tokens=cache_write, cache_read_tokens=cache_read,
                       cost_usd=cost)




def seed(app, records: list[UsageRecord], name: str = "org", provider: str = "anthropic"):
    _seed(app, records, name, provider)


def sign_in(client, email: str = ADMIN) -> str:
    """Signs in with the development sign-in; returns a CSRF token for later posts."""
    form = client.get("/auth/dev-login").get_data(as_text=True)
    response = client.post("/auth/dev-login", data={"email": email,
                                                    "csrf_token": csrf_token(form)})
    assert response.status_code == 303
    return csrf_token(client.get("/").get_data(as_text=True))


def text_of(response) -> str:
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def post(client, url: str, token: str, **data):
    return client.post(url, data={"csrf_token": token, **data})


def notice_after(client, response) -> str:
    """Follow a 303 and return the visible text of the page it leads to."""
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return text_of(client.get(response.headers["Location"]))


@pytest.fixture
def admin(client):
    return sign_in(client, ADMIN)


def daily_emails(actor: str) -> set[str | None]:
    return set(db.session.execute(
        select(UsageDaily.email).where(UsageDaily.actor == actor).distinct()).scalars())


# --- access --------------------------------------------------------------------------------

def test_member_gets_403_on_every_admin_route(app, client):
    token = sign_in(client, "bob@example.com")
    checked = {"GET": 0, "POST": 0}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        url = rule.build({arg: "1" for arg in rule.arguments}, append_unknown=False)[1]
        for method in ("GET", "POST"):
            if method not in rule.methods:
                continue
            if method == "GET":
                response = client.get(url)
            else:
                response = post(client, url, token, role="admin", model="x", email="a@b.co")
            assert response.status_code == 403, (method, rule.endpoint)
            checked[method] += 1
    assert checked["GET"] >= 7 and checked["POST"] >= 8, checked
    with app.app_context():  # nothing changed, least of all bob's role
        assert db.session.execute(select(User.role).where(
            User.email == "bob@example.com")).scalar() == "member"


def test_member_has_no_admin_link_but_admin_does(client):
    sign_in(client, "bob@example.com")
    assert 'href="/admin"' not in client.get("/").get_data(as_text=True)
    client.post("/auth/sign-out", data={"csrf_token": csrf_token(
        client.get("/").get_data(as_text=True))})
    sign_in(client, ADMIN)
    assert 'href="/admin"' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("url, data, section", [
    ("/admin/accounts", {"provider": "anthropic", "name": ""}, "#add-account"),
    ("/admin/pricing", {"model": "gpt-5", "input": "x"}, "#price-form"),
    ("/admin/identities/merge", {"old_email": "a", "new_email": "b@example.com"}, "#merge"),
])
def test_htmx_form_errors_swap_only_their_section(client, admin, url, data, section):
    response = client.post(url, data={"csrf_token": admin, **data},
                           headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == section
    assert response.headers["HX-Reselect"] == section
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert f'id="{section[1:]}"' in response.get_data(as_text=True)
    plain = client.post(url, data={"csrf_token": admin, **data})  # no JavaScript: the page
    assert plain.status_code == 400 and "HX-Retarget" not in plain.headers


def test_posts_need_the_csrf_token(client, admin):
    response = client.post("/admin/pricing", data={"model": "x", "input": "1", "output": "1",
                                                    "cache_write": "1", "cache_read": "1"})
    assert response.status_code == 400
    assert "This form has expired" in text_of(response)


# --- index ---------------------------------------------------------------------------------

def test_index_counts_link_to_each_section(app, client, admin):
    seed(app, [record("a"), record("k", actor="ci-deploy-key", email=None),
               record("m", model="mystery-model-9")])
    with app.app_context():
        db.session.add(Account(provider="anthropic", name="parked", status="auth_expired"))
        db.session.add(ModelPrice(model="gpt-5", valid_from=FAR_PAST, source="override",
                                  input=1, output=2, cache_write_5m=1, cache_read=0))
        db.session.commit()
    page = text_of(client.get("/admin"))
    assert "Accounts 2" in page
    assert "2 need attention" in page  # the parked one, and `org` has no credentials
    assert "Unmapped identities 1 1 events without a person" in page
    assert "Price overrides 1" in page and "1 model unpriced" in page
    assert "People 1 1 admin" in page
    body = client.get("/admin").get_data(as_text=True)
    for href in ("/admin/accounts", "/admin/identities", "/admin/pricing", "/admin/people"):
        assert f'href="{href}"' in body


# --- accounts ------------------------------------------------------------------------------

def test_add_account_stores_encrypted_credentials_never_shown(app, client, admin):
    response = post(client, "/admin/accounts", admin, provider="anthropic", name="claude-org",
                    credential_admin_key=ADMIN_KEY,
                    proxy_url="http://proxyuser:pr0xyPass@proxy.internal:3128",
                    owner_email="Ops@Example.com")
    page = notice_after(client, response)
    assert "Added Claude Code (Anthropic Admin API) account “claude-org”. It syncs on" in page
    assert "Credentials set" in page
    with app.app_context():
        account = db.session.execute(select(Account)).scalar_one()
        assert ADMIN_KEY.encode() not in account.credentials_encrypted
        assert decrypt_credentials(account) == {"admin_key": ADMIN_KEY}
        # The proxy password is encrypted with the credentials; the setting keeps a mask.
        assert account.settings == {"proxy_url": "http://proxyuser:****@proxy.internal:3128",
                                    "owner_email": "ops@example.com"}
        account_id = account.id
    pages = ["/admin", "/admin/accounts", f"/admin/accounts/{account_id}", "/admin/identities",
             "/admin/pricing", "/admin/people"]
    for url in pages:
        body = client.get(url).get_data(as_text=True)
        assert "S3cr3tV4lue" not in body, url
        assert "pr0xyPass" not in body, url
    listing = text_of(client.get("/admin/accounts"))
    assert "claude-org" in listing and "proxyuser:••••@proxy.internal:3128" in listing
    assert "ops@example.com" in listing


def test_credential_fields_follow_the_provider(client, admin):
    fragment = client.get("/admin/accounts/fields?provider=cursor_session",
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment
    assert 'name="credential_cookie"' in fragment and 'type="password"' in fragment
    assert "WorkosCursorSessionToken" in fragment
    assert "value=" not in fragment  # write-only: never a value
    # Opened directly (not by htmx) it sends the admin to the full form for that provider.
    response = client.get("/admin/accounts/fields?provider=cursor")
    assert response.status_code == 302
    assert "/admin/accounts?provider=cursor" in response.headers["Location"]
    page = client.get("/admin/accounts?provider=cursor").get_data(as_text=True)
    assert 'name="credential_api_key"' in page


@pytest.mark.parametrize("form, message", [
    ({"credential_admin_key": ""}, "Admin API key is required"),
    ({"credential_admin_key": "sk-ant-api03-" + "S3cr3tV4lue"},
     "Admin API key must be an Admin key (starts with sk-ant-admin)"),
    ({"proxy_url": "proxy.internal:3128"}, "Proxy URL: expected a URL like http://host:port"),
    ({"name": ""}, "Give the account a name"),
    ({"provider": "nope"}, "Choose a provider."),
])
def test_add_account_validation_errors(app, client, admin, form, message):
    data = {"provider": "anthropic", "name": "claude-org", "credential_admin_key": ADMIN_KEY,
            **form}
    response = post(client, "/admin/accounts", admin, **data)
    assert response.status_code == 400
    page = text_of(response)
    assert message in page
    assert "S3cr3tV4lue" not in response.get_data(as_text=True)  # never echoed back
    if data["name"]:
        assert 'value="claude-org"' in response.get_data(as_text=True)  # kept for a retry
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Account)).scalar() == 0


def test_duplicate_account_name_is_refused(app, client, admin):
    post(client, "/admin/accounts", admin, provider="anthropic", name="claude-org",
         credential_admin_key=ADMIN_KEY)
    response = post(client, "/admin/accounts", admin, provider="cursor", name="claude-org",
                    credential_api_key="key_" + "S3cr3tV4lue")
    assert response.status_code == 400
    assert "An account named 'claude-org' already exists." in text_of(response)
    assert "S3cr3tV4lue" not in response.get_data(as_text=True)


def test_edit_settings_keeps_a_hidden_proxy_until_cleared(app, client, admin):
    post(client, "/admin/accounts", admin, provider="cursor_session", name="seat",
         credential_cookie="user_01ABC%3A%3Aeyfake" + "S3cr3tV4lue",
         proxy_url="http://u:pr0xyPass@proxy:3128")
    with app.app_context():
        account_id = db.session.execute(select(Account.id)).scalar_one()
    url = f"/admin/accounts/{account_id}/settings"
    page = notice_after(client, post(client, url, admin, owner_email="Seat@Example.com",
                                     proxy_url="", base_url="", team_id="42",
                                     min_request_interval="4.5"))
    assert "Saved the settings of “seat”" in page
    with app.app_context():
        settings = db.session.get(Account, account_id).settings
    assert settings == {"owner_email": "seat@example.com", "team_id": "42",
                        "min_request_interval": 4.5,
                        "proxy_url": "http://u:****@proxy:3128"}
    response = post(client, url, admin, min_request_interval="soon")
    assert response.status_code == 400
    assert "Seconds between requests must be a number" in text_of(response)
    response = post(client, url, admin, base_url="api.example.com")
    assert response.status_code == 400
    assert "Base URL: expected a URL like http://host:port" in text_of(response)
    notice_after(client, post(client, url, admin, clear_proxy_url="1", team_id="42",
                              owner_email="seat@example.com"))
    with app.app_context():
        assert db.session.get(Account, account_id).settings == {
            "owner_email": "seat@example.com", "team_id": "42"}


def test_replace_credentials_empty_keeps_new_replaces_and_resumes(app, client, admin):
    post(client, "/admin/accounts", admin, provider="anthropic", name="claude-org",
         credential_admin_key=ADMIN_KEY)
    with app.app_context():
        account = db.session.execute(select(Account)).scalar_one()
        account.status, account.status_detail = "auth_expired", "401 from /v1/organizations"
        db.session.commit()
        account_id = account.id
    edit = text_of(client.get(f"/admin/accounts/{account_id}"))
    assert "The provider refused these credentials." in edit
    url = f"/admin/accounts/{account_id}/credentials"
    page = notice_after(client, post(client, url, admin, credential_admin_key=""))
    assert "Nothing changed: every field was empty" in page
    with app.app_context():
        assert decrypt_credentials(db.session.get(Account, account_id)) == {
            "admin_key": ADMIN_KEY}
    response = post(client, url, admin, credential_admin_key="sk-ant-api03-wrong")
    assert response.status_code == 400
    assert "must be an Admin key" in text_of(response)
    new_key = "sk-ant-admin01-" + "N3wS3cr3t" * 4
    page = notice_after(client, post(client, url, admin, credential_admin_key=new_key))
    assert "Replaced the credentials of “claude-org”. The account is active again." in page
    assert "N3wS3cr3t" not in client.get(f"/admin/accounts/{account_id}").get_data(as_text=True)
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert decrypt_credentials(account) == {"admin_key": new_key}
        assert account.status == "active"


def test_disable_and_enable_an_account(app, client, admin):
    post(client, "/admin/accounts", admin, provider="anthropic", name="claude-org",
         credential_admin_key=ADMIN_KEY)
    with app.app_context():
        account_id = db.session.execute(select(Account.id)).scalar_one()
    url = f"/admin/accounts/{account_id}/enabled"
    page = notice_after(client, post(client, url, admin, enabled="0"))
    assert "“claude-org” is disabled: it stops syncing, its data stays." in page
    assert "Enable account" in page
    with app.app_context():
        assert db.session.get(Account, account_id).status == "disabled"
    notice_after(client, post(client, url, admin, enabled="1"))
    with app.app_context():
        assert db.session.get(Account, account_id).status == "active"


def test_account_page_offers_sync_now_and_backfill(app, client, admin):
    post(client, "/admin/accounts", admin, provider="anthropic", name="claude-org",
         credential_admin_key=ADMIN_KEY)
    with app.app_context():
        account_id = db.session.execute(select(Account.id)).scalar_one()
    body = client.get(f"/admin/accounts/{account_id}").get_data(as_text=True)
    forms = re.findall(r'<form method="post" action="/admin/sync".*?</form>', body, flags=re.S)
    assert len(forms) == 2
    assert all('name="account" value="claude-org"' in f for f in forms)
    assert ['value="sync"' in forms[0], 'value="backfill"' in forms[1]] == [True, True]


def test_unknown_account_is_404(client, admin):
    assert client.get("/admin/accounts/999").status_code == 404


def test_mask_url():
    assert mask_url("http://u:secret@proxy:3128") == "http://u:••••@proxy:3128"
    assert mask_url("http://proxy:3128") == "http://proxy:3128"


# --- identity mapping assistant ---------------------------------------------------------------

def test_assistant_suggests_people_and_assign_reattributes_usage(app, client, admin):
    seed(app, [record("alice-1", 1), record("alice-2", 2),
               record("bob-1", 1, actor="bob@example.com", email="bob@example.com"),
               record("ci-1", 1, actor="ci-alice-key", email=None, input_tokens=7000),
               record("ci-2", 3, actor="ci-alice-key", email=None, input_tokens=3000)])
    page = text_of(client.get("/admin/identities"))
    assert "ci-alice-key" in page
    assert "alice@example.com the name contains “alice”" in page
    assert "bob@example.com the name" not in page
    assert "Events 2" in page

    response = post(client, "/admin/identities/assign", admin, provider="anthropic",
                    external_id="ci-alice-key", email="Alice@Example.com")
    page = notice_after(client, response)
    assert "ci-alice-key is now alice@example.com: 2 events re-attributed." in page
    assert "Every identity has a person." in page
    assert re.search(r"ci-alice-key anthropic alice@example\.com admin@example\.com", page)
    with app.app_context():
        assert daily_emails("ci-alice-key") == {"alice@example.com"}
        mapping = db.session.get(IdentityMapping, ("anthropic", "ci-alice-key"))
        assert (mapping.email, mapping.assigned_by) == ("alice@example.com", ADMIN)
    # The person's totals now include the key's usage.
    with app.app_context():
        tokens = db.session.execute(select(func.sum(UsageDaily.input_tokens)).where(
            UsageDaily.email == "alice@example.com")).scalar()
    assert tokens == 1000 + 1000 + 7000 + 3000


def test_assign_needs_an_email_address(app, client, admin):
    seed(app, [record("ci-1", actor="ci-deploy-key", email=None)])
    response = post(client, "/admin/identities/assign", admin, provider="anthropic",
                    external_id="ci-deploy-key", email="deploy-team")
    assert response.status_code == 400
    assert "“deploy-team” is not an e-mail address." in text_of(response)
    assert 'value="deploy-team"' in response.get_data(as_text=True)  # kept to be fixed
    with app.app_context():
        assert daily_emails("ci-deploy-key") == {None}
    response = client.post("/admin/identities/assign", headers={"HX-Request": "true"},
                           data={"csrf_token": admin, "provider": "anthropic",
                                 "external_id": "ci-deploy-key", "email": "deploy-team"})
    assert response.headers["HX-Retarget"] == "#unmapped-1"  # the identity's own item


def test_people_active_on_the_same_days_are_suggested(app, client, admin):
    # The key is used exactly on carol's days; dan works every day.
    days = [1, 2, 4, 5, 8]
    seed(app, [record(f"c{d}", d, actor="carol@example.com", email="carol@example.com")
               for d in days]
         + [record(f"d{d}", d, actor="dan@example.com", email="dan@example.com")
            for d in range(1, 30)]
         + [record(f"k{d}", d, actor="key-7f3a", email=None) for d in days])
    page = text_of(client.get("/admin/identities"))
    assert "carol@example.com active on 5 of its 5 days in the last 90, and no other day" in page
    assert "dan@example.com active" not in page


def test_a_key_used_on_everybodys_days_suggests_nobody_by_days(app, client, admin):
    days = [1, 2, 3, 4, 5]
    people = ["carol", "dan", "erin"]
    seed(app, [record(f"{p}{d}", d, actor=f"{p}@example.com", email=f"{p}@example.com")
               for p in people for d in days]
         + [record(f"k{d}", d, actor="key-7f3a", email=None) for d in days])
    page = text_of(client.get("/admin/identities"))
    assert "key-7f3a" in page
    assert "active on" not in page and "Suggested" not in page


def test_admin_pages_render_with_demo_data(app, client, admin):
    from abacus.demo.seed import seed_demo

    with app.app_context():
        seed_demo(people=8, days=21)
    for url in ("/admin", "/admin/accounts", "/admin/identities", "/admin/pricing",
                "/admin/people", "/admin/accounts/1"):
        assert client.get(url).status_code == 200, url
    assert "claude_code_key_ci-bot" in text_of(client.get("/admin/identities"))
    accounts = text_of(client.get("/admin/accounts"))
    assert "demo data" in accounts and "none needed" in accounts
    assert "need attention" not in text_of(client.get("/admin"))
    pricing = text_of(client.get("/admin/pricing"))
    assert re.search(r"composer-2 unpriced — \d", pricing)  # no confirmed price: flagged


def test_name_suggestions():
    people = _people({"alice@example.com": None, "bob.smith@example.com": "Bob Smith",
                      "code@example.com": None, "al@example.com": None})
    assert [s.email for s in name_suggestions("ci-alice-key", people)] == ["alice@example.com"]
    smith = name_suggestions("smith-laptop", people)
    assert [(s.email, s.reason) for s in smith] == [
        ("bob.smith@example.com", "the name mentions “smith”, like this person")]
    assert [s.email for s in name_suggestions("bobsmith_ci", people)] == [
        "bob.smith@example.com"]
    other_domain = name_suggestions("alice@gmail.com", people)
    assert [(s.email, s.reason) for s in other_domain] == [
        ("alice@example.com", "the same name at another domain")]
    # Noise words and two-letter names suggest nobody.
    assert name_suggestions("claude_code_key_ci-bot", people) == []
    assert name_suggestions("al-key", people) == []


def test_mapping_filter_returns_the_rows_fragment(app, client, admin):
    with app.app_context():
        for source, ext, email in (("anthropic", "key-a", "alice@example.com"),
                                   ("cursor", "u-1", "bob@example.com")):
            db.session.add(IdentityMapping(source=source, external_id=ext, email=email,
                                           assigned_by="sync"))
        db.session.commit()
    response = client.get("/admin/identities?q=ALICE", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'id="mapping-rows"' in body
    assert "key-a" in body and "u-1" not in body
    assert "1 mapping matching “alice”" in text_of(response) or "1 mapping" in text_of(response)
    assert response.headers["Vary"] == "HX-Request" or "HX-Request" in response.headers["Vary"]
    full = client.get("/admin/identities?q=alice")
    assert "<html" in full.get_data(as_text=True)


def test_merge_moves_usage_and_totals_stay_equal(app, client, admin):
    personal = "alice.personal@gmail.com"
    cursor_rows = [record(f"p{d}", d, actor=personal, email=personal, tool="cursor",
                          cost=Decimal("0.25")) for d in (1, 2, 3)]
    seed(app, cursor_rows, name="cursor-team", provider="cursor")
    seed(app, [record("w1", 1), record("w2", 4),
               record("k1", 2, actor="key-9", email=None)])
    with app.app_context():
        db.session.add(IdentityMapping(source="anthropic", external_id="key-9", email=personal,
                                       assigned_by="sync"))
        db.session.commit()
        from abacus.usage.ingest import reattribute
        reattribute("anthropic")
        db.session.commit()

        def totals():
            return db.session.execute(select(
                func.sum(UsageDaily.events), func.sum(UsageDaily.input_tokens),
                func.sum(UsageDaily.cost_usd))).one()

        before = totals()
        alice_before = db.session.execute(select(func.sum(UsageDaily.events)).where(
            UsageDaily.email.in_([personal, "alice@example.com"]))).scalar()

    response = post(client, "/admin/identities/merge", admin, old_email=personal,
                    new_email="alice@example.com")
    page = notice_after(client, response)
    assert ("Merged alice.personal@gmail.com into alice@example.com: 4 events moved, "
            "2 mappings now point at alice@example.com.") in page
    with app.app_context():
        assert totals() == before
        assert db.session.execute(select(func.count()).select_from(UsageDaily).where(
            UsageDaily.email == personal)).scalar() == 0
        assert db.session.execute(select(func.count()).select_from(UsageEvent).where(
            UsageEvent.email == personal)).scalar() == 0
        assert db.session.execute(select(func.sum(UsageDaily.events)).where(
            UsageDaily.email == "alice@example.com")).scalar() == alice_before == 6
        mappings = {(m.source, m.external_id): (m.email, m.assigned_by) for m in
                    db.session.execute(select(IdentityMapping)).scalars()}
        assert mappings == {("anthropic", "key-9"): ("alice@example.com", ADMIN),
                            ("cursor", personal): ("alice@example.com", ADMIN)}
    # A later sync that sends the personal address again keeps the merge.
    seed(app, cursor_rows, name="cursor-team", provider="cursor")
    with app.app_context():
        assert daily_emails(personal) == {"alice@example.com"}
        assert totals() == before


@pytest.mark.parametrize("old, new, message", [
    ("alice@example.com", "alice@example.com", "Choose two different addresses."),
    ("nobody@example.com", "alice@example.com",
     "Nothing is recorded for nobody@example.com: no usage and no mapping."),
    ("alice", "alice@example.com", "“alice” is not an e-mail address."),
])
def test_merge_errors(app, client, admin, old, new, message):
    seed(app, [record("w1")])
    response = post(client, "/admin/identities/merge", admin, old_email=old, new_email=new)
    assert response.status_code == 400
    assert message in text_of(response)
    with app.app_context():
        assert daily_emails("alice@example.com") == {"alice@example.com"}


# --- pricing --------------------------------------------------------------------------------

def _events(app) -> dict[str, tuple[Decimal | None, str]]:
    with app.app_context():
        return {e.event_key: (e.cost_usd, e.cost_source) for e in
                db.session.execute(select(UsageEvent)).scalars()}


def test_price_override_reestimates_estimated_and_unpriced_events_only(app, client, admin):
    seed(app, [
        record("mystery", model="mystery-model-9", input_tokens=2_000_000, output_tokens=1_000_000,
               cache_write=400_000, cache_read=10_000_000),
        record("sonnet-est", input_tokens=1_000_000, output_tokens=100_000),
        record("sonnet-provider", input_tokens=1_000_000, output_tokens=100_000,
               cost=Decimal("9.99")),
    ])
    before = _events(app)
    assert before["mystery"] == (None, "unpriced")
    assert before["sonnet-est"] == (Decimal("4.500000"), "estimated")  # 1M×$3 + 0.1M×$15
    page = text_of(client.get("/admin/pricing"))
    assert re.search(r"mystery-model-9 unpriced — 1 1 \$0\.00", page)

    response = post(client, "/admin/pricing", admin, model="mystery-model-9", input="1.5",
                    output="$4", cache_write="0.25", cache_read="0.05", note="contract")
    page = notice_after(client, response)
    assert ("Added the price of mystery-model-9. 1 of 1 estimated or unpriced events "
            "re-estimated on 1 day(s); provider-reported costs are unchanged.") in page
    # 2M×1.5 + 1M×4 + 0.4M×0.25 + 10M×0.05 = 3 + 4 + 0.1 + 0.5
    assert _events(app)["mystery"] == (Decimal("7.600000"), "estimated")
    assert re.search(r"mystery-model-9 override always 1 0 \$7\.60 \$1\.50 \$4\.00", page)

    response = post(client, "/admin/pricing", admin, model="claude-sonnet-4-5-20250929",
                    input="2", output="10", cache_write="2.5", cache_read="0.2")
    page = notice_after(client, response)
    assert "Added the price of sonnet-4.5 (stored as sonnet-4.5)" in page
    after = _events(app)
    assert after["sonnet-est"] == (Decimal("3.000000"), "estimated")  # 1M×2 + 0.1M×10
    assert after["sonnet-provider"] == (Decimal("9.990000"), "provider")
    with app.app_context():
        changes = db.session.execute(select(ChangeLog.field, ChangeLog.old_value,
                                            ChangeLog.new_value).order_by(ChangeLog.id)).all()
        assert [tuple(c) for c in changes] == [
            ("cost_usd", None, "7.600000"), ("cost_source", "unpriced", "estimated"),
            ("cost_usd", "4.500000", "3.000000")]
        daily = db.session.execute(select(func.sum(UsageDaily.cost_usd),
                                          func.sum(UsageDaily.estimated_cost_usd),
                                          func.sum(UsageDaily.unpriced_events))).one()
        assert tuple(daily) == (Decimal("20.590000"), Decimal("10.600000"), 0)

    # Removing the overrides goes back to the shipped price, or to unpriced.
    page = notice_after(client, post(client, "/admin/pricing/delete", admin, model="sonnet-4.5"))
    assert "Removed the override of sonnet-4.5; it uses the shipped price again." in page
    notice_after(client, post(client, "/admin/pricing/delete", admin, model="mystery-model-9"))
    assert _events(app) == before
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ModelPrice)).scalar() == 0


def test_editing_an_override_prefills_the_form(app, client, admin):
    notice_after(client, post(client, "/admin/pricing", admin, model="gpt-5", input="1.25",
                              output="10", cache_write="1.25", cache_read="0.125", note="eu"))
    body = client.get("/admin/pricing?model=gpt-5").get_data(as_text=True)
    for name, value in (("input", "1.25"), ("output", "10"), ("cache_read", "0.125"),
                        ("note", "eu")):
        assert re.search(rf'name="{name}"[^>]*value="{re.escape(value)}"', body), name
    page = notice_after(client, post(client, "/admin/pricing", admin, model="gpt-5", input="2",
                                     output="10", cache_write="2", cache_read="0.2"))
    assert "Updated the price of gpt-5. No stored event needed a new estimate." in page
    with app.app_context():
        override = db.session.execute(select(ModelPrice).where(
            ModelPrice.model == "gpt-5", ModelPrice.source == "override")).scalar_one()
        assert (override.input, override.created_by) == (Decimal("2"), ADMIN)


@pytest.mark.parametrize("field, value, message", [
    ("input", "abc", "Input: “abc” is not a number; write it like 3 or 0.30."),
    ("output", "-1", "Output: a price cannot be negative."),
    ("cache_write", "0.1234567", "Cache write: at most 6 decimal places"),
    ("cache_read", "NaN", "Cache read: “NaN” is not a number"),
    ("input", "", "Input: enter a price in USD per 1M tokens (0 if it is free)."),
    ("output", "1e9", "Output: at most 999,999.999999 USD per 1M tokens."),
    ("model", "", "Model: enter the model's name"),
])
def test_price_validation_errors(app, client, admin, field, value, message):
    data = {"model": "gpt-5", "input": "1", "output": "2", "cache_write": "1",
            "cache_read": "0.1", field: value}
    response = post(client, "/admin/pricing", admin, **data)
    assert response.status_code == 400
    assert message in text_of(response)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ModelPrice)).scalar() == 0


def test_parse_price():
    assert parse_price("Input", " $3.50 ") == (Decimal("3.50"), None)
    assert parse_price("Input", "0") == (Decimal("0"), None)
    assert parse_price("Input", "Infinity")[1].startswith("Input: “Infinity” is not a number")


# --- people and roles ---------------------------------------------------------------------------

def test_roles_change_and_the_last_admin_cannot_step_down(app, client):
    other = app.test_client()
    sign_in(other, "bob@example.com")
    token = sign_in(client, ADMIN)
    with app.app_context():
        ids = {u.email: u.id for u in db.session.execute(select(User)).scalars()}
    page = text_of(client.get("/admin/people"))
    assert "admin@example.com you admin ABACUS_ADMINS" in page
    assert "The only admin: make someone else an admin first." in page
    assert "bob@example.com member" in page

    # The last admin cannot demote themself, and the page says why.
    response = post(client, f"/admin/people/{ids[ADMIN]}/role", token, role="member")
    assert response.status_code == 409
    assert "You are the only admin. Make someone else an admin first" in text_of(response)

    page = notice_after(client, post(client, f"/admin/people/{ids['bob@example.com']}/role",
                                     token, role="admin"))
    assert "bob@example.com is an admin now." in page
    assert other.get("/admin").status_code == 200  # bob's next request sees the new role

    # With two admins one may step down, and then cannot reach the admin pages.
    response = post(client, f"/admin/people/{ids[ADMIN]}/role", token, role="member")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert client.get("/admin").status_code == 403
    with app.app_context():
        roles = dict(db.session.execute(select(User.email, User.role)).all())
    assert roles == {ADMIN: "member", "bob@example.com": "admin"}

    # bob is now the last admin: the same protection holds for him.
    bob_token = csrf_token(other.get("/admin/people").get_data(as_text=True))
    response = post(other, f"/admin/people/{ids['bob@example.com']}/role", bob_token,
                    role="member")
    assert response.status_code == 409
    page = notice_after(other, post(other, f"/admin/people/{ids[ADMIN]}/role", bob_token,
                                    role="admin"))
    assert "admin@example.com is an admin now." in page


def test_role_must_be_admin_or_member(app, client, admin):
    with app.app_context():
        user_id = db.session.execute(select(User.id)).scalar_one()
    assert post(client, f"/admin/people/{user_id}/role", admin, role="owner").status_code == 400
    assert post(client, "/admin/people/999/role", admin, role="admin").status_code == 404
