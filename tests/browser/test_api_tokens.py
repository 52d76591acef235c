"""Admin → API tokens in a real browser: make a token (shown once, fits a phone), read the
JSON API with it, and revoke it (refused on the next request)."""

from __future__ import annotations

import re

import requests

from tests.browser.conftest import PHONE, dev_sign_in, settled, shoot

TOKEN = re.compile(r"abk_api_[A-Za-z0-9_-]{40,}")


def api_status(base: str, token: str) -> int:
    return requests.get(base + "/api/v1/people", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).status_code


def test_make_use_and_revoke_an_api_token(live_server, page):
    base = live_server
    dev_sign_in(page, base, "/admin")
    page.get_by_role("link", name="API tokens").click()
    page.wait_for_url(base + "/admin/api-tokens")
    settled(page)
    page.get_by_label("Name").fill("looker")
    page.get_by_label("Role").select_option("finance")
    page.get_by_role("button", name="Make token").click()
    value = page.locator("#new-token-value")
    value.wait_for()
    token = value.inner_text().strip()
    assert TOKEN.fullmatch(token)
    assert "not shown again" in page.locator("#new-token").inner_text()

    page.set_viewport_size(PHONE)  # the long token wraps instead of widening the page
    # The token and the curl example wrap inside their card. (Admin tables still widen the
    # page on phones, as on Admin → People: the phone layout is another change's.)
    fits = page.evaluate("""() => [...document.querySelectorAll('#new-token, #new-token *')]
        .every(e => e.getBoundingClientRect().right <= window.innerWidth)""")
    assert fits
    shoot(page, "admin-api-token-created-phone")

    assert api_status(base, token) == 200
    page.goto(base + "/admin/api-tokens")
    settled(page)
    assert token not in page.content()  # shown once
    row = page.locator("tr", has_text="looker")
    assert "finance" in row.inner_text() and "never" not in row.inner_text()  # last used

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("Revoke")).click()
    page.get_by_text("is revoked").wait_for()
    assert api_status(base, token) == 401
    assert page.problems == []  # type: ignore[attr-defined]
