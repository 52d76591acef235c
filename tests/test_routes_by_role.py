"""Every page, fragment and export the app serves, requested as each role: signed out, a
member (under both visibility settings) and an admin. No route answers 500; signed-out
visitors get only the public ones; members never reach an admin-only route nor another
person's page under `self`. The routes come from the app's own URL map, so a route added
later is walked too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from abacus.demo.seed import seed_demo
from abacus.extensions import db
from abacus.web.auth import PUBLIC_ENDPOINTS as PUBLIC  # their own tokens guard them
from tests.helpers import sign_in

ADMIN, MEMBER = "admin@example.com", "member@example.com"
# Admin-only areas: every route under these prefixes must refuse members.
ADMIN_ONLY = ("/admin", "/seats")
# A value for each URL argument, so routes with arguments are walked too.
ARGUMENTS = {"email": "dev@example.com", "account_id": 1, "job_id": "no-such-job",
             "source": "github", "owner": "acme", "name": "api", "team_id": 1}


def _get_routes(app) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in PUBLIC:
            continue
        args = {a: ARGUMENTS[a] for a in rule.arguments}
        with app.test_request_context():
            from flask import url_for

            out.append((rule.endpoint, url_for(rule.endpoint, **args)))
    return sorted(out)


@pytest.fixture
def seeded(app):
    with app.app_context():
        seed_demo(people=3, days=10, today=datetime.now(UTC))
        db.session.commit()


def test_the_walk_covers_the_new_areas(app):
    endpoints = {e for e, _ in _get_routes(app)}
    for expected in ("seats.index", "budgets.index", "incidents.index",
                     "people.raw_export", "team.export", "status.index"):
        assert expected in endpoints, expected


def test_signed_out_visitors_reach_no_private_route(app, client):
    for endpoint, url in _get_routes(app):
        response = client.get(url)
        assert response.status_code in (302, 401), (endpoint, url, response.status_code)


@pytest.mark.parametrize("visibility", ["self", "all"])
def test_every_route_as_a_member(app, make_app, seeded, visibility):
    member_app = make_app(ABACUS_MEMBER_VISIBILITY=visibility)
    client = member_app.test_client()
    sign_in(client, MEMBER)
    for endpoint, url in _get_routes(member_app):
        status = client.get(url).status_code
        assert status != 500, (endpoint, url)
        if url.startswith(ADMIN_ONLY):
            assert status in (403, 404), (endpoint, url, status)
        if visibility == "self" and endpoint.startswith("people.") and "dev@example.com" in url:
            assert status in (403, 404), (endpoint, url, status)  # someone else's person page


def test_every_route_as_an_admin(app, client, seeded):
    sign_in(client, ADMIN)
    for endpoint, url in _get_routes(app):
        status = client.get(url).status_code
        assert status < 500, (endpoint, url, status)
        if url.startswith(ADMIN_ONLY) and not rule_has_arguments(app, endpoint):
            assert status in (200, 302, 303), (endpoint, url, status)


def rule_has_arguments(app, endpoint: str) -> bool:
    return any(r.arguments for r in app.url_map.iter_rules(endpoint))
