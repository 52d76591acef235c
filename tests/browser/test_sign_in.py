"""Sign in through a real OpenID Connect provider (oidc-provider-mock) in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from oidc_provider_mock import User, run_server_in_thread

import abacus
from tests.browser.conftest import serve_other, shoot, shoot_views

# The mock provider runs on Authlib's deprecated server helpers; their warnings are not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ALICE = User(sub="alice@example.com",
             claims={"email": "alice@example.com", "email_verified": True, "name": "Alice"})


@pytest.fixture
def sso_server(app, app_env) -> Iterator[str]:
    """The app, configured for the mock provider (dev sign-in off), on a local port."""
    with run_server_in_thread(user_claims=[ALICE]) as provider:
        sso_app = abacus.create_app({
            **app_env,
            "ABACUS_DEV_LOGIN": "0",
            "OIDC_DISCOVERY_URL": f"http://localhost:{provider.server_port}"
                                  "/.well-known/openid-configuration",
            "OIDC_CLIENT_ID": "abacus-browser",
            "OIDC_CLIENT_SECRET": "browser-secret",
            "OIDC_PROVIDER_NAME": "Acme SSO",
        }, dotenv=False)
        with serve_other(sso_app) as url:
            yield url


def test_sign_in_with_the_oidc_provider(sso_server, page):
    # The mock provider's consent page pulls a stylesheet from a CDN; answer it locally so
    # the test needs no network (the app's own pages load nothing from elsewhere).
    page.route("https://cdn.jsdelivr.net/**",
               lambda route: route.fulfill(status=200, content_type="text/css", body=""))

    page.goto(sso_server + "/?days=7")
    assert urlsplit(page.url).path == "/auth/sign-in"
    button = page.get_by_role("link", name="Continue with Acme SSO")
    assert button.is_visible()
    assert page.get_by_text("development sign-in").count() == 0

    shoot_views(page, "sign-in", dark=False)

    # Keyboard: the provider button is reachable and works with Enter.
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("http://localhost:*/oauth2/authorize?*")
    page.get_by_role("button", name="alice@example.com").click()  # the provider's consent

    page.wait_for_url(sso_server + "/?days=7")
    assert page.get_by_text("alice@example.com").first.is_visible()
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert page.get_by_text("Last 7 days").first.is_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(sso_server + "/auth/sign-in")
    assert page.get_by_role("link", name="Continue with Acme SSO").is_visible()

    assert page.problems == []


def test_refusal_is_shown_on_the_sign_in_page(sso_server, page):
    page.route("https://cdn.jsdelivr.net/**",
               lambda route: route.fulfill(status=200, content_type="text/css", body=""))
    page.goto(sso_server + "/auth/sign-in")
    page.get_by_role("link", name="Continue with Acme SSO").click()
    page.wait_for_url("http://localhost:*/oauth2/authorize?*")
    page.get_by_role("button", name="Deny").click()

    page.wait_for_url(sso_server + "/auth/callback/oidc?*")
    assert page.get_by_role("alert").inner_text() == "Sign-in was cancelled at Acme SSO."
    assert page.get_by_role("link", name="Continue with Acme SSO").is_visible()
    shoot(page, "sign-in-refused")
    # The refusal is a 403 page, which Chromium logs once; nothing else may fail.
    assert page.problems == ["console error: Failed to load resource: the server responded "
                             "with a status of 403 (FORBIDDEN)"]


def test_sign_in_page_with_every_option(app, app_env, page):
    """Google, another provider and the development sign-in together (no provider visited)."""
    every = abacus.create_app({**app_env, "GOOGLE_CLIENT_ID": "g", "GOOGLE_CLIENT_SECRET": "s",
                               "OIDC_DISCOVERY_URL": "https://sso.example.com/.well-known/"
                                                     "openid-configuration",
                               "OIDC_CLIENT_ID": "c", "OIDC_PROVIDER_NAME": "Okta"},
                              dotenv=False)
    with serve_other(every) as base:
        page.goto(f"{base}/auth/sign-in")
        links = page.locator(".auth-providers a")
        assert links.all_inner_texts() == ["Continue with Google", "Continue with Okta",
                                           "Continue with development sign-in"]
        # Tab order follows the buttons.
        page.keyboard.press("Tab")  # the brand link
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent").strip() == (
            "Continue with Google")
        shoot(page, "sign-in-all")
        page.emulate_media(color_scheme="dark")
        shoot(page, "sign-in-dark")
    assert page.problems == []
