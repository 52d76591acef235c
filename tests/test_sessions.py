"""Server-side sessions: sign-out, lifetimes, allowed domains and deactivation end a session
on the server, so a copied cookie (or a "remember me" cookie) stops working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import select, update

from abacus.config import ConfigError, Settings
from abacus.extensions import db
from abacus.models import User, UserSession
from abacus.people import users as user_service
from tests.helpers import csrf_token, sign_in
from tests.test_web import text_of

ADMIN, BOB = "admin@example.com", "bob@example.com"


def signed_in(client) -> bool:
    """Whether `client` reaches the overview (else it is sent to sign in)."""
    response = client.get("/")
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302:
        assert "/auth/sign-in" in response.headers["Location"]
    return response.status_code == 200


def copy_of(client, app) -> object:
    """Another browser holding a copy of `client`'s session cookie."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def sign_out(client) -> None:
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/auth/sign-out", data={"csrf_token": token}).status_code == 303


def age_sessions(app, email: str, *, created: timedelta | None = None,
                 seen: timedelta | None = None) -> None:
    """Move `email`'s sessions back in time, as if they began / were last used that long ago."""
    now = datetime.now(UTC)
    values = {}
    if created is not None:
        values["created_at"] = now - created
    if seen is not None:
        values["last_seen_at"] = now - seen
    with app.app_context():
        user_id = db.session.execute(select(User.id).where(User.email == email)).scalar_one()
        db.session.execute(update(UserSession).where(UserSession.user_id == user_id)
                           .values(**values))
        db.session.commit()


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.execute(select(User.id).where(User.email == email)).scalar_one()


def test_sign_out_ends_the_session_for_a_copied_cookie(app, client):
    sign_in(client, BOB)
    thief = copy_of(client, app)
    assert signed_in(thief)
    sign_out(client)
    assert not signed_in(client)
    assert not signed_in(thief)
    # htmx requests are refused the same way.
    assert thief.get("/team", headers={"HX-Request": "true"}).status_code == 401


def test_signing_out_one_browser_keeps_the_others(app):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, BOB)
    sign_in(phone, BOB)
    sign_out(laptop)
    assert signed_in(phone) and not signed_in(laptop)


def test_idle_session_ends(app, client):
    sign_in(client, BOB)
    age_sessions(app, BOB, seen=timedelta(hours=23))
    assert signed_in(client)  # within the default 24 h, and the request resets the clock
    with app.app_context():
        seen = db.session.execute(select(UserSession.last_seen_at)).scalar_one()
    assert datetime.now(UTC) - seen < timedelta(minutes=1)
    age_sessions(app, BOB, seen=timedelta(hours=24, minutes=1))
    assert not signed_in(client)
    # Once ended it stays ended, even if the clock were turned back.
    age_sessions(app, BOB, seen=timedelta(0))
    assert not signed_in(client)


def test_session_ends_at_its_absolute_lifetime_however_active(app, client):
    sign_in(client, BOB)
    age_sessions(app, BOB, created=timedelta(hours=167), seen=timedelta(0))
    assert signed_in(client)
    age_sessions(app, BOB, created=timedelta(hours=168, minutes=1), seen=timedelta(0))
    assert not signed_in(client)


def test_lifetimes_follow_the_settings(app, make_app):
    strict = make_app(ABACUS_SESSION_IDLE_HOURS="1", ABACUS_SESSION_MAX_AGE_HOURS="2")
    browser = strict.test_client()
    sign_in(browser, BOB)
    age_sessions(app, BOB, seen=timedelta(minutes=59))
    assert signed_in(browser)
    age_sessions(app, BOB, seen=timedelta(minutes=61))
    assert not signed_in(browser)


@pytest.mark.parametrize("name", ["ABACUS_SESSION_IDLE_HOURS", "ABACUS_SESSION_MAX_AGE_HOURS"])
@pytest.mark.parametrize("value", ["soon", "0", "-3"])
def test_bad_lifetime_setting_names_the_variable(app_env, name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_mapping({**app_env, name: value})


def test_removing_a_domain_signs_its_people_out(app, client, make_app):
    sign_in(client, BOB)
    narrowed = make_app(ALLOWED_DOMAINS="other.example")  # same SECRET_KEY and database
    assert not signed_in(copy_of(client, narrowed))


def test_remember_cookie_signs_nobody_in(app, client):
    sign_in(client, BOB)
    bob = user_id(app, BOB)
    with app.test_request_context():
        forged = encode_cookie(str(bob))  # signed with the app's own SECRET_KEY
    stranger = app.test_client()
    stranger.set_cookie("remember_token", forged)
    assert not signed_in(stranger)
    # Nor does it revive a signed-out session.
    client.set_cookie("remember_token", forged)
    sign_out(client)
    client.set_cookie("remember_token", forged)
    assert not signed_in(client)


def test_admin_deactivates_a_person_who_is_signed_out_everywhere(app, client):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, BOB)
    sign_in(phone, BOB)
    sign_in(client, ADMIN)
    token = csrf_token(client.get("/admin/people").get_data(as_text=True))
    bob = user_id(app, BOB)

    response = client.post(f"/admin/people/{bob}/active", data={"csrf_token": token,
                                                                 "active": "0"})
    assert response.status_code == 303
    page = text_of(client.get("/admin/people"))
    assert f"{BOB} is deactivated: signed out everywhere and cannot sign in." in page
    assert "deactivated" in page.split(BOB)[1]
    assert not signed_in(laptop) and not signed_in(phone)

    # They cannot sign in again, and are told why.
    again = app.test_client()
    refused = sign_in(again, BOB)
    assert refused.status_code == 403
    assert "Your Abacus account has been deactivated" in text_of(refused)
    assert not signed_in(again)

    # Reactivated: a new sign-in works; the old sessions stay ended.
    response = client.post(f"/admin/people/{bob}/active", data={"csrf_token": token,
                                                                 "active": "1"})
    assert response.status_code == 303
    assert f"{BOB} is active again" in text_of(client.get("/admin/people"))
    assert not signed_in(laptop)
    assert sign_in(again, BOB).status_code == 303 and signed_in(again)


def test_admin_cannot_deactivate_themselves(app, client):
    sign_in(client, ADMIN)
    token = csrf_token(client.get("/admin/people").get_data(as_text=True))
    response = client.post(f"/admin/people/{user_id(app, ADMIN)}/active",
                           data={"csrf_token": token, "active": "0"})
    assert response.status_code == 409
    assert "You cannot deactivate yourself" in text_of(response)
    assert signed_in(client)
    bad = client.post(f"/admin/people/{user_id(app, ADMIN)}/active",
                      data={"csrf_token": token, "active": "maybe"})
    assert bad.status_code == 400 and "active=0" in text_of(bad)
    assert client.post("/admin/people/999/active",
                       data={"csrf_token": token, "active": "0"}).status_code == 404


def test_members_cannot_deactivate_anyone(app, client):
    sign_in(app.test_client(), ADMIN)
    sign_in(client, BOB)
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post(f"/admin/people/{user_id(app, ADMIN)}/active",
                           data={"csrf_token": token, "active": "0"})
    assert response.status_code == 403


def test_the_last_active_admin_cannot_step_down_or_be_deactivated(app, client):
    other = app.test_client()
    sign_in(other, BOB)
    sign_in(client, ADMIN)
    token = csrf_token(client.get("/admin/people").get_data(as_text=True))
    bob = user_id(app, BOB)
    assert client.post(f"/admin/people/{bob}/role",
                       data={"csrf_token": token, "role": "admin"}).status_code == 303
    assert client.post(f"/admin/people/{bob}/active",
                       data={"csrf_token": token, "active": "0"}).status_code == 303
    # Bob is an admin but deactivated: admin@ is the only active one and must stay.
    response = client.post(f"/admin/people/{user_id(app, ADMIN)}/role",
                           data={"csrf_token": token, "role": "member"})
    assert response.status_code == 409
    assert "the only admin" in text_of(response)
    with app.app_context():
        admin = db.session.get(User, user_id(app, ADMIN))
        by = db.session.get(User, bob)
        with pytest.raises(user_service.CannotDeactivate, match="only active admin"):
            user_service.set_active(admin, False, by)
        db.session.rollback()
        assert db.session.get(User, user_id(app, ADMIN)).active
