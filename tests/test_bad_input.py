"""Bad input a signed-in user can type into an address, and signed webhook payloads of the
wrong shape: each gets a 400 naming what is wrong, never a 500, and nothing is stored."""

from __future__ import annotations

import copy
import html
import json
import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from abacus.extensions import db
from abacus.models import Commit, Repository, WebhookDelivery
from abacus.providers.base import UsageRecord
from tests.fakes.github import make_commit, push_payload, send_webhook, sign
from tests.helpers import seed, sign_in

ALICE = "alice@example.com"
PERSON = f"/users/{ALICE}"
REPO = "/repositories/github/acme/app"

# Every page that shows a time range, and its fragment (HX-Request), reads start/end.
RANGE_ROUTES = ("/", "/team", "/team.csv", "/usage", "/usage.csv", "/commits",
                "/commits/export.csv", PERSON, f"{PERSON}?tab=raw", f"{PERSON}?tab=commits",
                REPO, "/status")
PAGED_ROUTES = ("/team", "/commits", f"{PERSON}?tab=raw", f"{PERSON}?tab=commits", REPO)
ALL_ROUTES = (*RANGE_ROUTES, "/admin", "/admin/accounts", "/admin/identities",
              "/admin/pricing", "/admin/people", "/admin/upload")
FRAGMENT = {"HX-Request": "true"}

BAD_RANGES = {
    "year 1": ("start=0001-01-01&end=0001-01-31", "start"),
    "year 9999": ("start=9999-12-01&end=9999-12-31", "start"),
    "end past year 9998": ("start=2026-01-01&end=9999-12-31", "end"),
}
BAD_PAGES = ("99999999999999999999", "0", "-3", "abc", "１２")


def text_of(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(body))


def _with(route: str, query: str) -> str:
    return f"{route}{'&' if '?' in route else '?'}{query}"


@pytest.fixture
def admin(app):
    """An admin's session, with usage and a repository to look at."""
    at = datetime.combine(datetime.now(UTC).date() - timedelta(days=2), time(12), tzinfo=UTC)
    seed(app, [UsageRecord(event_key="e1", occurred_at=at, tool="cursor", actor=ALICE,
                           email=ALICE, raw_model="claude-sonnet-4-5", input_tokens=10)])
    with app.app_context():
        repo = Repository(source="github", full_name="acme/app")
        db.session.add(repo)
        db.session.flush()
        db.session.add(Commit(repository_id=repo.id, sha="a" * 40, committed_at=at,
                              person=ALICE, author_email=ALICE, source="webhook"))
        db.session.commit()
    client = app.test_client()
    assert sign_in(client, "admin@example.com").status_code == 303
    return client


def _assert_names(response, parameter: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert f"“{parameter}” parameter" in text_of(response)


def _page_and_fragment(client, url: str, parameter: str) -> None:
    """The full page and its htmx fragment both refuse the value."""
    for headers in ({}, FRAGMENT):
        _assert_names(client.get(url, headers=headers), parameter)


@pytest.mark.parametrize("route", RANGE_ROUTES)
def test_out_of_range_dates_are_a_400_naming_the_parameter(admin, route):
    for query, parameter in BAD_RANGES.values():
        _page_and_fragment(admin, _with(route, query), parameter)


@pytest.mark.parametrize("route", PAGED_ROUTES)
def test_a_page_that_is_not_a_sane_page_number_is_a_400(admin, route):
    for value in BAD_PAGES:
        _page_and_fragment(admin, _with(route, f"page={value}"), "page")


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_a_nul_byte_in_any_parameter_is_a_400(admin, route):
    for parameter in ("q", "tool", "model", "sort", "filter", "start"):
        _page_and_fragment(admin, _with(route, f"{parameter}=a%00b"), parameter)


def test_a_nul_byte_in_the_address_or_an_endless_filter_is_a_400(admin):
    _assert_names(admin.get("/users/ali%00ce@example.com"), "email")
    _assert_names(admin.get("/team?q=" + "a" * 201), "q")
    _assert_names(admin.get(f"{PERSON}?tab=raw&tool=" + "x" * 5000), "tool")


def test_good_ranges_and_pages_still_work(admin):
    assert admin.get("/team?start=2024-01-01&end=2024-01-31&page=2").status_code == 200
    assert admin.get(f"{PERSON}?tab=raw&days=7&page=3").status_code == 200
    # A malformed date keeps its friendly message on the page it was asked of.
    assert "Dates must look like" in text_of(admin.get("/?start=2026-13-01"))


# --- the GitHub webhook ----------------------------------------------------------------------

SECRET = "s3cret-webhook"


@pytest.fixture
def hooked(make_app):
    return make_app(GITHUB_WEBHOOK_SECRET=SECRET)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar()


def _good() -> dict:
    return push_payload("acme/app", [make_commit(message="Fix"), make_commit()])


def _set(payload: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    node = payload
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return payload


def _post_raw(app, body: bytes):
    return app.test_client().post("/webhooks/github", data=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d-raw", "X-Hub-Signature-256": sign(SECRET, body)})


BAD_PAYLOADS = {
    "repository as a string": ("repository", "acme/app", "repository"),
    "author as a string": ("commits.0.author", "Dev One", "commits[0].author"),
    "committer as a list": ("commits.1.committer", ["x"], "commits[1].committer"),
    "year-1 timestamp": ("commits.0.timestamp", "0001-01-01T00:00:00+02:00",
                         "commits[0].timestamp"),
    "year-1 UTC timestamp": ("commits.0.timestamp", "0001-01-01T00:00:00Z",
                             "commits[0].timestamp"),
    "year-9999 timestamp": ("commits.0.timestamp", "9999-12-31T23:59:59-05:00",
                            "commits[0].timestamp"),
    "repository id past 2^63": ("repository.id", 2**63, "repository.id"),
    "sender id past 2^63": ("sender.id", 2**64, "sender.id"),
    "noreply id past 2^63": ("commits.0.author.email",
                             f"{2**63}+octo@users.noreply.github.com", "commits[0].author"),
    "NUL in a message": ("commits.0.message", "Fix\u0000it", "commits[0].message"),
    "NUL in an author name": ("commits.1.author.name", "Dev\u0000One", "commits[1].author"),
    "author name past 255": ("commits.1.author.name", "D" * 300, "commits[1].author.name"),
    "2 MB SHA": ("commits.0.id", "a" * 2_000_000, "commits[0].id"),
    "SHA as a number": ("commits.0.id", 1234567, "commits[0].id"),
    "URL as an object": ("commits.0.url", {"x": 1}, "commits[0].url"),
    "full name with NUL": ("repository.full_name", "acme/a\u0000pp", "repository.full_name"),
    "default branch as a list": ("repository.default_branch", ["main"],
                                 "repository.default_branch"),
}


@pytest.mark.parametrize("case", BAD_PAYLOADS, ids=list(BAD_PAYLOADS))
def test_a_signed_payload_of_the_wrong_shape_is_a_400_and_stores_nothing(hooked, case):
    path, value, named = BAD_PAYLOADS[case]
    response = _post_raw(hooked, json.dumps(_set(_good(), path, value)).encode())
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert named in error
    assert "\0" not in error and len(error) < 500
    assert (_count(hooked, Commit), _count(hooked, Repository),
            _count(hooked, WebhookDelivery)) == (0, 0, 0)


def test_deeply_nested_or_oversized_json_is_a_400(hooked):
    deep = b'{"repository": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = _post_raw(hooked, deep)
    assert response.status_code == 400
    assert "nested" in response.get_json()["error"]
    # No delivery id header and a 2 MB `after`: the fallback delivery id is kept short.
    payload = _good()
    payload["after"] = "b" * 2_000_000
    body = json.dumps(payload).encode()
    response = hooked.test_client().post("/webhooks/github", data=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-Hub-Signature-256": sign(SECRET, body)})
    assert response.status_code == 400
    assert "after" in response.get_json()["error"]
    assert _count(hooked, Commit) == 0


def test_a_good_push_still_stores_after_a_refused_one(hooked):
    bad = _set(copy.deepcopy(_good()), "commits.0.message", "a\u0000b")
    assert send_webhook(hooked.test_client(), "push", bad, SECRET, "d-1").status_code == 400
    good = send_webhook(hooked.test_client(), "push", _good(), SECRET, "d-1")
    assert good.get_json()["outcome"] == "stored"
    assert _count(hooked, Commit) == 2
