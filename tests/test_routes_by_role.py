"""Every page, fragment and export the app serves, requested as each role: signed out, a
member under both visibility settings, a team lead, finance and an admin. The routes come
from the app's own URL map, so a route added later is walked too; person routes are walked
for the viewer's own page, a person in the lead's team and someone outside it.

The expected outcome of each (route, role) is one row of TABLE: ALLOWED (a page, a download
or a redirect; a route whose argument names nothing may answer 404), REFUSED (403) or
SIGN_IN (a redirect to sign in) or TOKEN_ONLY (401: the JSON API takes bearer tokens,
not a browser session). No route ever answers 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from abacus.demo.seed import seed_demo
from abacus.web.auth import PUBLIC_ENDPOINTS as PUBLIC  # their own tokens guard them
from tests.helpers import seed, seed_teams, sign_in
from tests.test_web import record

ADMIN, MEMBER, LEAD, FINANCE = ("admin@example.com", "member@example.com",
                                "lead@example.com", "fin@example.com")
TEAMMATE, OUTSIDER = "pat@example.com", "sam@example.com"
# A value for each URL argument, so routes with arguments are walked too.
ARGUMENTS = {"account_id": 1, "job_id": "no-such-job", "source": "github", "owner": "acme",
             "name": "api", "budget_id": 1, "incident_id": 1, "user_id": 1,
             "team_id": 1}

ALLOWED, REFUSED, SIGN_IN, TOKEN_ONLY = "allowed", "refused", "sign in", "token only"
ROLES = ("signed_out", "member_self", "member_all", "lead", "finance", "admin")
# Who signs in for each role, and the settings of their app.
SETUP = {
    "member_self": (MEMBER, {"ABACUS_MEMBER_VISIBILITY": "self"}),
    "member_all": (MEMBER, {"ABACUS_MEMBER_VISIBILITY": "all"}),
    "lead": (LEAD, {"ABACUS_MEMBER_VISIBILITY": "self"}),
    "finance": (FINANCE, {"ABACUS_MEMBER_VISIBILITY": "self", "ABACUS_FINANCE": FINANCE}),
    "admin": (ADMIN, {"ABACUS_MEMBER_VISIBILITY": "self"}),
}


def _everyone(outcome: str) -> dict[str, str]:
    return {role: outcome for role in ROLES[1:]}


# (what, does the row apply to (url, whose person page or None), outcome per role); the
# first row that applies decides. Signed-out visitors are always sent to sign in.
TABLE = [
    ("JSON API: a bearer token only, never a session (its roles: tests/test_api.py)",
     lambda url, who: url.startswith("/api/v1"), _everyone(TOKEN_ONLY)),
    ("Admin area (accounts, mapping, pricing, people, access log, jobs, upload)",
     lambda url, who: url.startswith("/admin"),
     {**_everyone(REFUSED), "admin": ALLOWED}),
    ("Seats: every person's seat cost",
     lambda url, who: url.startswith("/seats"),
     {**_everyone(REFUSED), "finance": ALLOWED, "admin": ALLOWED}),
    ("Chargeback (branch teams): money by cost centre",
     lambda url, who: url.startswith("/chargeback"),
     {**_everyone(REFUSED), "finance": ALLOWED, "admin": ALLOWED}),
    ("One's own person page, raw records and export",
     lambda url, who: who == "self", _everyone(ALLOWED)),
    ("A person page of someone in the lead's team",
     lambda url, who: who == "team",
     {**_everyone(ALLOWED), "member_self": REFUSED}),
    ("A person page of someone outside it",
     lambda url, who: who == "other",
     {**_everyone(ALLOWED), "member_self": REFUSED, "lead": REFUSED}),
    ("Everything else: pages, fragments, exports over rows the role may see",
     lambda url, who: True, _everyone(ALLOWED)),
]


def expected(role: str, url: str, who: str | None) -> str:
    if role == "signed_out":
        return TOKEN_ONLY if url.startswith("/api/v1") else SIGN_IN
    for _, applies, outcomes in TABLE:
        if applies(url, who):
            return outcomes[role]
    raise AssertionError("the last row applies to every route")


def outcome_matches(outcome: str, status: int, has_arguments: bool) -> bool:
    if outcome == SIGN_IN:
        return status in (302, 401)
    if outcome == TOKEN_ONLY:
        return status == 401
    if outcome == REFUSED:
        return status == 403
    if has_arguments:  # the thing named may not exist: 404 is an answer, 403 is not
        return status < 500 and status != 403
    return status in (200, 301, 302, 303)


def _get_routes(app, me: str) -> list[tuple[str, str, str | None, bool]]:
    """(endpoint, url, whose person page, has arguments) for every GET route; person routes
    once for the viewer, once for the lead's teammate and once for an outsider."""
    from flask import url_for

    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in PUBLIC:
            continue
        people = ([("self", me), ("team", TEAMMATE), ("other", OUTSIDER)]
                  if "email" in rule.arguments else [(None, None)])
        for who, email in people:
            args = {a: email if a == "email" else ARGUMENTS[a] for a in rule.arguments}
            with app.test_request_context():
                out.append((rule.endpoint, url_for(rule.endpoint, **args), who,
                            bool(rule.arguments) and who is None))
    return sorted(out, key=lambda r: (r[1], r[2] or ""))


@pytest.fixture
def seeded(app):
    """Demo usage, plus usage of every signed-in role and of the lead's teammate and an
    outsider; the lead leads Platform, whose child team Payments holds the teammate."""
    seed(app, [record(f"r-{n}", 1, actor=person, email=person, input_tokens=1000,
                      cost=Decimal("1.25"))
               for n, person in enumerate((ADMIN, MEMBER, LEAD, FINANCE, TEAMMATE, OUTSIDER))])
    with app.app_context():
        seed_demo(people=3, days=10, today=datetime.now(UTC))
        seed_teams(("Platform", LEAD, {"lead": True}), ("Payments", TEAMMATE),
                   ("Sales", OUTSIDER))


def test_the_walk_covers_the_new_areas(app):
    endpoints = {e for e, *_ in _get_routes(app, MEMBER)}
    for expected_endpoint in ("seats.index", "budgets.index", "incidents.index",
                              "people.raw_export", "team.export", "status.index",
                              "admin.access_log", "admin.people"):
        assert expected_endpoint in endpoints, expected_endpoint


@pytest.mark.parametrize("role", ROLES)
def test_every_route_as_every_role(app, make_app, seeded, role):
    if role == "signed_out":
        client, me = app.test_client(), MEMBER
    else:
        me, settings = SETUP[role]
        client = make_app(**settings).test_client()
        assert sign_in(client, me).status_code == 303
    wrong = []
    for endpoint, url, who, has_arguments in _get_routes(app, me):
        status = client.get(url).status_code
        outcome = expected(role, url, who)
        if status >= 500 or not outcome_matches(outcome, status, has_arguments):
            wrong.append((endpoint, url, who, f"expected {outcome}, got {status}"))
    assert not wrong, "\n".join(map(str, wrong))


def test_the_table_tells_the_roles_apart():
    """The table itself: the same person page is allowed or refused by role, so a walk that
    ignored roles could not pass."""
    assert expected("member_self", "/users/sam@example.com", "other") == REFUSED
    assert expected("lead", "/users/sam@example.com", "other") == REFUSED
    assert expected("lead", "/users/pat@example.com", "team") == ALLOWED
    assert expected("finance", "/users/sam@example.com", "other") == ALLOWED
    assert expected("finance", "/admin/people", None) == REFUSED
    assert expected("finance", "/seats", None) == ALLOWED
    assert expected("member_all", "/seats", None) == REFUSED
