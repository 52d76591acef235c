"""`ABACUS_MEMBER_VISIBILITY=self`: every route a member can reach, none of which may show
another person's (or an unmapped identity's) figures; team-wide totals stay, over everyone.

Bob and an unmapped API key have figures found nowhere else ($77.77, $55.55, a seat invoice
of $48.12, a run that fetched 4,242 records), so finding one in a response is a leak. All
usage is on one day: a day's team total is a total over everyone, not one person's figure.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from abacus.extensions import db
from abacus.models import AccountSnapshot, Commit, Repository, SyncRun
from tests.helpers import seed, sign_in
from tests.test_web import record, text_of

ALICE, BOB, ADMIN = "alice@example.com", "bob@example.com", "admin@example.com"
UNMAPPED = "ci-key-xyz"
# What must never reach Alice: Bob's and the unmapped key's identities and figures.
SECRETS = (BOB, "77.77", UNMAPPED, "55.55", "48.12", "4242", "4,242", "Bob's secret change")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def limited(app, make_app):
    """The app with visibility `self`, seeded: Alice $1.00, Bob $77.77, the key $55.55."""
    seed(app, [
        record("a1", 1, actor=ALICE, email=ALICE, input_tokens=1000, cost=Decimal("1.00")),
        record("b1", 1, actor=BOB, email=BOB, input_tokens=7_000_000, cost=Decimal("77.77")),
        record("k1", 1, actor=UNMAPPED, email=None, input_tokens=5_000,
               cost=Decimal("55.55")),
    ], name="cursor-team")
    seed(app, [], name="seat-bob", provider="cursor_session")
    with app.app_context():
        from sqlalchemy import select

        from abacus.models import Account

        seat = db.session.execute(select(Account).where(Account.name == "seat-bob")).scalar()
        db.session.add_all([
            AccountSnapshot(account_id=seat.id, kind="profile", key="", data={"email": BOB}),
            AccountSnapshot(account_id=seat.id, kind="invoice", key="2026-03",
                            data={"total_usd": "$48.12"}),
            SyncRun(kind="sync", account_id=seat.id, status="success", fetched=4242,
                    inserted=4242, started_at=datetime.now(UTC) - timedelta(hours=1),
                    finished_at=datetime.now(UTC) - timedelta(minutes=59)),
        ])
        repo = Repository(full_name="acme/api", html_url="https://github.com/acme/api")
        db.session.add(repo)
        db.session.flush()
        day = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(12),
                               tzinfo=UTC)
        for n, (person, title) in enumerate(((BOB, "Bob's secret change"),
                                             (ALICE, "Alice's change"))):
            db.session.add(Commit(repository_id=repo.id, sha=f"{n:040x}", committed_at=day,
                                  message=title, author_email=person, person=person,
                                  author_name=person.split("@")[0].title(), additions=1,
                                  deletions=1, source="api",
                                  html_url=f"https://github.com/acme/api/commit/{n:040x}"))
        db.session.commit()
    # Two people only: the minimum group size (its own tests: test_roles.py) is set to 1 here.
    limited_app = make_app(ABACUS_MEMBER_VISIBILITY="self", ABACUS_MIN_GROUP_SIZE="1")
    client = limited_app.test_client()
    assert sign_in(client, ALICE).status_code == 303
    return client


def assert_no_leak(response) -> str:
    assert response.status_code in (200, 403), response.status_code
    body = response.get_data(as_text=True)
    for secret in SECRETS:
        assert secret not in body, f"{secret!r} leaked by {response.request.path}"
    return body


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_team_filter_cannot_narrow_the_totals_to_another_person(limited):
    for url in ("/team?q=bob", "/team?q=ci-key", "/team?q=b&days=7", "/team?q=o&sort=cost"):
        response = limited.get(url)
        assert_no_leak(response)
        text = text_of(response)
        # The totals and head count are over everyone, whatever the filter says.
        assert "team of 3 people" in text
        assert "$134.32" in text
        assert assert_no_leak(limited.get(url, headers=HTMX))


def test_team_csv_with_a_filter_has_only_the_members_own_row(limited):
    rows = read_csv(limited.get("/team.csv?q=bob"))
    assert [r[0] for r in rows[1:]] == [ALICE]
    assert_no_leak(limited.get("/team.csv?q=bob"))
    assert_no_leak(limited.get("/team.csv"))


def test_overview_shows_the_members_row_and_team_totals_only(limited):
    body = assert_no_leak(limited.get("/?days=30"))
    assert "$134.32" in body and ALICE in body
    assert_no_leak(limited.get("/?days=30&metric=cost", headers=HTMX))


def test_usage_page_and_csv_show_team_aggregates_only(limited):
    assert "$134.32" in text_of(limited.get("/usage?days=30"))
    assert_no_leak(limited.get("/usage?days=30"))
    assert_no_leak(limited.get("/usage?days=30&view=tools&metric=cost", headers=HTMX))
    assert_no_leak(limited.get("/usage.csv?days=30"))


def test_person_pages_of_others_are_refused(limited):
    for url in (f"/users/{BOB}", f"/users/{BOB.upper()}", "/users/bob", f"/users/{UNMAPPED}",
                f"/users/{BOB}?tab=raw", f"/users/{BOB}?tab=commits"):
        response = limited.get(url)
        assert response.status_code == 403, url
        assert_no_leak(response)
    assert limited.get(f"/users/{ALICE}?days=30").status_code == 200


def test_commits_and_repository_pages_list_only_own_commits(limited):
    assert_no_leak(limited.get("/commits?days=30"))
    assert_no_leak(limited.get("/commits/export.csv?days=30"))
    body = assert_no_leak(limited.get("/repositories/github/acme/api?days=30"))
    assert "Alice&#39;s change" in body or "Alice's change" in body
    assert_no_leak(limited.get("/repositories/github/acme/api?days=30&filter=all",
                               headers=HTMX))


def test_status_hides_unmapped_identities_and_other_peoples_seats(limited):
    for headers in ({}, HTMX):
        response = limited.get("/status?days=30", headers=headers)
        assert_no_leak(response)
        # The member still learns that unmapped usage exists (it is in the team totals).
        assert "1 provider identity has usage not yet mapped" in text_of(response)


def test_admins_still_see_everything(limited, app, make_app):
    admin = make_app(ABACUS_MEMBER_VISIBILITY="self").test_client()
    sign_in(admin, ADMIN)
    status = text_of(admin.get("/status?days=30"))
    assert UNMAPPED in status and "$55.55" in status and "$48.12" in status
    assert "$77.77" in text_of(admin.get("/team?q=bob"))
