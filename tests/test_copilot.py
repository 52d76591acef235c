"""GitHub Copilot end to end: the fake Copilot API over real HTTP (reports on a second origin
with expiring signed links, billing, seats, user-teams), synced through the `flask abacus`
commands into real PostgreSQL, checked as a user would see it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abacus.extensions import db
from abacus.models import (
    Account,
    AccountSnapshot,
    ChangeLog,
    IdentityMapping,
    Seat,
    SeatHistory,
    TeamMember,
    UsageDaily,
    UsageEvent,
)
from tests.fakes.copilot import (
    FINE_GRAINED_TOKEN,
    FakeCopilot,
    credit_item,
    seat,
    team_line,
    user_line,
)
from tests.fakes.github import DEFAULT_TOKEN
from tests.helpers import invoke, sign_in

TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=6), TODAY - timedelta(days=5)


pytestmark = pytest.mark.http_retries(1)  # fewer retries, faster failures


@pytest.fixture
def fake():
    with FakeCopilot(org="acme") as server:
        yield server


def seed(fake: FakeCopilot) -> None:
    """Two days, three people (one row from before ai_credits_used existed), billing with an
    org-level Spark charge nobody's filter returns, two teams, 120 seats."""
    fake.users[D1] = [
        user_line(D1, "Octocat", 583231, interactions=21, generations=64, acceptances=23,
                  loc_added=188, credits="1250.5", cli_tokens=(36100, 3500), used_cli=True),
        user_line(D1, "hubot", 2, interactions=4, generations=10, acceptances=5, loc_added=30,
                  credits="300", ide="jetbrains", model="gpt-5.1"),
        user_line(D1, "monalisa", 3, credits=None, extra={"new_field_2027": {"x": 1}}),
    ]
    fake.users[D2] = [user_line(D2, "octocat", 583231, credits="400.25")]
    # D1: octocat 1250.5 credits, 250.5 of them over the pool (billed); hubot 300, inside the
    # pool; Spark 100 credits billed to the organization without a user.
    fake.billing[(D1, "octocat")] = [
        credit_item("Claude Sonnet 4.6", "1000", net_credits="250.5"),
        credit_item("Auto: Claude Haiku 4.5", "250.5", discount_credits="260.25")]
    fake.billing[(D1, "hubot")] = [credit_item("GPT-5.1", "300", sku="copilot_ai_credit")]
    fake.billing[(D1, None)] = [
        credit_item("Claude Sonnet 4.6", "1000", net_credits="250.5"),
        credit_item("Auto: Claude Haiku 4.5", "250.5", discount_credits="260.25"),
        credit_item("GPT-5.1", "300"),
        credit_item("Spark model", "100", net_credits="100", product="Spark",
                    sku="spark_ai_credit")]
    fake.billing[(D2, "octocat")] = [credit_item("Claude Sonnet 4.6", "400.25")]
    fake.billing[(D2, None)] = [credit_item("Claude Sonnet 4.6", "400.25")]
    fake.teams[D1] = [team_line(D1, "octocat", 583231, 4412, "platform"),
                      team_line(D1, "octocat", 583231, 4413, "web"),
                      team_line(D1, "hubot", 2, 4413, "web")]
    fake.seats = [seat(f"user{i:03d}", 1000 + i) for i in range(118)] + [
        seat("octocat", 583231, plan="enterprise"),
        seat("hubot", 2, last_activity=None, editor=None, pending_cancellation="2026-12-31")]


def add_account(runner, fake: FakeCopilot, tmp_path, token: str = DEFAULT_TOKEN,
                *scope: str) -> None:
    key = tmp_path / "token"
    key.write_text(token + "\n")
    result = invoke(runner, "accounts", "add", "copilot", "--name", "gh",
                    *(scope or ("--org", "acme")), "--key-file", str(key), "--base-url",
                    fake.url)
    assert result.exit_code == 0, result.output
    assert "added copilot account 'gh'" in result.output


def sync(runner, first=D1, last=D2):
    return invoke(runner, "sync", "copilot", "--from", first.isoformat(), "--to",
                  last.isoformat())


def events() -> dict[str, UsageEvent]:
    return {e.event_key: e for e in db.session.execute(select(UsageEvent)).scalars()}


def test_sync_lands_exact_credits_usage_value_and_billed_totals(ctx, runner, fake, tmp_path):
    seed(fake)
    add_account(runner, fake, tmp_path)
    result = sync(runner)
    assert result.exit_code == 0, result.output
    assert "5 new" in result.output

    by_key = events()
    octo = by_key[f"{D1}|user:583231"]
    assert octo.tool == "copilot" and octo.actor == "octocat" and octo.model == "copilot"
    assert octo.cost_usd == Decimal("12.505000")  # 1250.5 credits gross
    assert octo.extras["billed_usd"] == "2.505000"  # 250.5 credits over the pool
    assert octo.extras["cost_basis"] == "billing"
    assert octo.extras["ai_credits_used"] == "1250.5"
    assert (octo.input_tokens, octo.output_tokens) == (36100, 3500)  # Copilot CLI tokens
    assert octo.extras["code_acceptance_activity_count"] == 23
    assert octo.extras["loc_added_sum"] == 188
    assert set(octo.extras["features"]) == {"code_completion", "chat_panel_agent_mode"}
    assert octo.extras["ides"]["vscode"]["code_generation_activity_count"] == 64
    assert octo.extras["used_cli"] is True
    assert octo.extras["adoption_phase"]["phase"] == "Phase 2"
    assert [m["model"] for m in octo.extras["by_model"]] == ["Claude Sonnet 4.6",
                                                             "Auto: Claude Haiku 4.5"]
    # A row from before ai_credits_used: credits unknown, nothing billed to them.
    mona = by_key[f"{D1}|user:3"]
    assert "ai_credits_used" not in mona.extras and mona.cost_usd == 0
    assert mona.extras["other"] == {"new_field_2027": {"x": 1}}  # unknown fields kept
    # The organization's Spark charge has no user: kept under the organization.
    org = by_key[f"{D1}|org:acme"]
    assert (org.actor, org.kind, org.cost_usd, org.extras["billed_usd"]) == (
        "org:acme", "org_spend", Decimal("1.000000"), "1.000000")

    total = db.session.execute(select(func.sum(UsageDaily.cost_usd))).scalar()
    assert total == Decimal("12.505") + Decimal("3") + Decimal("1") + Decimal("4.0025")

    stats = json.loads(invoke(runner, "stats", "--json").output)["tools"]["copilot"]
    assert stats == {"events": 5, "input_tokens": 36100, "output_tokens": 3500,
                     "cache_write_tokens": 0, "cache_read_tokens": 0,
                     "cost_usd": "20.51", "billed_usd": "3.50",  # 3.505, as cost_usd rounds
                     "unpriced_events": 0, "not_charged_events": 0}

    again = sync(runner)
    assert again.exit_code == 0, again.output
    assert "0 new, 0 updated, 5 unchanged" in again.output
    assert db.session.execute(select(func.count()).select_from(ChangeLog)).scalar() == 0


def test_seats_history_and_user_teams_are_stored(ctx, runner, fake, tmp_path):
    seed(fake)
    add_account(runner, fake, tmp_path)
    assert sync(runner).exit_code == 0
    seats = {s.login: s for s in db.session.execute(select(Seat)).scalars()}
    assert len(seats) == 120  # two pages of 100, the second by its Link
    assert [r.arg("page") for r in fake.requests_to("/orgs/acme/copilot/billing/seats")] == [
        None, "2"]
    assert seats["octocat"].plan == "enterprise"
    assert seats["hubot"].last_activity_at is None
    assert seats["hubot"].pending_cancellation_date.isoformat() == "2026-12-31"
    assert seats["user000"].last_activity_editor == "vscode/1.104.0/copilot/1.300.0"

    fake.seats = [s for s in fake.seats if s["assignee"]["login"] != "hubot"]
    assert sync(runner).exit_code == 0
    assert "hubot" not in {s.login for s in db.session.execute(select(Seat)).scalars()}
    history = db.session.execute(select(SeatHistory.day, func.count())
                                 .group_by(SeatHistory.day)).all()
    assert history == [(TODAY, 119)]  # today's list is the last one read today

    teams = db.session.execute(select(TeamMember.login, TeamMember.slug, TeamMember.day)
                               .order_by(TeamMember.login, TeamMember.slug)).all()
    assert teams == [("hubot", "web", D1), ("octocat", "platform", D1), ("octocat", "web", D1)]
    fake.teams[D1] = fake.teams[D1][:1]  # hubot left "web", octocat too
    assert sync(runner).exit_code == 0
    assert db.session.execute(select(func.count()).select_from(TeamMember)).scalar() == 1


def test_a_revised_day_updates_with_a_change_log_row(ctx, runner, fake, tmp_path):
    seed(fake)
    add_account(runner, fake, tmp_path)
    assert sync(runner).exit_code == 0
    fake.users[D2] = [user_line(D2, "octocat", 583231, credits="410.25", acceptances=12)]
    fake.billing[(D2, "octocat")] = [credit_item("Claude Sonnet 4.6", "410.25")]
    fake.billing[(D2, None)] = [credit_item("Claude Sonnet 4.6", "410.25")]
    result = sync(runner)
    assert "0 new, 1 updated, 4 unchanged" in result.output
    event = events()[f"{D2}|user:583231"]
    assert event.cost_usd == Decimal("4.102500")
    changes = {c.field: c for c in db.session.execute(
        select(ChangeLog).where(ChangeLog.event_id == event.id)).scalars()}
    assert set(changes) == {"cost_usd", "extras"}
    assert (changes["cost_usd"].old_value, changes["cost_usd"].new_value) == ("4.002500",
                                                                              "4.102500")


def test_an_expired_download_link_is_recovered_and_gets_no_token(ctx, runner, fake, tmp_path):
    seed(fake)
    add_account(runner, fake, tmp_path)
    fake.expire_links(2)  # the first report's two parts arrive already expired
    result = sync(runner)
    assert result.exit_code == 0, result.output
    assert len(events()) == 5
    refused = [r for r in fake.files.requests if r.query.get("exp")
               and int(r.query["exp"][0]) < datetime.now(UTC).timestamp()]
    assert refused  # the expired links were tried, then fresh ones asked for
    assert not any("authorization" in r.headers for r in fake.files.requests)


def test_links_that_keep_expiring_fail_the_run_with_a_clear_message(ctx, runner, fake,
                                                                    tmp_path):
    seed(fake)
    add_account(runner, fake, tmp_path)
    fake.link_ttl = -5
    result = sync(runner)
    assert result.exit_code == 1
    assert "download links expired 3 times in a row" in result.output
    assert fake.files.url not in result.output and "sig=" not in result.output


def test_without_billing_access_cost_is_credits_and_the_account_says_why(ctx, runner, fake,
                                                                          tmp_path, client):
    seed(fake)
    add_account(runner, fake, tmp_path, FINE_GRAINED_TOKEN)
    result = sync(runner)
    assert result.exit_code == 0, result.output
    by_key = events()
    octo = by_key[f"{D1}|user:583231"]
    assert octo.cost_usd == Decimal("12.505000") and octo.extras["cost_basis"] == "ai_credits"
    assert "billed_usd" not in octo.extras
    assert by_key[f"{D1}|user:3"].cost_source == "unpriced"  # credits unknown: not $0
    assert f"{D1}|org:acme" not in by_key
    status = json.loads(invoke(runner, "status", "--json").output)["accounts"][0]
    assert status["status"] == "active"
    assert "billing needs a classic token with manage_billing:copilot" in \
        status["details"]["billing"]["warning"]
    assert "billed_usd" not in json.loads(invoke(runner, "stats", "--json").output)[
        "tools"]["copilot"]
    sign_in(client, "admin@example.com")
    assert "billing needs a classic token with manage_billing:copilot" in client.get(
        "/status").get_data(as_text=True)


def test_an_enterprise_owned_org_says_to_use_the_enterprise(ctx, runner, fake, tmp_path):
    seed(fake)
    fake.enterprise_owned = True
    add_account(runner, fake, tmp_path)
    assert sync(runner).exit_code == 0
    snap = db.session.get(AccountSnapshot, (db.session.execute(select(Account.id)).scalar(),
                                            "billing", ""))
    assert "add the account with --enterprise SLUG" in snap.data["warning"]


def test_an_enterprise_account_reads_the_enterprise_endpoints(ctx, runner, tmp_path):
    with FakeCopilot(org=None, enterprise="bigcorp") as fake:
        seed(fake)
        add_account(runner, fake, tmp_path, DEFAULT_TOKEN, "--enterprise", "bigcorp")
        result = sync(runner)
        assert result.exit_code == 0, result.output
        assert events()[f"{D1}|enterprise:bigcorp"].cost_usd == Decimal("1.000000")
        assert fake.requests_to("/enterprises/bigcorp/copilot/metrics/reports/users-1-day")


def test_metrics_disabled_shows_how_to_turn_them_on(ctx, runner, fake, tmp_path, client):
    fake.metrics_disabled = True
    add_account(runner, fake, tmp_path)
    result = sync(runner)
    assert result.exit_code == 1
    account = db.session.execute(select(Account)).scalar()
    assert account.status == "error"
    assert account.last_error.startswith("Copilot metrics are disabled for this organization")
    assert "Copilot usage metrics" in account.last_error
    sign_in(client, "admin@example.com")
    page = client.get("/status").get_data(as_text=True)
    assert "Copilot metrics are disabled for this organization" in page


def test_a_token_that_may_not_read_metrics_parks_the_account(ctx, runner, fake, tmp_path):
    add_account(runner, fake, tmp_path)
    fake.deny(times=10, path="/orgs/acme/copilot/metrics/reports/users-1-day")
    result = sync(runner)
    assert result.exit_code == 1
    account = db.session.execute(select(Account)).scalar()
    assert account.status == "auth_expired"
    assert "read:org or manage_billing:copilot" in account.last_error


def test_rate_limit_with_retry_after_is_waited_out(ctx, runner, fake, tmp_path):
    seed(fake)
    add_account(runner, fake, tmp_path)
    fake.too_many_requests(retry_after=0, path="/orgs/acme/copilot/metrics/reports/users-1-day")
    result = sync(runner)
    assert result.exit_code == 0, result.output
    assert len(events()) == 5


def test_logins_map_to_people_through_the_github_mappings(ctx, runner, fake, tmp_path):
    seed(fake)
    db.session.add(IdentityMapping(source="github", external_id="octocat",
                                   email="octo@example.com", assigned_by="learned"))
    db.session.commit()
    add_account(runner, fake, tmp_path)
    assert sync(runner).exit_code == 0
    assert {e.actor: e.email for e in events().values()}["octocat"] == "octo@example.com"
    result = invoke(runner, "mappings", "assign", "hubot", "hu@example.com", "--source",
                    "copilot")
    assert result.exit_code == 0, result.output
    assert db.session.get(IdentityMapping, ("github", "hubot")).email == "hu@example.com"
    assert db.session.get(IdentityMapping, ("copilot", "hubot")) is None
    assert {e.actor: e.email for e in events().values()}["hubot"] == "hu@example.com"
    people = {r.email for r in db.session.execute(select(UsageDaily)).scalars()}
    assert {"octo@example.com", "hu@example.com"} <= people


def test_backfill_walks_back_and_gaps_show_missing_days(ctx, runner, fake, tmp_path):
    seed(fake)
    add_account(runner, fake, tmp_path)
    result = invoke(runner, "backfill", "copilot", "--from", (D1 - timedelta(days=2)).isoformat())
    assert result.exit_code == 0, result.output
    assert len(events()) == 5
    days = {r.query["day"][0] for r in fake.requests_to(
        "/orgs/acme/copilot/metrics/reports/users-1-day")}
    assert (D1 - timedelta(days=2)).isoformat() in days and TODAY.isoformat() not in days
    gaps = invoke(runner, "gaps", "copilot").output
    assert f"{D1 - timedelta(days=2)} .. {D1 - timedelta(days=1)} (2 day(s)" in gaps


def test_backfill_never_asks_before_the_reports_begin(ctx, runner, fake, tmp_path, monkeypatch):
    from abacus.providers.copilot import CopilotProvider

    add_account(runner, fake, tmp_path)
    oldest = TODAY - timedelta(days=3)  # as if the year-back limit were three days ago
    monkeypatch.setattr(CopilotProvider, "history_floor", lambda self, now: oldest)
    result = invoke(runner, "backfill", "copilot", "--from", "2025-01-01")
    assert result.exit_code == 0, result.output
    days = sorted(r.query["day"][0] for r in fake.requests_to(
        "/orgs/acme/copilot/metrics/reports/users-1-day"))
    assert days and days[0] == oldest.isoformat()


def test_env_bootstrap_adds_and_syncs_copilot_accounts(app, make_app, fake):
    other = make_app(COPILOT_ACCOUNTS=f"gh-env=org:acme:{DEFAULT_TOKEN}",
                     COPILOT_BASE_URL=fake.url)
    seed(fake)
    runner = other.test_cli_runner()
    with other.app_context():
        listed = runner.invoke(args=["abacus", "accounts", "list"])
        assert "copilot" in listed.output and "gh-env" in listed.output
        account = db.session.execute(select(Account)).scalar()
        assert account.settings == {"source": "env", "org": "acme"}
        result = runner.invoke(args=["abacus", "sync", "copilot", "--account", "gh-env",
                                     "--from", D1.isoformat(), "--to", D2.isoformat()])
        assert result.exit_code == 0, result.output
        assert "5 new" in result.output
        assert DEFAULT_TOKEN not in listed.output + result.output


@pytest.mark.parametrize(("value", "message"), [
    ("gh=team:acme:tok", "expected name=org:ORG:TOKEN"),
    ("gh=org:acme", "has no token"),
    ("gh=org:bad/slug:tok", "is not a GitHub org name"),
])
def test_bad_copilot_accounts_name_the_entry_without_the_token(value, message):
    from abacus.config import ConfigError, parse_copilot_accounts

    with pytest.raises(ConfigError) as err:
        parse_copilot_accounts("COPILOT_ACCOUNTS", value)
    assert message in str(err.value) and "entry 1" in str(err.value)
    assert "tok" not in str(err.value).replace("token", "")


def test_accounts_add_copilot_needs_one_org_or_enterprise(ctx, runner, fake, tmp_path):
    key = tmp_path / "token"
    key.write_text(DEFAULT_TOKEN)
    neither = invoke(runner, "accounts", "add", "copilot", "--name", "gh", "--key-file",
                     str(key))
    assert neither.exit_code != 0 and "--org ORG or --enterprise SLUG" in neither.output
    both = invoke(runner, "accounts", "add", "copilot", "--name", "gh", "--org", "a",
                  "--enterprise", "b", "--key-file", str(key))
    assert both.exit_code != 0
    assert db.session.execute(select(func.count()).select_from(Account)).scalar() == 0



def _synced_pages(runner, fake, tmp_path, client):
    seed(fake)
    add_account(runner, fake, tmp_path)
    assert sync(runner).exit_code == 0
    invoke(runner, "mappings", "assign", "octocat", "octo@example.com", "--source", "copilot")
    sign_in(client, "admin@example.com")
    return f"start={D1}&end={D2}"


def test_pages_show_copilot_with_its_cost_figure(ctx, runner, fake, tmp_path, client):
    rng = _synced_pages(runner, fake, tmp_path, client)
    overview = client.get(f"/?{rng}").get_data(as_text=True)
    assert "GitHub Copilot" in overview and "usage value" in overview
    assert "$20.51" in overview  # the Copilot total: 12.505 + 3 + 1 + 4.0025, half-up

    person = client.get(f"/users/octo@example.com?{rng}").get_data(as_text=True)
    assert "GitHub Copilot activity" in person
    assert ">32%<" in person  # 23 + 10 accepted of 64 + 40 generated
    assert ">288<" in person  # lines added over both days
    for text in ("code_completion", "chat_panel_agent_mode", "vscode", "1,650.75",
                 "billed $2.51 after included credits"):
        assert text in person, text

    page = client.get(f"/usage?{rng}").get_data(as_text=True)
    section = page[page.index('id="copilot"'):]
    assert "Active Copilot users per day" in section
    for text in ("claude-4.5-sonnet", "gpt-5.1", "jetbrains", "code_completion",
                 "organization-level spend without a person: $1.00"):
        assert text in section, text
    days = section[section.index('class="copilot-days"'):]
    assert days.index(D2.strftime("%-d")) < days.index(D1.strftime("%-d"))


def test_credit_figures_say_when_billing_is_not_available(ctx, runner, fake, tmp_path,
                                                          client):
    seed(fake)
    add_account(runner, fake, tmp_path, FINE_GRAINED_TOKEN)
    assert sync(runner).exit_code == 0
    sign_in(client, "admin@example.com")
    page = client.get(f"/usage?start={D1}&end={D2}").get_data(as_text=True)
    assert "usage value = AI credits × $0.01" in page
    assert "billed: not available (no billing access)" in page
