"""GitHub commits end to end: signed pushes, backfill from a fake GitHub, people, CLI.

The webhook is driven through the real Flask app with deliveries signed like GitHub signs
them; the backfill talks HTTP to `tests/fakes/github.py`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from abacus import jobs
from abacus.extensions import db
from abacus.github import backfill as commit_backfill
from abacus.models import Commit, CommitAttribution, IdentityMapping, Repository, SyncRun
from tests.fakes.github import (
    # The names test_github_client.py imports too: an import list, nothing to share.
    DEFAULT_TOKEN,
    FakeGitHub,
    make_commit,
    ping_payload,
    push_payload,
    send_webhook,
)
from tests.helpers import csrf_token, sign_in

SECRET = "s3cret-webhook"
CLAUDE = "Fix pagination\n\nCo-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>"
CURSOR = "Add retry\n\nCo-authored-by: Cursor <cursoragent@cursor.com>"
HUMAN = "Refactor the pager by hand"


@pytest.fixture
def hooked(make_app):
    """An app with the webhook secret set (and no GitHub API configured)."""
    return make_app(GITHUB_WEBHOOK_SECRET=SECRET)


pytestmark = pytest.mark.http_retries(1)  # fewer retries, faster failures


def _push(app, commits, **kw):
    delivery = kw.pop("delivery", None)
    secret = kw.pop("secret", SECRET)
    return send_webhook(app.test_client(), "push", push_payload("acme/app", commits, **kw),
                        secret, delivery)


def _stored(app) -> list[Commit]:
    with app.app_context():
        rows = db.session.execute(select(Commit).order_by(Commit.committed_at)).scalars().all()
        db.session.expunge_all()
        return rows


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar()


# --- webhook -------------------------------------------------------------------------------

def test_signed_push_is_stored_with_attribution_in_utc(hooked):
    commits = [make_commit(message=CLAUDE, date="2025-10-01T10:00:00Z", login="devone",
                           author_email="dev@example.com"),
               make_commit(message=HUMAN, date="2025-10-01T11:00:00Z",
                           author_email="dev@example.com")]
    response = _push(hooked, commits, offset="+02:00")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["outcome"] == "stored"
    rows = _stored(hooked)
    assert [r.sha for r in rows] == [c["sha"] for c in commits]
    # The payload says 12:00+02:00; stored as 10:00 UTC.
    assert rows[0].committed_at == datetime(2025, 10, 1, 10, tzinfo=UTC)
    assert (rows[0].ai_tool, rows[0].ai_model) == ("claude_code", "opus-4.5")
    assert rows[1].ai_tool is None
    assert rows[0].additions is None  # pushes carry no line counts
    assert rows[0].person == "dev@example.com"
    assert rows[0].source == "webhook"
    with hooked.app_context():
        signal = db.session.execute(select(CommitAttribution.signal)).scalar_one()
        assert signal == "co_author"
        repo = db.session.execute(select(Repository)).scalar_one()
        assert (repo.full_name, repo.default_branch, repo.external_id) == (
            "acme/app", "main", 123456789)


def test_unsigned_or_forged_pushes_are_refused_and_nothing_is_stored(hooked):
    commits = [make_commit(message=CLAUDE)]
    assert _push(hooked, commits, secret=None).status_code == 401
    assert _push(hooked, commits, secret="wrong-secret").status_code == 401
    payload = push_payload("acme/app", commits)
    forged = send_webhook(hooked.test_client(), "push", payload, None,
                          signature="sha256=" + "0" * 64)
    assert forged.status_code == 401
    assert _count(hooked, Commit) == 0 and _count(hooked, Repository) == 0


def test_webhook_is_off_without_a_secret(app):
    response = send_webhook(app.test_client(), "push",
                            push_payload("acme/app", [make_commit()]), SECRET)
    assert response.status_code == 503
    assert "GITHUB_WEBHOOK_SECRET" in response.get_json()["error"]
    assert _count(app, Commit) == 0


def test_ping_and_other_events_are_answered(hooked):
    client = hooked.test_client()
    assert send_webhook(client, "ping", ping_payload(), SECRET).status_code == 200
    issues = send_webhook(client, "issues", {"action": "opened"}, SECRET)
    assert issues.status_code == 202
    assert _count(hooked, Repository) == 0


def test_other_branches_and_branch_deletions_are_ignored(hooked):
    feature = _push(hooked, [make_commit(message=CLAUDE)], ref="refs/heads/feature")
    assert feature.status_code == 200 and feature.get_json()["outcome"] == "ignored"
    deleted = _push(hooked, [], deleted=True)
    assert deleted.status_code == 200 and deleted.get_json()["outcome"] == "ignored"
    tag = _push(hooked, [make_commit()], ref="refs/tags/v1.0")
    assert tag.get_json()["outcome"] == "ignored"
    assert _count(hooked, Commit) == 0


def test_redelivery_and_the_same_commit_twice_change_nothing(hooked):
    commits = [make_commit(message=CURSOR, login="devone")]
    first = _push(hooked, commits, delivery="72d3162e-cc78-11ec-9d64-0242ac120002")
    assert first.get_json()["commits"] == 1
    before = [(r.id, r.updated_at, r.ai_tool) for r in _stored(hooked)]
    again = _push(hooked, commits, delivery="72d3162e-cc78-11ec-9d64-0242ac120002")
    assert again.status_code == 200 and again.get_json()["outcome"] == "duplicate"
    # A new delivery carrying the same commit (pushed again after a revert, say).
    other = _push(hooked, commits)
    assert other.get_json()["outcome"] == "stored" and other.get_json()["commits"] == 0
    assert [(r.id, r.updated_at, r.ai_tool) for r in _stored(hooked)] == before
    assert _count(hooked, CommitAttribution) == 1


def test_a_bad_payload_names_the_problem_and_stores_nothing(hooked):
    good = make_commit(message=CLAUDE)
    payload = push_payload("acme/app", [good, make_commit()])
    payload["commits"][1]["timestamp"] = "yesterday"
    response = send_webhook(hooked.test_client(), "push", payload, SECRET, "d-1")
    assert response.status_code == 400
    assert "commits[1].timestamp" in response.get_json()["error"]
    assert _count(hooked, Commit) == 0
    # The refused delivery's id is not remembered: a fixed redelivery goes through.
    payload["commits"][1]["timestamp"] = "2025-10-01T12:00:00+02:00"
    fixed = send_webhook(hooked.test_client(), "push", payload, SECRET, "d-1")
    assert fixed.get_json()["outcome"] == "stored"
    assert _count(hooked, Commit) == 2


def test_noreply_address_gives_the_github_id_and_login(hooked):
    commit = make_commit(message=HUMAN, author_email="4242+octo@users.noreply.github.com",
                         author_name="Octo Cat")
    _push(hooked, [commit])
    row = _stored(hooked)[0]
    assert (row.author_github_id, row.author_login, row.person) == (4242, "octo", None)


def test_a_login_seen_with_a_work_email_maps_its_noreply_commits(hooked):
    noreply = make_commit(message=HUMAN, author_email="77+dana@users.noreply.github.com",
                          date="2025-10-01T09:00:00Z")
    _push(hooked, [noreply])
    assert _stored(hooked)[0].person is None
    work = make_commit(message=HUMAN, author_email="dana@example.com", login="dana",
                       date="2025-10-02T09:00:00Z")
    _push(hooked, [work])
    assert {r.person for r in _stored(hooked)} == {"dana@example.com"}
    with hooked.app_context():
        mapping = db.session.get(IdentityMapping, ("github", "dana"))
        assert (mapping.email, mapping.assigned_by) == ("dana@example.com", "commits")


def test_outside_addresses_stay_unmapped_until_an_admin_assigns_them(hooked):
    commit = make_commit(message=HUMAN, author_email="dana@gmail.com", login="dana-x")
    _push(hooked, [commit])
    assert _stored(hooked)[0].person is None
    client = hooked.test_client()
    sign_in(client, "admin@example.com")
    page = client.get("/admin/identities")
    assert b"Unmapped commit authors" in page.data and b"dana-x" in page.data
    response = client.post("/admin/identities/assign", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "provider": "github",
        "external_id": "dana-x", "email": "dana@example.com"}, follow_redirects=True)
    assert b"1 commit re-attributed" in response.data
    assert _stored(hooked)[0].person == "dana@example.com"
    # Later commits of that login follow the assignment.
    _push(hooked, [make_commit(message=HUMAN, author_email="dana@gmail.com", login="dana-x",
                               date="2025-10-03T00:00:00Z")])
    assert {r.person for r in _stored(hooked)} == {"dana@example.com"}


def test_a_capped_push_queues_follow_up_work_when_the_api_is_configured(make_app):
    app = make_app(GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=DEFAULT_TOKEN)
    commits = [make_commit(message=HUMAN, date=f"2025-10-01T00:{i // 60:02d}:{i % 60:02d}Z")
               for i in range(2048)]
    response = _push(app, commits)
    assert response.get_json()["commits"] == 2048
    with app.app_context():
        from abacus.extensions import queue

        queued = [job for job in queue().get_jobs()
                  if job.func_name == "abacus.jobs.github_push_follow_up"]
        assert len(queued) == 1
        assert queued[0].kwargs["follow_up"] == ["stats", "overflow"]


# --- backfill and enrichment ----------------------------------------------------------------

@pytest.fixture
def github():
    with FakeGitHub() as fake:
        yield fake


def _api_app(make_app, fake, **extra):
    return make_app(GITHUB_TOKEN=DEFAULT_TOKEN, GITHUB_API_URL=fake.url,
                    GITHUB_WEBHOOK_SECRET=SECRET, **extra)


def _history(fake, full_name="acme/app", n=250, start=datetime(2025, 9, 1, tzinfo=UTC)):
    fake.add_repo(full_name)
    made = []
    for i in range(n):
        message = CLAUDE if i % 5 == 0 else CURSOR if i % 7 == 0 else HUMAN
        made.append(make_commit(message=message, date=start + timedelta(hours=6 * i),
                                login="devone", user_id=987654321,
                                author_email="dev@example.com", additions=i, deletions=1))
    fake.add_commits(full_name, *made)
    return made


def test_backfill_cli_stores_history_with_line_stats_and_skips_merges(make_app, github):
    made = _history(github, n=230)
    merge = make_commit(message="Merge pull request #12 from acme/feature", parents=2,
                        date=datetime(2025, 9, 20, tzinfo=UTC))
    github.add_commits("acme/app", merge)
    github.add_repo("acme/old", archived=True)
    app = _api_app(make_app, github)
    result = app.test_cli_runner().invoke(
        args=["abacus", "github", "backfill", "--org", "acme", "--from", "2025-08-01"])
    assert result.exit_code == 0, result.output
    assert "acme/app: complete" in result.output and "1 merges skipped" in result.output
    assert "acme/old" not in result.output  # archived repositories are skipped
    rows = _stored(app)
    assert len(rows) == len(made)
    assert merge["sha"] not in {r.sha for r in rows}
    by_sha = {r.sha: r for r in rows}
    assert by_sha[made[7]["sha"]].additions == 7 and by_sha[made[7]["sha"]].deletions == 1
    assert by_sha[made[5]["sha"]].ai_tool == "claude_code"
    assert by_sha[made[7]["sha"]].ai_tool == "cursor"
    with app.app_context():
        repo = db.session.execute(select(Repository)).scalar_one()
        assert (repo.backfill_status, repo.backfill_from) == ("complete", date(2025, 8, 1))
    # Running it again fetches no commit details and changes nothing.
    calls = len(github.requests)
    again = app.test_cli_runner().invoke(
        args=["abacus", "github", "backfill", "--repo", "acme/app", "--from", "2025-08-01"])
    assert again.exit_code == 0, again.output
    detail_calls = [r for r in github.requests[calls:] if "/commits/" in r.path]
    assert detail_calls == []
    assert [(r.sha, r.additions, r.person) for r in _stored(app)] == [
        (r.sha, r.additions, r.person) for r in rows]


def test_stats_json_counts_commits_by_tool(make_app, github):
    _history(github, n=35)
    app = _api_app(make_app, github)
    app.test_cli_runner().invoke(
        args=["abacus", "github", "backfill", "--repo", "acme/app", "--from", "2025-08-01"])
    result = app.test_cli_runner().invoke(args=["abacus", "stats", "--json"])
    commits = json.loads(result.output)["commits"]
    claude = len([i for i in range(35) if i % 5 == 0])
    cursor = len([i for i in range(35) if i % 7 == 0 and i % 5 != 0])
    assert commits["total"] == 35
    assert commits["ai_attributed"] == claude + cursor
    assert commits["by_tool"]["claude_code"] == claude
    assert commits["by_tool"]["cursor"] == cursor
    assert commits["by_tool"]["github_copilot"] == 0 and commits["by_tool"]["codex"] == 0


def test_rate_limit_parks_the_repository_and_never_marks_it_complete(make_app, github):
    _history(github, n=120)
    github.add_repo("acme/web")
    app = _api_app(make_app, github)
    github.primary_rate_limit(reset_in=1800, path="/repos/acme/app")
    result = app.test_cli_runner().invoke(
        args=["abacus", "github", "backfill", "--org", "acme", "--from", "2025-08-01"])
    assert result.exit_code == 1
    assert "rate limit" in result.output.lower()
    with app.app_context():
        repo = db.session.execute(select(Repository).where(
            Repository.full_name == "acme/app")).scalar_one()
        assert repo.backfill_status == "pending"
        assert repo.parked_until > datetime.now(UTC) + timedelta(minutes=25)
        # The run stopped there: the other repository was not touched either.
        assert db.session.execute(select(Repository).where(
            Repository.full_name == "acme/web")).scalar_one_or_none() is None
        run = db.session.execute(select(SyncRun)).scalar_one()
        assert run.status == "failed" and "rate limited" in run.error
    # Later the limit is gone: the same command completes it.
    result = app.test_cli_runner().invoke(
        args=["abacus", "github", "backfill", "--org", "acme", "--from", "2025-08-01"])
    assert result.exit_code == 0, result.output
    assert len(_stored(app)) == 120


def test_a_failing_repository_is_marked_failed_not_complete(make_app, github):
    _history(github, n=3)
    app = _api_app(make_app, github)
    result = app.test_cli_runner().invoke(
        args=["abacus", "github", "backfill", "--repo", "acme/app", "--repo", "acme/gone",
              "--from", "2025-08-01"])
    assert result.exit_code == 1
    assert "acme/gone: failed" in result.output and "not found" in result.output
    with app.app_context():
        states = dict(db.session.execute(
            select(Repository.full_name, Repository.backfill_status)).all())
        assert states == {"acme/app": "complete", "acme/gone": "failed"}


def test_enrichment_fills_line_stats_of_pushed_commits_and_drops_merges(make_app, github):
    github.add_repo("acme/app")
    normal = make_commit(message=CLAUDE, additions=40, deletions=3)
    merge = make_commit(message="Merge branch 'x'", parents=2)
    github.add_commits("acme/app", normal, merge)
    app = _api_app(make_app, github)
    _push(app, [normal, merge])
    assert {r.additions for r in _stored(app)} == {None}
    with app.app_context():
        done = commit_backfill.fill_stats(commit_backfill.client(app.config["ABACUS"]))
    assert done == {"filled": 1, "merges_dropped": 1, "missing": 0}
    rows = _stored(app)
    assert [(r.sha, r.additions, r.deletions) for r in rows] == [(normal["sha"], 40, 3)]


def test_scheduled_job_catches_a_missed_push_and_backfills_configured_repos(make_app, github):
    _history(github, n=10, start=datetime.now(UTC) - timedelta(days=5))
    app = _api_app(make_app, github, GITHUB_REPOS="acme/app", GITHUB_BACKFILL_DAYS="30")
    with app.app_context():
        report = jobs.github_scheduled()
    assert report["backfill"]["repositories"][0]["status"] == "complete"
    assert len(_stored(app)) == 10
    # A push the webhook never delivered shows up on the next run.
    missed = make_commit(message=CURSOR, date=datetime.now(UTC) - timedelta(minutes=5))
    github.add_commits("acme/app", missed)
    with app.app_context():
        report = jobs.github_scheduled()
    assert "backfill" not in report
    assert missed["sha"] in {r.sha for r in _stored(app)}


def test_schedule_exists_only_with_api_access(app, make_app, github):
    assert "abacus-schedule-github" not in {s.id for s in jobs.schedules(app.config["ABACUS"])}
    configured = _api_app(make_app, github)
    assert "abacus-schedule-github" in {
        s.id for s in jobs.schedules(configured.config["ABACUS"])}


def test_github_status_cli(make_app, github):
    _history(github, n=4)
    app = _api_app(make_app, github)
    runner = app.test_cli_runner()
    runner.invoke(args=["abacus", "github", "backfill", "--repo", "acme/app",
                        "--from", "2025-08-01"])
    result = runner.invoke(args=["abacus", "github", "status"])
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if x.startswith("acme/app"))
    assert "complete" in line and "2025-08-01" in line and " 4 " in line
    assert "webhook: on" in result.output and "API: configured" in result.output
    assert DEFAULT_TOKEN not in result.output


def test_backfill_cli_explains_missing_configuration(app):
    result = app.test_cli_runner().invoke(
        args=["abacus", "github", "backfill", "--org", "acme", "--from", "2025-08-01"])
    assert result.exit_code != 0 and "GITHUB_TOKEN" in result.output
    bad = app.test_cli_runner().invoke(
        args=["abacus", "github", "backfill", "--repo", "acme", "--from", "2025-08-01"])
    assert bad.exit_code != 0 and "owner/name" in bad.output


def test_a_truncated_push_gets_the_rest_of_its_commits_from_the_api(make_app, github,
                                                                      monkeypatch):
    from abacus.github import webhook as commit_webhook

    monkeypatch.setattr(commit_webhook, "PAYLOAD_COMMIT_CAP", 5)  # GitHub's is 2048
    github.add_repo("acme/app")
    base = make_commit(message=HUMAN, date="2025-10-01T00:00:00Z")
    pushed = [make_commit(message=CLAUDE if i % 2 else HUMAN, additions=i + 1,
                          date=f"2025-10-02T0{i}:00:00Z") for i in range(8)]
    github.add_commits("acme/app", base, *pushed)
    app = _api_app(make_app, github)
    # GitHub lists only the first commits of a big push in the payload.
    response = _push(app, pushed[:5], before=base["sha"])
    assert response.get_json()["commits"] == 5
    with app.app_context():
        from abacus.extensions import queue

        job = next(j for j in queue().get_jobs()
                   if j.func_name == "abacus.jobs.github_push_follow_up")
        result = jobs.github_push_follow_up(**job.kwargs)
    assert result["overflow"]["status"] == "complete"
    rows = _stored(app)
    assert {r.sha for r in rows} == {c["sha"] for c in pushed}  # not the commit before it
    assert all(r.additions is not None for r in rows)


def test_cron_endpoint_refuses_github_when_it_is_not_configured(make_app):
    app = make_app(CRON_SECRET="cron-token")
    response = app.test_client().post("/cron/sync/github",
                                      headers={"Authorization": "Bearer cron-token"})
    assert response.status_code == 409
    assert "GITHUB_TOKEN" in response.get_json()["error"]
    with app.app_context():
        from abacus.extensions import queue

        assert queue().count == 0  # nothing queued that could only fail


def test_cron_endpoint_queues_the_github_job(make_app):
    app = make_app(CRON_SECRET="cron-token", GITHUB_TOKEN="ghp_test")
    response = app.test_client().post("/cron/sync/github",
                                      headers={"Authorization": "Bearer cron-token"})
    assert response.status_code == 202 and response.get_json() == {"queued": ["github"]}
    with app.app_context():
        from abacus.extensions import queue

        assert [j.func_name for j in queue().get_jobs()] == ["abacus.jobs.github_scheduled"]


def test_status_page_shows_webhook_api_and_repository_state(make_app, github):
    _history(github, n=6)
    app = _api_app(make_app, github)
    runner = app.test_cli_runner()
    runner.invoke(args=["abacus", "github", "backfill", "--repo", "acme/app", "--repo",
                        "acme/gone", "--from", "2025-08-01"])
    _push(app, [make_commit(message=CLAUDE)])
    client = app.test_client()
    sign_in(client, "admin@example.com")
    page = client.get("/status").get_data(as_text=True)
    section = page[page.index('id="github"'):]
    section = section[:section.index("</section>")]
    assert "acme/app" in section and "complete" in section
    assert "acme/gone" in section and "not found" in section  # its error, for the admin
    assert "Without line stats" in section
    assert "1 in 24 h" in section
    assert DEFAULT_TOKEN not in page and SECRET not in page
    # An admin's "Sync now" queues the same job the schedule runs.
    response = client.post("/admin/sync", data={
        "csrf_token": csrf_token(page), "source": "github", "kind": "sync"},
        headers={"HX-Request": "true"})
    assert response.status_code == 202
    with app.app_context():
        from abacus.extensions import queue

        assert "abacus.jobs.github_scheduled" in [j.func_name for j in queue().get_jobs()]
