"""The first hour (issue 19): becoming admin in development, roles that count at the next
request, and identity edits that are safe and reversible (confirmation outside the allowed
domains, change and remove mappings, guessed suggestions, bots apart from people, old
identity URLs)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abacus.analytics.overview import overview
from abacus.extensions import db
from abacus.models import Bot, IdentityMapping, UsageDaily, User
from abacus.seats.cost import cost_report
from tests.helpers import csrf_token
from tests.test_admin import (
    ADMIN,
    daily_emails,
    notice_after,
    post,
    record,
    seed,
    sign_in,
    text_of,
    today,
)


def dev_sign_in(client, email: str, **extra: str):
    form = client.get("/auth/dev-login").get_data(as_text=True)
    return client.post("/auth/dev-login", data={"email": email,
                                                "csrf_token": csrf_token(form), **extra})


# --- item 1: an admin after `make run` -------------------------------------------------------

def role_of(app, email: str) -> str | None:
    with app.app_context():
        return db.session.execute(select(User.role).where(User.email == email)).scalar()


def test_dev_sign_in_offers_admin_while_nobody_is(app, client):
    # (No app context held across requests: each request loads its own signed-in user.)
    page = client.get("/auth/dev-login").get_data(as_text=True)
    assert 'name="as_admin"' in page and "checked" in page.split('name="as_admin"')[1][:40]
    response = dev_sign_in(client, "first@example.com", as_admin="1")
    assert response.status_code == 303
    assert role_of(app, "first@example.com") == "admin"
    assert client.get("/admin").status_code == 200
    # Now someone is an admin: the box is offered, but not ticked.
    other = app.test_client()
    page = other.get("/auth/dev-login").get_data(as_text=True)
    assert "checked" not in page.split('name="as_admin"')[1][:40]
    dev_sign_in(other, "second@example.com")
    assert role_of(app, "second@example.com") == "member"
    assert other.get("/admin").status_code == 403


def test_admins_setting_counts_at_the_next_request(app, client, make_app):
    sign_in(client, "late@example.com")
    assert client.get("/admin").status_code == 403
    # The same cookie against the app restarted with the address in ABACUS_ADMINS.
    restarted = make_app(ABACUS_ADMINS="admin@example.com,late@example.com")
    again = restarted.test_client()
    for cookie in client._cookies.values():
        again.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    assert again.get("/admin").status_code == 200  # no new sign-in
    assert role_of(app, "late@example.com") == "admin"


def test_promotion_in_admin_people_counts_without_signing_in_again(app, client):
    sign_in(client, "bob@example.com")
    assert client.get("/admin").status_code == 403
    other = app.test_client()
    token = sign_in(other, ADMIN)
    with app.app_context():
        bob = db.session.execute(select(User.id).where(User.email == "bob@example.com")).scalar()
    assert post(other, f"/admin/people/{bob}/role", token, role="admin").status_code == 303
    assert client.get("/admin").status_code == 200


# --- item 2: identity edits ------------------------------------------------------------------

@pytest.fixture
def admin(client) -> str:
    """An admin signed in on `client`: a CSRF token for their posts."""
    return sign_in(client, ADMIN)


def _key_usage(app, actor: str = "ci-alice-key", n: int = 3) -> None:
    seed(app, [record(f"{actor}-{i}", i + 1, actor=actor, email=None, cost=Decimal("1.25"))
               for i in range(n)] + [record("a1", 1, cost=Decimal("2.00"))])


def _totals(app) -> tuple[int, Decimal]:
    with app.app_context():
        r = db.session.execute(select(func.sum(UsageDaily.events),
                                      func.sum(UsageDaily.cost_usd))).one()
        return int(r[0]), Decimal(r[1])


def emails_of(app, actor: str) -> set[str | None]:
    with app.app_context():
        return daily_emails(actor)


def mapping(app, source: str, external_id: str) -> str | None:
    with app.app_context():
        row = db.session.get(IdentityMapping, (source, external_id))
        return row.email if row else None


# (Requests run without a held app context: each loads its own user and CSRF token.)

def test_outside_domain_needs_confirmation(app, client, admin):
    _key_usage(app)
    response = post(client, "/admin/identities/assign", admin, provider="anthropic",
                    external_id="ci-alice-key", email="alice@gmail.com")
    assert response.status_code == 400
    page = text_of(response)
    assert "gmail.com is not one of your domains" in page
    assert "Assign to alice@gmail.com anyway" in page
    assert mapping(app, "anthropic", "ci-alice-key") is None
    assert emails_of(app, "ci-alice-key") == {None}
    response = post(client, "/admin/identities/assign", admin, provider="anthropic",
                    external_id="ci-alice-key", email="alice@gmail.com", confirm_outside="1")
    assert "ci-alice-key is now alice@gmail.com" in notice_after(client, response)
    assert emails_of(app, "ci-alice-key") == {"alice@gmail.com"}


def test_mapping_changed_then_removed_returns_usage_to_the_identity(app, client, admin):
    _key_usage(app)
    before = _totals(app)
    post(client, "/admin/identities/assign", admin, provider="anthropic",
         external_id="ci-alice-key", email="alice@example.com")
    assert emails_of(app, "ci-alice-key") == {"alice@example.com"}
    page = client.get("/admin/identities").get_data(as_text=True)
    assert 'action="/admin/identities/unassign"' in page and ">Change<" in page
    # Change it to someone else, from the mappings table.
    response = post(client, "/admin/identities/assign", admin, provider="anthropic",
                    external_id="ci-alice-key", email="bob@example.com")
    assert response.status_code == 303
    assert emails_of(app, "ci-alice-key") == {"bob@example.com"}
    # Remove it: the usage is the identity's again, unmapped, and nothing is lost.
    response = post(client, "/admin/identities/unassign", admin, provider="anthropic",
                    external_id="ci-alice-key")
    assert "moved back to ci-alice-key" in notice_after(client, response)
    assert emails_of(app, "ci-alice-key") == {None}
    assert mapping(app, "anthropic", "ci-alice-key") is None
    assert _totals(app) == before
    unmapped = text_of(client.get("/admin/identities")).split("Unmapped identities")[1]
    assert "ci-alice-key" in unmapped.split("Mappings")[0]
    # Removing again says so and changes nothing.
    response = post(client, "/admin/identities/unassign", admin, provider="anthropic",
                    external_id="ci-alice-key")
    assert "has no mapping" in notice_after(client, response)
    assert _totals(app) == before


def test_suggestions_are_offered_never_applied(app, client, admin):
    seed(app, [record("k1", 1, actor="carol-laptop", email=None),
               record("k2", 1, actor="Dan Smith", email=None),
               record("p1", 3, actor="dsmith@example.com", email="dsmith@example.com")])
    response = client.get("/admin/identities")
    page = text_of(response)
    assert "carol@example.com a guess from the name" in page  # nobody known: a guess
    assert "dsmith@example.com “Dan Smith” abbreviated is “dsmith”" in page
    assert ('aria-label="Assign carol-laptop to carol@example.com"'
            in response.get_data(as_text=True))
    with app.app_context():
        assert db.session.execute(
            select(func.count()).select_from(IdentityMapping)).scalar() == 0
    assert emails_of(app, "carol-laptop") == {None}


def test_bot_kept_shown_apart_and_not_counted_as_a_person(app, client, admin):
    seed(app, [record("b1", 1, actor="ci-deploy", email=None, cost=Decimal("5.00")),
               record("b2", 2, actor="ci-deploy", email=None, cost=Decimal("5.00")),
               record("a1", 1, cost=Decimal("2.00")),
               record("c1", 1, actor="carol@example.com", email="carol@example.com",
                      cost=Decimal("3.00"))])
    end = today()
    start = end.replace(year=end.year - 1)

    def figures():
        with app.app_context():
            ov, report = overview(start, end), cost_report(start, end)
            return ov, report

    assert figures()[0].active_people == 3
    response = post(client, "/admin/identities/bots", admin, person="ci-deploy")
    assert "ci-deploy is marked as a bot" in notice_after(client, response)
    with app.app_context():
        assert db.session.get(Bot, "ci-deploy") is not None
    ov, report = figures()
    assert ov.active_people == 2
    assert ov.cost_usd == Decimal("15.00")  # kept in every total
    assert [p.person for p in ov.by_person] == ["alice@example.com", "carol@example.com"]
    assert report.active_people == 2
    assert report.per_active_person == Decimal("7.50")
    # Overview and Team show it apart.
    for url in ("/?days=365", "/team?days=365"):
        page = text_of(client.get(url))
        assert "Bots & service accounts" in page, url
        assert "ci-deploy" in page.split("Bots & service accounts")[1], url
    team = text_of(client.get("/team?days=365")).split("Bots & service accounts")[0]
    assert "ci-deploy" not in team
    # Not offered for mapping any more; counted again after "Count as a person".
    ident = text_of(client.get("/admin/identities"))
    assert "ci-deploy" not in ident.split("Unmapped identities")[1].split("Bots & service")[0]
    assert "ci-deploy marked by admin@example.com" in ident
    response = post(client, "/admin/identities/bots", admin, person="ci-deploy", remove="1")
    assert "counts as a person again" in notice_after(client, response)
    assert figures()[0].active_people == 3


def test_mapped_identity_url_redirects_to_the_person(app, client, admin):
    _key_usage(app)
    assert client.get("/users/ci-alice-key").status_code == 200
    post(client, "/admin/identities/assign", admin, provider="anthropic",
         external_id="ci-alice-key", email="alice@example.com")
    response = client.get("/users/ci-alice-key?days=7")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/users/alice@example.com?days=7")
