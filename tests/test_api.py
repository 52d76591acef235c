"""The read-only JSON API `/api/v1`: every endpoint × every kind of caller (admin, finance and
member tokens, a revoked token, no token, a wrong token), the figures it answers (money as
exact decimal strings), paging, the pages' range rules as 400s naming the parameter,
revocation on the next request, last use and the access log, and the OpenAPI document
covering exactly the routes the app serves."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from abacus.extensions import db
from abacus.models import AccessLogEntry, AccessToken, Team, TeamMembership, User
from abacus.people.tokens import create_api_token, revoke_token
from tests.helpers import invoke, seed, sign_in
from tests.test_web import record, today

ALICE, BOB, KEY = "alice@example.com", "bob@example.com", "ci-key-xyz"
MONEY = re.compile(r"^-?\d+\.\d{2,}$")

# Every data endpoint, and who may read it: members are refused costs (finance figures).
ENDPOINTS = ("/api/v1/usage/daily", "/api/v1/usage/by-person", "/api/v1/usage/by-tool",
             "/api/v1/usage/by-model", "/api/v1/people", "/api/v1/teams", "/api/v1/costs")
FINANCE_ONLY = ("/api/v1/costs",)
CALLERS = ("admin", "finance", "member", "revoked", "none", "wrong")


@pytest.fixture
def usage(app):
    """Alice $1.50 on cursor (two days), Bob $77.77 reported plus an estimated record on
    Claude Code, and an unmapped key with an unpriced model; two teams."""
    seed(app, [
        record("a1", 1, actor=ALICE, email=ALICE, input_tokens=1000, cost=Decimal("1.00")),
        record("a2", 2, actor=ALICE, email=ALICE, input_tokens=500, cost=Decimal("0.50")),
        record("k1", 1, actor=KEY, email=None, model="mystery-model-9", input_tokens=5000),
    ], name="cursor-team")
    seed(app, [
        record("b1", 1, tool="claude_code", actor=BOB, email=BOB, input_tokens=7_000_000,
               cost=Decimal("77.77")),
        record("b2", 2, tool="claude_code", actor=BOB, email=BOB, input_tokens=1_000_000),
    ], name="anthropic", provider="anthropic")
    with app.app_context():
        platform = Team(name="Platform", cost_centre="CC-100")
        db.session.add(platform)
        db.session.flush()
        infra = Team(name="Infra", parent_id=platform.id)
        db.session.add(infra)
        db.session.flush()
        db.session.add_all([
            TeamMembership(team_id=platform.id, person=ALICE, valid_from=date(2020, 1, 1)),
            TeamMembership(team_id=infra.id, person=BOB, valid_from=date(2020, 1, 1),
                           lead=True)])
        db.session.commit()


@pytest.fixture
def tokens(app) -> dict[str, str]:
    """A token per kind of caller (None: no Authorization header)."""
    with app.app_context():
        made = {role: create_api_token(f"{role}-token", role=role,
                                       email=ALICE if role == "member" else None)[1]
                for role in ("admin", "finance", "member")}
        made["revoked"] = create_api_token("old", role="admin")[1]
        revoke_token("api", "old")
        db.session.commit()
    made["wrong"] = "abk_api_" + "x" * 43
    made["none"] = None
    return made


def get(client, url: str, token: str | None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, headers=headers, **kwargs)


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["data"]


# --- every endpoint × every caller --------------------------------------------------------

@pytest.mark.parametrize("visibility", ["self", "all"])
@pytest.mark.parametrize("caller", CALLERS)
def test_every_endpoint_as_every_caller(make_app, usage, tokens, caller, visibility):
    # Group size 1: three people here; the minimum group size has its own test below.
    client = make_app(ABACUS_MEMBER_VISIBILITY=visibility,
                      ABACUS_MIN_GROUP_SIZE="1").test_client()
    for url in ENDPOINTS:
        response = get(client, url, tokens[caller])
        assert response.mimetype == "application/json", (url, caller)
        body = response.get_json()
        if caller in ("revoked", "none", "wrong"):
            assert response.status_code == 401, (url, caller)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), (url, caller)
            assert set(body) == {"error"} and body["error"], (url, caller)
        elif caller == "member" and url in FINANCE_ONLY:
            assert response.status_code == 403, (url, caller)
            assert "finance" in body["error"]
        else:
            assert response.status_code == 200, (url, caller, body)
            assert {"start", "end", "page", "per_page", "total", "next", "data"} <= set(body)
    # The description is public: it holds no data.
    assert get(client, "/api/v1/openapi.json", tokens[caller]).status_code == 200


def test_a_member_token_reads_only_its_own_rows_under_self(make_app, usage, tokens):
    client = make_app(ABACUS_MEMBER_VISIBILITY="self", ABACUS_MIN_GROUP_SIZE="1").test_client()
    member = tokens["member"]
    for url in ("/api/v1/usage/by-person", "/api/v1/people"):
        response = get(client, url + "?q=bob", member)
        assert [r["person"] for r in rows(response)] == [ALICE], url
        assert response.get_json()["total"] == 1
        assert BOB not in response.get_data(as_text=True) and KEY not in response.get_data(
            as_text=True)
    refused = get(client, f"/api/v1/usage/daily?email={BOB}", member)
    assert refused.status_code == 403
    assert refused.get_json()["parameter"] == "email"
    own = rows(get(client, f"/api/v1/usage/daily?email={ALICE.upper()}", member))
    assert [(r["day"], r["cost_usd"]) for r in own] == [
        ((today() - timedelta(days=2)).isoformat(), "0.50"),
        ((today() - timedelta(days=1)).isoformat(), "1.00")]
    # Team-wide aggregates stay visible to members, as on the Overview and Usage pages.
    team = rows(get(client, "/api/v1/usage/daily", member))
    assert sum(r["events"] for r in team) == 5
    # Admin tokens read anyone.
    assert rows(get(client, f"/api/v1/usage/daily?email={BOB}", tokens["admin"]))
    assert len(rows(get(client, "/api/v1/people", tokens["admin"]))) == 3


def test_a_member_token_gets_no_aggregate_over_too_few_people(make_app, usage, tokens):
    """The pages' minimum group size holds for tokens: three people are under the default
    five, so team-wide days are refused and small breakdown rows left out for a member
    under `self`, while a finance token reads them."""
    client = make_app(ABACUS_MEMBER_VISIBILITY="self").test_client()
    refused = get(client, "/api/v1/usage/daily", tokens["member"])
    assert refused.status_code == 403 and "fewer than 5 people" in refused.get_json()["error"]
    assert rows(get(client, "/api/v1/usage/by-tool", tokens["member"])) == []
    assert rows(get(client, "/api/v1/usage/daily", tokens["finance"]))
    assert {r["tool"] for r in rows(get(client, "/api/v1/usage/by-tool", tokens["finance"]))
            } == {"cursor", "claude_code"}


@pytest.mark.parametrize("visibility", ["self", "all"])
def test_a_finance_token_follows_the_finance_role_of_the_pages(app, make_app, usage, tokens,
                                                               visibility):
    """The API has no rules of its own: a finance token may read Bob's rows exactly when a
    signed-in finance user may open Bob's person page (web.access decides both)."""
    with app.app_context():
        db.session.add(User(email="fin@example.com", role="finance"))
        db.session.commit()
    limited = make_app(ABACUS_MEMBER_VISIBILITY=visibility)
    browser = limited.test_client()
    sign_in(browser, "fin@example.com")
    page = browser.get(f"/users/{BOB}").status_code
    assert page in (200, 403)
    api = get(limited.test_client(), f"/api/v1/usage/daily?email={BOB}", tokens["finance"])
    assert api.status_code == page
    people = rows(get(limited.test_client(), "/api/v1/people", tokens["finance"]))
    assert (BOB in {r["person"] for r in people}) == (page == 200)


def test_under_visibility_all_a_member_token_reads_others_like_the_pages(make_app, usage,
                                                                           tokens):
    client = make_app(ABACUS_MEMBER_VISIBILITY="all").test_client()
    assert rows(get(client, f"/api/v1/usage/daily?email={BOB}", tokens["member"]))
    assert len(rows(get(client, "/api/v1/people", tokens["member"]))) == 3


# --- figures ------------------------------------------------------------------------------

def test_daily_usage_figures_are_exact_decimal_strings(client, usage, tokens):
    admin = tokens["admin"]
    days = rows(get(client, "/api/v1/usage/daily", admin))
    yesterday = (today() - timedelta(days=1)).isoformat()
    day = next(r for r in days if r["day"] == yesterday)
    assert day["tokens"] == day["input_tokens"] == 1000 + 5000 + 7_000_000
    assert day["cost_usd"] == "78.77"  # the exact decimal, never a float
    assert day["reported_cost_usd"] == "78.77" and day["estimated_cost_usd"] == "0.00"
    assert (day["events"], day["unpriced_events"], day["not_charged_events"]) == (3, 1, 0)
    before = next(r for r in days if r["day"] != yesterday)
    assert Decimal(before["estimated_cost_usd"]) > 0  # Bob's b2 had no provider cost
    assert Decimal(before["cost_usd"]) == Decimal(before["reported_cost_usd"]) + Decimal(
        before["estimated_cost_usd"])
    for r in days:
        for field in ("cost_usd", "reported_cost_usd", "estimated_cost_usd"):
            assert isinstance(r[field], str) and MONEY.match(r[field]), (field, r[field])

    per_tool = rows(get(client, "/api/v1/usage/daily?by_tool=true&tool=cursor", admin))
    assert {r["tool"] for r in per_tool} == {"cursor"}
    assert [r["cost_usd"] for r in per_tool] == ["0.50", "1.00"]
    unpriced = rows(get(client, f"/api/v1/usage/daily?email={KEY}", admin))
    assert unpriced[0]["cost_usd"] is None  # unknown, never $0
    assert unpriced[0]["unpriced_events"] == 1


def test_breakdowns_people_teams_and_costs(client, usage, tokens):
    admin = tokens["admin"]
    by_tool = rows(get(client, "/api/v1/usage/by-tool", admin))
    assert [(r["tool"], r["people"]) for r in by_tool] == [("claude_code", 1), ("cursor", 2)]
    by_model = rows(get(client, "/api/v1/usage/by-model", admin))
    assert "mystery-model-9" in {r["model"] for r in by_model}

    by_person = rows(get(client, "/api/v1/usage/by-person", admin))
    assert [r["person"] for r in by_person][:2] == [BOB, ALICE]  # most cost first
    alice = by_person[1]
    assert (alice["cost_usd"], alice["days_active"], alice["tokens_by_tool"]) == (
        "1.50", 2, {"cursor": 1500})
    key = next(r for r in by_person if r["person"] == KEY)
    assert key["mapped"] is False and key["cost_usd"] is None
    people = rows(get(client, "/api/v1/people", admin))
    assert [r["person"] for r in people] == sorted([ALICE, BOB, KEY])
    asc = rows(get(client, "/api/v1/usage/by-person?sort=tokens&dir=asc", admin))
    assert [r["person"] for r in asc] == [ALICE, KEY, BOB]

    teams = rows(get(client, "/api/v1/teams", admin))
    assert [(t["name"], t["parent_id"] is not None, t["cost_centre"], t["members"], t["leads"])
            for t in teams] == [("Infra", True, None, 1, 1), ("Platform", False, "CC-100", 1, 0)]

    monthly = get(client, "/api/v1/costs?grain=month", tokens["finance"])
    assert monthly.get_json()["grain"] == "month"
    months = rows(monthly)
    assert {r["tool"] for r in months} == {"claude_code", "cursor"}
    assert all(re.match(r"^\d{4}-\d{2}$", r["month"]) for r in months)
    total = sum(Decimal(r["reported_cost_usd"]) for r in months)
    assert total == Decimal("79.27")
    daily = rows(get(client, "/api/v1/costs?tool=cursor", tokens["finance"]))
    assert [r["cost_usd"] for r in daily] == ["0.50", "1.00"]


def test_an_empty_database_answers_empty_lists(client, tokens):
    for url in ENDPOINTS:
        body = get(client, url, tokens["admin"]).get_json()
        assert (body["data"], body["total"], body["next"]) == ([], 0, None), url


# --- paging and parameters ----------------------------------------------------------------

def test_pages_follow_next_links_to_the_end(client, usage, tokens):
    admin = tokens["admin"]
    seen, url = [], "/api/v1/people?per_page=2&days=7"
    while url:
        body = get(client, url, admin).get_json()
        assert body["total"] == 3 and body["per_page"] == 2
        seen += [r["person"] for r in body["data"]]
        url = body["next"]
        assert url is None or "days=7" in url  # the next link keeps the filters
    assert seen == sorted([ALICE, BOB, KEY])
    past = get(client, "/api/v1/people?per_page=2&page=5", admin).get_json()
    assert (past["data"], past["total"], past["next"]) == ([], 3, None)
    tools = get(client, "/api/v1/usage/by-tool?per_page=1&page=2", admin).get_json()
    assert [r["tool"] for r in tools["data"]] == ["cursor"] and tools["next"] is None
    days = get(client, "/api/v1/usage/daily?per_page=1", admin).get_json()
    assert days["total"] == 2 and len(days["data"]) == 1 and "page=2" in days["next"]
    # Query arguments url_for() would read as its own never shape the next link.
    odd = get(client, "/api/v1/people?per_page=1&_scheme=ftp&_external=1", admin).get_json()
    assert odd["next"].startswith("/api/v1/people?") and "_scheme" not in odd["next"]


@pytest.mark.parametrize("query, parameter", [
    ("start=yesterday", "start"),
    ("start=2026-02-30", "start"),
    ("start=1999-01-01&end=2000-01-05", "start"),
    ("start=2026-01-10&end=2026-01-01", "end"),
    ("start=2026-01-01&end=soon", "end"),
    ("start=2020-01-01&end=2026-01-01", "start"),  # longer than the pages allow
    ("days=8", "days"),
    ("days=week", "days"),
    ("per_page=1001", "per_page"),
    ("per_page=0", "per_page"),
    ("page=0", "page"),
    ("by_tool=maybe", "by_tool"),
    ("tool=a%00b", "tool"),
])
def test_bad_parameters_are_400s_naming_them(client, tokens, query, parameter):
    response = get(client, f"/api/v1/usage/daily?{query}", tokens["admin"])
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["parameter"] == parameter and parameter in body["error"]


@pytest.mark.parametrize("url, parameter", [
    ("/api/v1/costs?grain=week", "grain"),
    ("/api/v1/usage/by-person?sort=salary", "sort"),
    ("/api/v1/people?dir=up", "dir"),
])
def test_bad_choices_are_400s(client, tokens, url, parameter):
    response = get(client, url, tokens["admin"])
    assert response.status_code == 400 and response.get_json()["parameter"] == parameter


def test_a_range_in_the_org_time_zone(make_app, usage, tokens):
    """Days are the org's: the range presets end on the org's today."""
    client = make_app(ABACUS_TIMEZONE="Pacific/Kiritimati").test_client()  # UTC+14
    body = get(client, "/api/v1/usage/daily?days=7", tokens["admin"]).get_json()
    assert body["timezone"] == "Pacific/Kiritimati"
    assert date.fromisoformat(body["end"]) - date.fromisoformat(body["start"]) == timedelta(6)
    custom = get(client, f"/api/v1/usage/daily?start={today().isoformat()}",
                 tokens["admin"]).get_json()
    assert custom["start"] == today().isoformat()


# --- errors -------------------------------------------------------------------------------

def test_anything_but_get_is_a_json_405(client, tokens):
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)("/api/v1/people", headers={
            "Authorization": f"Bearer {tokens['admin']}"})
        assert response.status_code == 405, method
        assert response.get_json()["error"] and response.headers["Allow"]
        assert "POST" not in response.headers["Allow"]


def test_unknown_api_routes_are_json_404s(client, tokens):
    for token in (tokens["admin"], None):
        response = get(client, "/api/v1/nothing-here", token)
        assert response.status_code == 404 and response.mimetype == "application/json"


def test_a_session_cookie_does_not_open_the_api(app, client, usage):
    sign_in(client, "admin@example.com")
    response = client.get("/api/v1/people")
    assert response.status_code == 401 and response.get_json()["error"]
    assert client.get("/team").status_code == 200  # and the browser stays signed in


def test_a_token_opens_nothing_but_the_api(client, tokens):
    response = get(client, "/team", tokens["admin"])
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]
    assert get(client, "/admin/api-tokens", tokens["admin"]).status_code == 302


def test_a_malformed_authorization_header_is_a_401(client, tokens):
    for header in ("Basic Zm9vOmJhcg==", "Bearer", "Bearer ", tokens["admin"]):
        response = client.get("/api/v1/people", headers={"Authorization": header})
        assert response.status_code == 401, header


# --- revocation, last use, access log -----------------------------------------------------

def test_revocation_takes_effect_on_the_next_request(app, client, runner, usage, tokens):
    token = tokens["finance"]
    assert get(client, "/api/v1/costs", token).status_code == 200
    with app.app_context():
        result = invoke(runner, "api-tokens", "revoke", "finance-token")
        assert result.exit_code == 0, result.output
    response = get(client, "/api/v1/costs", token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_use_is_recorded_last_used_and_access_log(app, client, usage, tokens):
    with app.app_context():
        assert db.session.scalar(select(AccessToken.last_used_at).where(
            AccessToken.name == "member-token")) is None
    get(client, "/api/v1/usage/daily?days=7", tokens["member"])
    get(client, "/api/v1/people", tokens["wrong"])
    with app.app_context():
        used = db.session.scalar(select(AccessToken.last_used_at).where(
            AccessToken.name == "member-token"))
        assert used is not None
        log = db.session.execute(select(AccessLogEntry.viewer, AccessLogEntry.action,
                                        AccessLogEntry.target)).all()
        assert log == [("token:member-token", "api", "/api/v1/usage/daily?days=7")]


# --- the OpenAPI document -----------------------------------------------------------------

def test_openapi_describes_exactly_the_routes_served(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()  # valid JSON, no token needed
    assert doc["openapi"].startswith("3.1")
    served = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")}
    assert served == set(doc["paths"])
    for path, ops in doc["paths"].items():
        assert set(ops) == {"get"}, path  # read-only
    # Every reference resolves.
    text = response.get_data(as_text=True)
    for ref in set(re.findall(r'"\$ref":\s*"#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]
    # Every parameter a route reads is documented for it.
    params = {p["$ref"].rsplit("/", 1)[1]
              for p in doc["paths"]["/api/v1/usage/daily"]["get"]["parameters"]}
    assert {"start", "end", "days", "tool", "email", "by_tool", "page", "per_page"} <= params


def test_answers_match_the_documented_schemas(client, usage, tokens):
    """Every row's fields are the documented ones: required present, nothing undocumented."""
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        if path.endswith("openapi.json"):
            continue
        listing = ops["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        item = schemas[listing["properties"]["data"]["items"]["$ref"].rsplit("/", 1)[1]]
        extra = "?by_tool=true" if path.endswith("/daily") else ""
        body = get(client, path + extra, tokens["admin"]).get_json()
        assert set(listing["required"]) <= set(body), path
        assert body["data"], path
        for row in body["data"]:
            assert set(item["required"]) <= set(row) <= set(item["properties"]), (path, row)
    error = schemas["Error"]
    body = get(client, "/api/v1/costs?grain=year", tokens["admin"]).get_json()
    assert set(error["required"]) <= set(body) <= set(error["properties"])
