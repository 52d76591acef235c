"""Roles (admin, finance, team lead, member), the minimum group size of aggregates and the
access log, as people use them through the pages and exports (README "Roles").

Every person's usage has a cost found nowhere else, so finding it in a response is a leak.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from abacus.extensions import db
from abacus.models import AccessLogEntry, User
from tests.helpers import csrf_token, seed, seed_teams, sign_in
from tests.test_web import record, text_of

ADMIN, FINANCE = "admin@example.com", "fin@example.com"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
LEAD, PAT, QUINN, SAM = ("lead@example.com", "pat@example.com", "quinn@example.com",
                         "sam@example.com")
SONNET, GPT, GEMINI = "claude-sonnet-4-5-20250929", "gpt-5", "gemini-2.5-pro"


def usage(app, people: dict[str, tuple[str, str]]) -> None:
    """One record yesterday per person: {email: (raw model, cost)}."""
    seed(app, [record(f"k-{n}", 1, actor=p, email=p, model=model, input_tokens=1000 + n,
                      cost=Decimal(cost))
               for n, (p, (model, cost)) in enumerate(people.items())])


def teams(app) -> None:
    """Platform (led by LEAD; PAT) ⊃ Payments (QUINN); Sales (SAM) elsewhere."""
    with app.app_context():
        seed_teams(("Platform", LEAD, {"lead": True}), ("Platform", PAT), ("Payments", QUINN),
                   ("Sales", SAM),
                   # Led Sales until last week: not a lead today.
                   ("Sales", CAROL, {"lead": True,
                                     "valid_to": date.today() - timedelta(days=7)}))


def client_as(make_app, email: str, **settings: str):
    client = make_app(**settings).test_client()
    assert sign_in(client, email).status_code == 303
    return client


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.status_code
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def role_of(app, email: str) -> str:
    with app.app_context():
        return db.session.execute(select(User.role).where(User.email == email)).scalar_one()


# --- finance ---------------------------------------------------------------------------------

def test_abacus_finance_grants_finance_at_sign_in(app, make_app):
    client_as(make_app, FINANCE, ABACUS_FINANCE=f"{FINANCE},{ADMIN}")
    client_as(make_app, ADMIN, ABACUS_FINANCE=f"{FINANCE},{ADMIN}")
    client_as(make_app, ALICE, ABACUS_FINANCE=f"{FINANCE},{ADMIN}")
    assert role_of(app, FINANCE) == "finance"
    assert role_of(app, ADMIN) == "admin"  # ABACUS_ADMINS wins: an admin stays an admin
    assert role_of(app, ALICE) == "member"


def test_finance_sees_every_figure_and_export_but_no_admin_action(app, make_app):
    usage(app, {ALICE: (SONNET, "11.11"), BOB: (SONNET, "22.22")})
    finance = client_as(make_app, FINANCE, ABACUS_FINANCE=FINANCE,
                        ABACUS_MEMBER_VISIBILITY="self")
    assert '<span class="badge badge-muted">finance</span>' in finance.get("/").get_data(
        as_text=True)
    page = text_of(finance.get("/team"))
    assert "$11.11" in page and "$22.22" in page and "$33.33" in page
    assert {r["person"] for r in csv_rows(finance.get("/team.csv?days=7"))} == {ALICE, BOB}
    assert finance.get(f"/users/{BOB}").status_code == 200
    assert csv_rows(finance.get(f"/users/{BOB}/raw.csv"))[0]["cost_usd"] == "22.220000"
    seats = finance.get("/seats")
    assert seats.status_code == 200 and "Upload seats" not in text_of(seats)
    assert finance.get("/seats/idle.csv").status_code == 200
    assert "Seats" in text_of(finance.get("/"))  # in the navigation
    budgets = finance.get("/budgets").get_data(as_text=True)
    assert 'action="/budgets"' not in budgets  # no add form
    for url in ("/admin", "/admin/people", "/admin/access-log", "/admin/pricing"):
        assert finance.get(url).status_code == 403, url

    # Every admin action refuses finance, whatever its form says.
    token = csrf_token(finance.get("/").get_data(as_text=True))
    refused = []
    admin_posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods and (
        r.endpoint.startswith("admin.") or r.endpoint in (
            "status.sync_now", "status.upload", "seats.upload", "budgets.add",
            "budgets.edit", "budgets.delete"))]
    assert len(admin_posts) >= 10
    for rule in admin_posts:
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{a: 1 for a in rule.arguments})
        status = finance.post(url, data={"csrf_token": token, "role": "admin",
                                         "source": "cursor", "amount": "1"}).status_code
        if status != 403:
            refused.append((url, status))
    assert not refused
    assert role_of(app, FINANCE) == "finance"  # the role form did nothing


def test_a_role_change_counts_from_the_next_request_without_signing_in_again(app, make_app):
    usage(app, {BOB: (SONNET, "2.00")})
    admin = client_as(make_app, ADMIN)
    bob = client_as(make_app, BOB)
    assert bob.get("/seats").status_code == 403
    with app.app_context():
        bob_id = db.session.execute(select(User.id).where(User.email == BOB)).scalar_one()

    def make(role: str) -> None:
        token = csrf_token(admin.get("/admin/people").get_data(as_text=True))
        response = admin.post(f"/admin/people/{bob_id}/role",
                              data={"role": role, "csrf_token": token})
        assert response.status_code == 303

    make("finance")
    assert "is finance now" in text_of(admin.get("/admin/people"))
    assert bob.get("/seats").status_code == 200  # same session, new role
    assert bob.get("/admin").status_code == 403
    make("admin")
    assert bob.get("/admin").status_code == 200
    make("member")
    assert bob.get("/seats").status_code == 403


def test_the_only_admin_cannot_become_finance(app, make_app):
    admin = client_as(make_app, ADMIN)
    with app.app_context():
        admin_id = db.session.execute(select(User.id).where(User.email == ADMIN)).scalar_one()
    token = csrf_token(admin.get("/admin/people").get_data(as_text=True))
    response = admin.post(f"/admin/people/{admin_id}/role",
                          data={"role": "finance", "csrf_token": token})
    assert response.status_code == 409
    assert role_of(app, ADMIN) == "admin"


# --- team leads and members ------------------------------------------------------------------

def test_a_lead_sees_their_subtrees_people_and_no_one_elses(app, make_app):
    usage(app, {LEAD: (SONNET, "1.01"), PAT: (SONNET, "2.02"), QUINN: (SONNET, "3.03"),
                SAM: (SONNET, "4.04"), CAROL: (SONNET, "5.05"), ALICE: (SONNET, "6.06")})
    teams(app)
    lead = client_as(make_app, LEAD, ABACUS_MEMBER_VISIBILITY="self")
    for person in (LEAD, PAT, QUINN):  # their team, and the team below it
        assert lead.get(f"/users/{person}").status_code == 200, person
        assert lead.get(f"/users/{person}/raw.csv").status_code == 200, person
    for person in (SAM, CAROL, ALICE):
        assert lead.get(f"/users/{person}").status_code == 403, person
        assert lead.get(f"/users/{person}/raw.csv").status_code == 403, person
    assert {r["person"] for r in csv_rows(lead.get("/team.csv"))} == {LEAD, PAT, QUINN}
    page = text_of(lead.get("/team"))
    assert "$3.03" in page and "$4.04" not in page and SAM not in page
    response = lead.get("/?days=7")
    assert '<span class="badge badge-muted">lead</span>' in response.get_data(as_text=True)
    overview = text_of(response)
    assert "You and your teams' people" in overview and QUINN in overview
    assert SAM not in overview and ALICE not in overview

    # Carol's lead membership ended last week: she is a member like any other.
    carol = client_as(make_app, CAROL, ABACUS_MEMBER_VISIBILITY="self")
    assert carol.get(f"/users/{SAM}").status_code == 403
    assert {r["person"] for r in csv_rows(carol.get("/team.csv"))} == {CAROL}


def test_members_see_aggregates_but_no_one_elses_rows(app, make_app):
    people = {ALICE: "1.00", BOB: "2.00", CAROL: "3.00", PAT: "4.00", QUINN: "5.00",
              SAM: "6.00"}
    usage(app, {p: (SONNET, c) for p, c in people.items()})
    alice = client_as(make_app, ALICE, ABACUS_MEMBER_VISIBILITY="self")
    page = text_of(alice.get("/"))
    assert "Cost $21.00" in page  # the org total, over six people
    assert "$2.00" not in page and BOB not in page
    team = text_of(alice.get("/team"))
    assert "$21.00" in team and BOB not in team
    assert [r["person"] for r in csv_rows(alice.get("/team.csv"))] == [ALICE]
    assert alice.get(f"/users/{BOB}").status_code == 403
    assert csv_rows(alice.get("/usage.csv?view=tools"))[0]["cost_usd"] == "21.000000"

    # Under `all` (the default) members see everyone's rows, as before.
    everyone = client_as(make_app, ALICE)
    assert everyone.get(f"/users/{BOB}").status_code == 200
    assert len(csv_rows(everyone.get("/team.csv"))) == 6


# --- minimum group size ----------------------------------------------------------------------

HIDDEN = "hidden: fewer than 5 people"


def test_aggregates_over_fewer_than_five_people_are_hidden_from_restricted_members(
        app, make_app):
    usage(app, {ALICE: (SONNET, "10.00"), BOB: (SONNET, "20.00"), CAROL: (SONNET, "30.00")})
    alice = client_as(make_app, ALICE, ABACUS_MEMBER_VISIBILITY="self")
    for url in ("/", "/usage", "/usage?view=tools", "/team"):
        page = text_of(alice.get(url))
        assert HIDDEN in page, url
        assert "$60.00" not in page and "$50.00" not in page, url  # no total, no difference
    htmx = text_of(alice.get("/usage?view=tools", headers={"HX-Request": "true"}))
    assert HIDDEN in htmx and "$60.00" not in htmx
    assert csv_rows(alice.get("/usage.csv")) == []
    assert csv_rows(alice.get("/usage.csv?view=tools")) == []
    assert "$10.00" in text_of(alice.get(f"/users/{ALICE}"))  # her own figures stay

    # Admins, finance and members under `all` see them.
    for client in (client_as(make_app, ADMIN, ABACUS_MEMBER_VISIBILITY="self"),
                   client_as(make_app, FINANCE, ABACUS_MEMBER_VISIBILITY="self",
                             ABACUS_FINANCE=FINANCE),
                   client_as(make_app, BOB)):
        page = text_of(client.get("/usage"))
        assert "$60.00" in page and HIDDEN not in page
    # A smaller minimum shows them.
    small = client_as(make_app, ALICE, ABACUS_MEMBER_VISIBILITY="self",
                      ABACUS_MIN_GROUP_SIZE="3")
    assert "$60.00" in text_of(small.get("/usage"))


def test_a_model_few_others_use_is_hidden_while_ones_own_and_the_teams_stay(app, make_app):
    many = {f"p{n}@example.com": (SONNET, "1.00") for n in range(6)}
    usage(app, {**many, ALICE: (GEMINI, "7.77"), BOB: (GPT, "31.17"),
                PAT: ("claude-opus-4-1-20250805", "44.44"), LEAD: (SONNET, "1.00")})
    teams(app)
    alice = client_as(make_app, ALICE, ABACUS_MEMBER_VISIBILITY="self")
    page = alice.get("/usage?view=models")
    text = text_of(page)
    assert "Sonnet 4.5" in text and "$7.77" in text  # six people; her own model
    assert "$31.17" not in text and "$44.44" not in text  # one other person each
    assert text.count(HIDDEN) >= 2
    exported = {r["model_id"]: r for r in csv_rows(alice.get("/usage.csv?view=models"))}
    assert set(exported) == {"sonnet-4.5", "gemini-2.5-pro"}
    overview = text_of(alice.get("/"))
    assert "$31.17" not in overview and "$44.44" not in overview
    assert "2 models left out" in overview

    # Pat is in the lead's team: Pat's model is in the lead's scope, Bob's is not.
    lead = client_as(make_app, LEAD, ABACUS_MEMBER_VISIBILITY="self")
    text = text_of(lead.get("/usage?view=models"))
    assert "$44.44" in text and "$31.17" not in text


# --- access log ------------------------------------------------------------------------------

def test_the_access_log_records_person_pages_and_exports_for_admins_only(app, make_app):
    usage(app, {ALICE: (SONNET, "1.00"), BOB: (SONNET, "2.00")})
    alice = client_as(make_app, ALICE)
    alice.get(f"/users/{BOB}")
    alice.get(f"/users/{ALICE}")  # her own page: not logged
    alice.get(f"/users/{BOB}/raw.csv")
    alice.get("/team.csv?days=7")
    alice.get("/usage.csv?view=tools")
    with app.app_context():
        rows = [(e.viewer, e.action, e.target) for e in db.session.scalars(
            select(AccessLogEntry).order_by(AccessLogEntry.id))]
    assert rows == [(ALICE, "person_page", BOB),
                    (ALICE, "export", f"/users/{BOB}/raw.csv"),
                    (ALICE, "export", "/team.csv?days=7"),
                    (ALICE, "export", "/usage.csv?view=tools")]

    assert alice.get("/admin/access-log").status_code == 403
    finance = client_as(make_app, FINANCE, ABACUS_FINANCE=FINANCE)
    assert finance.get("/admin/access-log").status_code == 403
    admin = client_as(make_app, ADMIN)
    page = text_of(admin.get("/admin/access-log"))
    assert page.index("/usage.csv?view=tools") < page.index(f"{ALICE} person page {BOB}")
    assert "Entries 4" in page
    only_bob = text_of(admin.get("/admin/access-log?target=bob"))
    assert "Entries 2" in only_bob and "/team.csv" not in only_bob
    assert "No entries match" in text_of(admin.get("/admin/access-log?viewer=nobody"))


def test_the_access_log_pages_newest_first(app, make_app):
    from abacus.people.access_log import log_access

    with app.app_context():
        for n in range(60):
            log_access(ALICE, "api", f"/api/v1/thing/{n}")
            db.session.commit()
        with pytest.raises(ValueError, match="action must be one of"):
            log_access(ALICE, "peek", "x")
    admin = client_as(make_app, ADMIN)
    first = text_of(admin.get("/admin/access-log"))
    assert "Page 1 of 2" in first and "/api/v1/thing/59" in first
    second = text_of(admin.get("/admin/access-log?page=2"))
    assert "/api/v1/thing/0" in second and "/api/v1/thing/59" not in second


def test_old_entries_are_pruned_after_the_retention_period(ctx, configure):
    from abacus import jobs

    now = datetime.now(UTC)
    db.session.add_all([AccessLogEntry(viewer=ALICE, action="export", target="/old",
                                       at=now - timedelta(days=400)),
                        AccessLogEntry(viewer=ALICE, action="export", target="/recent",
                                       at=now - timedelta(days=10))])
    db.session.commit()
    assert jobs.prune_access_log() == {"deleted": 1, "days": 365}
    assert db.session.scalars(select(AccessLogEntry.target)).all() == ["/recent"]
    configure(access_log_days=7)
    assert jobs.prune_access_log()["deleted"] == 1
    assert db.session.scalars(select(AccessLogEntry.target)).all() == []
    schedule = {s.id: s for s in jobs.schedules(ctx.config["ABACUS"])}
    assert schedule["abacus-schedule-access-log"].func == "abacus.jobs.prune_access_log"
