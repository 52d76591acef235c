"""API tokens are made, listed and revoked from the CLI (`flask abacus api-tokens`) and from
Admin → API tokens: shown once, kept hashed, never listed, refused from the next request
after revocation."""

from __future__ import annotations

import re

from sqlalchemy import select

from abacus.extensions import db
from abacus.models import AccessToken
from tests.helpers import csrf_token, invoke, sign_in

TOKEN = re.compile(r"abk_api_[A-Za-z0-9_-]{40,}")


def api_status(client, token: str) -> int:
    return client.get("/api/v1/people", headers={"Authorization": f"Bearer {token}"}
                      ).status_code


# --- CLI ----------------------------------------------------------------------------------

def test_cli_add_prints_the_token_once_and_list_never_shows_it(app, runner, client):
    # Requests run outside the test's app context: each gets its own, as in production.
    with app.app_context():
        result = invoke(runner, "api-tokens", "add", "bi-export", "--role", "finance")
        assert result.exit_code == 0, result.output
        stored = db.session.scalar(select(AccessToken).where(AccessToken.name == "bi-export"))
        assert (stored.role, stored.kind) == ("finance", "api")
        token_hash = stored.token_hash
    found = TOKEN.findall(result.output)
    assert len(found) == 1  # once
    token = found[0]
    assert result.stdout.strip() == token  # alone on stdout: `TOKEN=$(flask abacus …)`
    assert token_hash != token and token not in token_hash  # kept hashed

    assert api_status(client, token) == 200
    with app.app_context():
        listing = invoke(runner, "api-tokens", "list")
    assert listing.exit_code == 0, listing.output
    assert token not in listing.output and token_hash not in listing.output
    line = next(x for x in listing.output.splitlines() if x.startswith("bi-export"))
    assert "finance" in line and line.count("UTC") == 2  # created and last used
    assert line.split()[-1] == "-"  # not revoked

    with app.app_context():
        revoked = invoke(runner, "api-tokens", "revoke", "bi-export")
        assert revoked.exit_code == 0, revoked.output
    assert api_status(client, token) == 401
    with app.app_context():
        listing = invoke(runner, "api-tokens", "list").output
    line = next(x for x in listing.splitlines() if x.startswith("bi-export"))
    assert line.count("UTC") == 3  # and the revocation time


def test_cli_member_tokens_need_an_email(ctx, runner):
    result = invoke(runner, "api-tokens", "add", "mine")  # member is the default role
    assert result.exit_code != 0
    assert "--email" in result.output and "abk_api_" not in result.output
    assert db.session.scalar(select(AccessToken)) is None  # nothing half-written
    ok = invoke(runner, "api-tokens", "add", "mine", "--email", "Alice@Example.com")
    assert ok.exit_code == 0, ok.output
    stored = db.session.scalar(select(AccessToken))
    assert (stored.role, stored.email) == ("member", "alice@example.com")


def test_cli_refusals_are_clear(ctx, runner):
    assert invoke(runner, "api-tokens", "add", "a", "--role", "admin").exit_code == 0
    again = invoke(runner, "api-tokens", "add", "a", "--role", "admin")
    assert again.exit_code != 0 and "already exists" in again.output
    role = invoke(runner, "api-tokens", "add", "b", "--role", "owner")
    assert role.exit_code != 0 and "owner" in role.output
    email = invoke(runner, "api-tokens", "add", "c", "--email", "not-an-address")
    assert email.exit_code != 0 and "not-an-address" in email.output
    missing = invoke(runner, "api-tokens", "revoke", "nobody")
    assert missing.exit_code != 0 and "nobody" in missing.output
    # A revoked name can be used again.
    assert invoke(runner, "api-tokens", "revoke", "a").exit_code == 0
    assert invoke(runner, "api-tokens", "add", "a", "--role", "admin").exit_code == 0
    assert "No API tokens" not in invoke(runner, "api-tokens", "list").output


# --- Admin → API tokens -------------------------------------------------------------------

def test_the_admin_page_shows_a_new_token_once(app, client):
    sign_in(client, "admin@example.com")
    page = client.get("/admin/api-tokens")
    assert page.status_code == 200 and "No API tokens yet" in page.get_data(as_text=True)
    created = client.post("/admin/api-tokens", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "name": "looker",
        "role": "member", "email": "alice@example.com"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    body = created.get_data(as_text=True)
    tokens = set(TOKEN.findall(body))
    assert len(tokens) == 1
    token = tokens.pop()
    assert "not shown again" in body

    assert api_status(app.test_client(), token) == 200
    again = client.get("/admin/api-tokens").get_data(as_text=True)
    assert token not in again and not TOKEN.search(again)
    row = re.search(r"<tr>(?:(?!</tr>).)*looker.*?</tr>", again, flags=re.S).group(0)
    assert "alice@example.com" in row and "member" in row
    assert "never" not in row  # last used: just now

    revoked = client.post("/admin/api-tokens/revoke", data={
        "csrf_token": csrf_token(again), "name": "looker"})
    assert revoked.status_code == 303
    assert "revoked" in client.get("/admin/api-tokens").get_data(as_text=True)
    assert api_status(app.test_client(), token) == 401


def test_the_admin_page_refuses_bad_forms(client):
    sign_in(client, "admin@example.com")
    page = client.get("/admin/api-tokens").get_data(as_text=True)
    no_email = client.post("/admin/api-tokens", data={
        "csrf_token": csrf_token(page), "name": "x", "role": "member", "email": ""})
    assert no_email.status_code == 400
    assert "e-mail" in no_email.get_data(as_text=True) and not TOKEN.search(
        no_email.get_data(as_text=True))
    no_csrf = client.post("/admin/api-tokens", data={"name": "y", "role": "admin"})
    assert no_csrf.status_code == 400
    unknown = client.post("/admin/api-tokens/revoke", data={
        "csrf_token": csrf_token(page), "name": "nope"})
    assert unknown.status_code == 404


def test_members_cannot_reach_the_token_admin(app, client, runner):
    with app.app_context():
        invoke(runner, "api-tokens", "add", "keep", "--role", "admin")
    sign_in(client, "member@example.com")
    assert client.get("/admin/api-tokens").status_code == 403
    page = client.get("/auth/dev-login").get_data(as_text=True)
    response = client.post("/admin/api-tokens/revoke", data={
        "csrf_token": csrf_token(page), "name": "keep"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(AccessToken.revoked_at)) is None
