"""OpenID Connect sign-in, end to end against a real local provider (oidc-provider-mock).

Every flow is the real one: the app redirects to the provider's authorize endpoint, the test
answers the provider's consent form over HTTP, and the provider's redirect is followed back
into the app, which exchanges the code, fetches the provider's keys and validates the ID token
over HTTP. Nothing in Authlib is patched.
"""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from oidc_provider_mock import run_server_in_thread
from sqlalchemy import select

from abacus.extensions import db
from abacus.models import User
from abacus.people.users import SignInRefused, admitted_email
from abacus.web import auth

# The mock provider runs on Authlib's deprecated server helpers; their warnings are not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CLIENT_ID = "abacus-test"


# --- fixtures and helpers ------------------------------------------------------------------

@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def make_app(make_app, provider):
    """conftest's make_app, signing in through the mock provider (dev sign-in off)."""

    def build(**overrides: str):
        return make_app(**{"ABACUS_DEV_LOGIN": "0",
                           "OIDC_DISCOVERY_URL": f"{provider}/.well-known/openid-configuration",
                           "OIDC_CLIENT_ID": CLIENT_ID,
                           "OIDC_CLIENT_SECRET": "not-so-secret",
                           "OIDC_PROVIDER_NAME": "Test SSO",
                           **overrides})

    return build


@pytest.fixture
def sso(make_app):
    return make_app()


def set_user(provider: str, sub: str, **claims: object) -> None:
    """What the provider will say about `sub` (its ID token and userinfo claims)."""
    requests.put(f"{provider}/users/{sub}", json=claims, timeout=5).raise_for_status()


def start(client, provider: str, name: str = "oidc", next_url: str | None = None) -> str:
    """Press the sign-in button; returns the provider URL the browser is sent to."""
    query = "?" + urlencode({"next": next_url}) if next_url else ""
    response = client.get(f"/auth/login/{name}{query}")
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(f"{provider}/oauth2/authorize?")
    return location


def consent(authorize_url: str, sub: str | None = None, *, deny: bool = False) -> str:
    """Answer the provider's form as the user would; returns where the provider redirects."""
    data = {"action": "deny"} if deny else {"sub": sub}
    response = requests.post(authorize_url, data=data, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def follow(client, url: str):
    parts = urlsplit(url)
    assert parts.path.startswith("/auth/callback/")
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client, provider: str, sub: str, next_url: str | None = None, name: str = "oidc"):
    return follow(client, consent(start(client, provider, name, next_url), sub))


def text_of(response) -> str:
    page = response.get_data(as_text=True)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def users(app) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        rows = db.session.execute(select(User).order_by(User.email)).scalars()
        result = [(u.email, u.role, u.name) for u in rows]
        db.session.remove()
        return result


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


# --- the happy path ------------------------------------------------------------------------

def test_sign_in_creates_the_user_and_follows_next(sso, provider):
    set_user(provider, "alice-sub", email="Alice@Example.com", email_verified=True,
             name="Alice Doe")
    client = sso.test_client()

    authorize_url = start(client, provider, next_url="/team?sort=cost&dir=desc")
    params = parse_qs(urlsplit(authorize_url).query)
    assert params["client_id"] == [CLIENT_ID]
    assert params["response_type"] == ["code"]
    assert params["scope"] == ["openid email profile"]
    assert params["redirect_uri"] == ["http://localhost/auth/callback/oidc"]
    assert params["state"][0] and params["nonce"][0]
    assert params["code_challenge_method"] == ["S256"] and params["code_challenge"][0]

    with client.session_transaction() as session:
        session["planted"] = "by someone else"  # must not survive the sign-in (fixation)
    response = follow(client, consent(authorize_url, "alice-sub"))

    assert response.status_code == 303
    assert response.headers["Location"] == "/team?sort=cost&dir=desc"
    assert users(sso) == [("alice@example.com", "member", "Alice Doe")]
    with client.session_transaction() as session:
        assert "planted" not in session
        assert not [key for key in session if key.startswith("_state_")]
        assert auth.NEXT_KEY not in session
        assert auth.DEV_SESSION_FLAG not in session

    page = client.get("/")
    assert page.status_code == 200
    assert "alice@example.com" in text_of(page)
    assert "Development sign-in" not in text_of(page)


def test_without_next_lands_on_the_overview(sso, provider):
    set_user(provider, "alice-sub", email="alice@example.com", email_verified=True)
    response = sign_in(sso.test_client(), provider, "alice-sub")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_string_true_email_verified_is_accepted(sso, provider):
    set_user(provider, "okta-sub", email="olga@example.com", email_verified="true")
    assert sign_in(sso.test_client(), provider, "okta-sub").status_code == 303


def test_configured_admin_gets_admin_and_nobody_is_demoted(sso, provider):
    with sso.app_context():
        db.session.add(User(email="carol@example.com", role="admin"))  # made admin in the UI
        db.session.commit()
        db.session.remove()
    set_user(provider, "admin-sub", email="admin@example.com", email_verified=True)
    set_user(provider, "carol-sub", email="carol@example.com", email_verified=True)

    assert sign_in(sso.test_client(), provider, "admin-sub").status_code == 303
    assert sign_in(sso.test_client(), provider, "carol-sub").status_code == 303
    assert [(email, role) for email, role, _ in users(sso)] == [
        ("admin@example.com", "admin"), ("carol@example.com", "admin")]


def test_sign_out_after_provider_sign_in(sso, provider):
    set_user(provider, "alice-sub", email="alice@example.com", email_verified=True)
    client = sso.test_client()
    sign_in(client, provider, "alice-sub")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True))
    assert client.post("/auth/sign-out", data={"csrf_token": token.group(1)}).status_code == 303
    assert not signed_in(client)


# --- who is refused ------------------------------------------------------------------------

@pytest.mark.parametrize("verified", [{"email_verified": False}, {"email_verified": "false"}, {}])
def test_unverified_email_is_refused(sso, provider, verified):
    set_user(provider, "unverified-sub", email="alice@example.com", **verified)
    client = sso.test_client()

    response = sign_in(client, provider, "unverified-sub", next_url="/team")

    assert response.status_code == 403
    assert "alice@example.com is not a verified address" in text_of(response)
    assert "Continue with Test SSO" in text_of(response)  # the page offers another try
    assert users(sso) == []
    assert not signed_in(client)


def test_wrong_domain_is_refused(sso, provider):
    set_user(provider, "mallory-sub", email="mallory@example.org", email_verified=True)
    client = sso.test_client()
    response = sign_in(client, provider, "mallory-sub")
    assert response.status_code == 403
    assert "example.org is not an allowed domain" in text_of(response)
    assert users(sso) == []
    assert not signed_in(client)


def test_subdomain_of_an_allowed_domain_is_refused(sso, provider):
    set_user(provider, "sub-sub", email="eve@evil.example.com", email_verified=True)
    response = sign_in(sso.test_client(), provider, "sub-sub")
    assert response.status_code == 403
    assert "evil.example.com is not an allowed domain" in text_of(response)


def test_no_email_claim_is_refused(sso, provider):
    set_user(provider, "no-email-sub", name="Nobody")
    response = sign_in(sso.test_client(), provider, "no-email-sub")
    assert response.status_code == 403
    assert "did not share an e-mail address" in text_of(response)
    assert users(sso) == []


def test_no_allowed_domain_means_nobody_gets_in(make_app, provider):
    closed = make_app(ALLOWED_DOMAINS="")
    client = closed.test_client()

    page = client.get("/auth/sign-in")
    assert page.status_code == 200
    assert "Sign-in is closed: no e-mail domain is allowed yet" in text_of(page)
    assert "/auth/login/oidc" not in page.get_data(as_text=True)

    response = client.get("/auth/login/oidc")
    assert response.status_code == 403  # refused before the trip to the provider
    assert "Sign-in is closed" in text_of(response)


def test_no_allowed_domain_is_checked_again_at_the_callback(make_app, provider):
    """Started while domains were allowed, finished after they were removed: refused."""
    set_user(provider, "alice-sub", email="alice@example.com", email_verified=True)
    open_app, closed_app = make_app(), make_app(ALLOWED_DOMAINS="")
    browser = open_app.test_client()
    callback = consent(start(browser, provider), "alice-sub")

    later = closed_app.test_client()  # same SECRET_KEY: the same session cookie is valid
    later.set_cookie("session", browser.get_cookie("session").value)
    response = follow(later, callback)
    assert response.status_code == 403
    assert "Sign-in is closed" in text_of(response)
    assert users(closed_app) == []


@pytest.mark.parametrize("target", ["https://evil.example/steal", "//evil.example",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_absolute_next_is_ignored(sso, provider, target):
    set_user(provider, "alice-sub", email="alice@example.com", email_verified=True)
    client = sso.test_client()
    authorize_url = start(client, provider, next_url=target)
    with client.session_transaction() as session:
        assert auth.NEXT_KEY not in session
    response = follow(client, consent(authorize_url, "alice-sub"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_replayed_callback_is_refused(sso, provider):
    set_user(provider, "alice-sub", email="alice@example.com", email_verified=True)
    client = sso.test_client()
    callback = consent(start(client, provider), "alice-sub")
    assert follow(client, callback).status_code == 303

    replay = follow(client, callback)
    assert replay.status_code == 403
    assert "This sign-in link has expired or was already used" in text_of(replay)

    # The same callback in another browser (an attacker pushing their sign-in on a victim).
    other = sso.test_client()
    assert follow(other, callback).status_code == 403
    assert not signed_in(other)


def test_forged_state_is_refused(sso, provider):
    set_user(provider, "alice-sub", email="alice@example.com", email_verified=True)
    client = sso.test_client()
    callback = consent(start(client, provider), "alice-sub")
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    forged = urlencode({"code": query["code"][0], "state": "forged-state"})

    response = client.get(f"{parts.path}?{forged}")
    assert response.status_code == 403
    assert "expired or was already used" in text_of(response)
    assert users(sso) == []
    assert not signed_in(client)

    # A callback with no sign-in started at all.
    fresh = sso.test_client()
    response = fresh.get("/auth/callback/oidc?code=x&state=y")
    assert response.status_code == 403
    assert not signed_in(fresh)


def test_cancelled_at_the_provider(sso, provider):
    client = sso.test_client()
    response = follow(client, consent(start(client, provider), deny=True))
    assert response.status_code == 403
    assert "Sign-in was cancelled at Test SSO" in text_of(response)
    assert not signed_in(client)


def test_production_sends_an_https_redirect_uri(make_app, provider):
    """Behind a TLS-ending proxy the request is plain http; the provider must still be
    given (and later redirect to) the https callback."""
    client = make_app(ABACUS_ENV="production",
                      SECRET_KEY="9f3c1a7e5b2d48e0a6c4f1b3d7e9a2c5b8d0f4e6a1c3b5d7").test_client()
    params = parse_qs(urlsplit(start(client, provider)).query)
    assert params["redirect_uri"] == ["https://localhost/auth/callback/oidc"]


def test_unreachable_provider_says_so(make_app):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_app(OIDC_DISCOVERY_URL=f"http://127.0.0.1:{port}/.well-known/"
                                         "openid-configuration").test_client()
    response = client.get("/auth/login/oidc")
    assert response.status_code == 502
    assert "Test SSO cannot be reached right now" in text_of(response)


# --- Google --------------------------------------------------------------------------------

@pytest.fixture
def google(make_app, provider, monkeypatch):
    """Google's flow and rules, with the mock standing in for accounts.google.com."""
    monkeypatch.setattr(auth, "GOOGLE_DISCOVERY_URL",
                        f"{provider}/.well-known/openid-configuration")
    return make_app(OIDC_DISCOVERY_URL="", OIDC_CLIENT_ID="", OIDC_CLIENT_SECRET="",
                    GOOGLE_CLIENT_ID="google-client", GOOGLE_CLIENT_SECRET="google-secret")


def test_google_workspace_account_signs_in(google, provider):
    set_user(provider, "g-alice", email="alice@example.com", email_verified=True,
             hd="example.com")
    client = google.test_client()

    page = text_of(client.get("/auth/sign-in"))
    assert "Continue with Google" in page
    assert "Continue with Test SSO" not in page

    authorize_url = start(client, provider, name="google", next_url="/usage")
    params = parse_qs(urlsplit(authorize_url).query)
    assert params["client_id"] == ["google-client"]
    assert params["hd"] == ["example.com"]  # the account chooser hint for one domain
    assert params["prompt"] == ["select_account"]

    response = follow(client, consent(authorize_url, "g-alice"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/usage"
    assert [email for email, _, _ in users(google)] == ["alice@example.com"]


@pytest.mark.parametrize("hosted", [{}, {"hd": "gmail.com"}, {"hd": "example.org"}])
def test_google_needs_an_allowed_hosted_domain(google, provider, hosted):
    set_user(provider, "g-personal", email="alice@example.com", email_verified=True, **hosted)
    client = google.test_client()
    response = sign_in(client, provider, "g-personal", name="google")
    assert response.status_code == 403
    assert "personal Google accounts cannot sign in" in text_of(response)
    assert users(google) == []


def test_oidc_provider_does_not_need_hd(sso, provider):
    set_user(provider, "kc-sub", email="kim@example.com", email_verified=True)
    assert sign_in(sso.test_client(), provider, "kc-sub").status_code == 303


# --- the sign-in page ----------------------------------------------------------------------

def test_sign_in_page_lists_configured_providers(sso):
    response = sso.test_client().get("/auth/sign-in?next=/team%3Fsort%3Dcost")
    page = response.get_data(as_text=True)
    assert "Continue with Test SSO" in text_of(response)
    assert 'href="/auth/login/oidc?next=/team?sort%3Dcost"' in page
    assert 'hx-boost="false"' in page  # htmx must not follow the redirect with XHR
    assert "Continue with Google" not in text_of(response)
    assert "/auth/dev-login" not in page  # dev sign-in off


def test_sign_in_page_with_provider_and_dev_login(make_app):
    page = text_of(make_app(ABACUS_DEV_LOGIN="1").test_client().get("/auth/sign-in"))
    assert "Continue with Test SSO" in page
    assert "Continue with development sign-in" in page


def test_sign_in_page_explains_how_to_configure(make_app):
    bare = make_app(OIDC_DISCOVERY_URL="", OIDC_CLIENT_ID="", OIDC_CLIENT_SECRET="")
    page = text_of(bare.test_client().get("/auth/sign-in"))
    assert "Sign-in is not configured yet; ask your administrator" in page
    assert "GOOGLE_CLIENT_ID" in page and "OIDC_DISCOVERY_URL" in page
    assert "http://localhost/auth/callback/oidc" in page


def test_unconfigured_or_unknown_provider_is_404(sso):
    client = sso.test_client()
    assert client.get("/auth/login/google").status_code == 404  # Google not configured
    assert client.get("/auth/login/github").status_code == 404
    assert client.get("/auth/callback/google?code=x&state=y").status_code == 404


def test_partial_google_settings_leave_google_off(make_app):
    half = make_app(GOOGLE_CLIENT_ID="only-the-id")
    assert half.test_client().get("/auth/login/google").status_code == 404


# --- the admission rule itself -------------------------------------------------------------

ALLOWED = ("example.com", "example.net")


@pytest.mark.parametrize(("claims", "expected"), [
    ({"email": "A@Example.com", "email_verified": True}, "a@example.com"),
    ({"email": "b@example.net", "email_verified": "TRUE"}, "b@example.net"),
])
def test_admitted_email(claims, expected):
    assert admitted_email(claims, ALLOWED) == expected


@pytest.mark.parametrize("claims", [
    {"email": "a@example.com"},
    {"email": "a@example.com", "email_verified": 1},
    {"email": "a@example.com", "email_verified": "yes"},
    {"email": "a@example.org", "email_verified": True},
    {"email": "a@b@example.com", "email_verified": True},
    {"email": "@example.com", "email_verified": True},
    {"email": "a b@example.com", "email_verified": True},
    {"email": ["a@example.com"], "email_verified": True},
    {"email_verified": True},
])
def test_refused_claims(claims):
    with pytest.raises(SignInRefused):
        admitted_email(claims, ALLOWED)


def test_hosted_domain_rule():
    claims = {"email": "a@example.com", "email_verified": True, "hd": "example.net"}
    assert admitted_email(claims, ALLOWED, hosted_domain_required=True) == "a@example.com"
    with pytest.raises(SignInRefused):
        admitted_email({**claims, "hd": "gmail.com"}, ALLOWED, hosted_domain_required=True)


def test_no_allowed_domain_refuses_everyone():
    with pytest.raises(SignInRefused, match="Sign-in is closed"):
        admitted_email({"email": "a@example.com", "email_verified": True}, ())


def test_deactivated_person_is_refused_at_the_callback(sso, provider):
    with sso.app_context():
        db.session.add(User(email="dora@example.com", role="member", active=False))
        db.session.commit()
        db.session.remove()
    set_user(provider, "dora-sub", email="dora@example.com", email_verified=True)
    client = sso.test_client()
    response = sign_in(client, provider, "dora-sub")
    assert response.status_code == 403
    assert "Your Abacus account has been deactivated" in text_of(response)
    assert client.get("/").status_code == 302  # still signed out
