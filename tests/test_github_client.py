"""GitHub REST client against the fake GitHub over real HTTP (no database)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, request

from abacus.providers.base import AuthExpired, ProviderError, RateLimited
from abacus.providers.github import (
    Commit,
    GitHubClient,
    GitHubCredentials,
    NotFound,
    Person,
    Repo,
)
from abacus.providers.http import HttpSettings
from tests.fakes.github import (
    DEFAULT_TOKEN,
    FakeGitHub,
    make_commit,
    ping_payload,
    push_payload,
    send_webhook,
    sign,
)
from tests.fakes.server import FakeServer, Reply

TOKEN = DEFAULT_TOKEN
REPO = "acme/app"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as server:
        yield server


def pat_client(fake: FakeGitHub, token: str = TOKEN) -> GitHubClient:
    return GitHubClient(GitHubCredentials(token=token), api_url=fake.url)


def app_credentials(fake: FakeGitHub, **overrides: str | None) -> GitHubCredentials:
    values: dict[str, str | None] = {"app_id": fake.app_id,
                                     "app_private_key": fake.private_key_pem,
                                     "app_installation_id": fake.installation_id}
    values.update(overrides)
    return GitHubCredentials(**values)


def app_client(fake: FakeGitHub, **overrides: str | None) -> GitHubClient:
    return GitHubClient(app_credentials(fake, **overrides), api_url=fake.url)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 10, day, hour, tzinfo=UTC)


def repo_path(full_name: str = REPO) -> str:
    return f"/repos/{full_name}"


# --- repositories --------------------------------------------------------------------------

def test_repo_gives_default_branch_and_flags_with_github_headers(fake):
    fake.add_repo(REPO, default_branch="trunk", archived=True, private=False, id=42)

    repo = pat_client(fake).repo(REPO)

    assert repo == Repo(full_name=REPO, id=42, default_branch="trunk", archived=True,
                        private=False, html_url="https://github.com/acme/app")
    sent = fake.requests_to(repo_path())[0].headers
    assert sent["authorization"] == f"Bearer {TOKEN}"
    assert sent["accept"] == "application/vnd.github+json"
    assert sent["x-github-api-version"] == "2022-11-28"


def test_org_repos_follows_link_pages_and_keeps_archived(fake):
    for i in range(230):
        fake.add_repo(f"acme/r{i:03}", archived=(i % 10 == 0))
    fake.add_repo("other/elsewhere")

    repos = list(pat_client(fake).org_repos("acme"))

    assert sorted(r.full_name for r in repos) == [f"acme/r{i:03}" for i in range(230)]
    assert sum(r.archived for r in repos) == 23  # the caller decides to skip them
    paths = [r.path for r in fake.requests]
    assert paths[0] == "/orgs/acme/repos" and len(paths) == 3
    # Pages 2 and 3 come from GitHub's next links, which name the org by id.
    assert all(p.startswith("/organizations/") for p in paths[1:])
    assert [r.arg("page") for r in fake.requests] == [None, "2", "3"]


def test_unknown_org_is_not_found(fake):
    with pytest.raises(NotFound, match="GitHub organization nobody not found"):
        list(pat_client(fake).org_repos("nobody"))


# --- commit lists --------------------------------------------------------------------------

def test_250_commits_come_in_three_pages_via_next_links(fake):
    repo = fake.add_repo(REPO)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    made = fake.add_commits(REPO, *(make_commit(date=start + timedelta(hours=i))
                                    for i in range(250)))

    commits = list(pat_client(fake).list_commits(REPO, "main"))

    assert [c.sha for c in commits] == [c["sha"] for c in reversed(made)]  # newest first
    assert all(c.additions is None and c.deletions is None for c in commits)  # no stats
    sent = fake.requests
    assert len(sent) == 3
    assert sent[0].path == "/repos/acme/app/commits"
    assert sent[0].arg("per_page") == "100" and sent[0].arg("sha") == "main"
    assert [r.path for r in sent[1:]] == [f"/repositories/{repo.id}/commits"] * 2
    assert [r.arg("page") for r in sent[1:]] == ["2", "3"]
    assert all(r.arg("sha") == "main" for r in sent[1:])  # the link carries every parameter


def test_short_pages_do_not_end_the_listing(fake):
    # GitHub may return fewer items than per_page while more pages follow: only Link counts.
    fake.per_page_max = 40
    fake.add_repo(REPO)
    fake.add_commits(REPO, *(make_commit(date=at(1) + timedelta(minutes=i))
                             for i in range(100)))

    commits = list(pat_client(fake).list_commits(REPO, "main"))

    assert len(commits) == 100 and len({c.sha for c in commits}) == 100
    assert len(fake.requests) == 3


def test_since_and_until_filter_and_are_sent_in_utc(fake):
    fake.add_repo(REPO)
    for day in range(1, 8):
        fake.add_commits(REPO, make_commit(sha=f"{day:040x}", date=at(day)))
    plus_two = timezone(timedelta(hours=2))

    commits = list(pat_client(fake).list_commits(
        REPO, "main", since=datetime(2025, 10, 3, 0, 0, tzinfo=plus_two),  # Oct 2, 22:00 UTC
        until=at(5, 13)))

    assert [c.sha for c in commits] == [f"{d:040x}" for d in (5, 4, 3)]
    sent = fake.requests_to("/repos/acme/app/commits")[0]
    assert sent.arg("since") == "2025-10-02T22:00:00Z"
    assert sent.arg("until") == "2025-10-05T13:00:00Z"


def test_only_the_named_branch_is_listed(fake):
    fake.add_repo(REPO)
    main = fake.add_commits(REPO, make_commit(date=at(1)))
    fake.add_commits(REPO, make_commit(date=at(2)), branch="feature")

    assert [c.sha for c in pat_client(fake).list_commits(REPO, "main")] == [main[0]["sha"]]


def test_empty_repository_yields_nothing(fake):
    fake.add_repo(REPO)

    assert list(pat_client(fake).list_commits(REPO, "main")) == []
    assert len(fake.requests) == 1


def test_commit_fields_author_linking_and_merge_parents(fake):
    fake.add_repo(REPO)
    linked = make_commit(message="Fix pagination\n\nCo-Authored-By: Claude <noreply@anthropic.com>",
                         author_name="Dev One", author_email="dev@example.com", login="devone",
                         user_id=4242, date="2025-10-01T16:00:49Z")
    unlinked = make_commit(author_name="Laptop", author_email="me@laptop.local",
                           date="2025-10-02T08:00:00Z", committer_name="GitHub",
                           committer_email="noreply@github.com", committer_login="web-flow",
                           committer_id=19864447)
    merge = make_commit(message="Merge pull request #7", date="2025-10-03T09:00:00Z",
                        parents=2)
    fake.add_commits(REPO, linked, unlinked, merge)

    by_sha = {c.sha: c for c in pat_client(fake).list_commits(REPO, "main")}

    first = by_sha[linked["sha"]]
    assert first.message.endswith("Co-Authored-By: Claude <noreply@anthropic.com>")
    assert first.authored_at == datetime(2025, 10, 1, 16, 0, 49, tzinfo=UTC)
    assert first.authored_at.utcoffset() == timedelta(0)
    assert first.author == Person("Dev One", "dev@example.com", "devone", 4242)
    assert first.parents == 1
    assert first.html_url == f"https://github.com/{REPO}/commit/{linked['sha']}"
    second = by_sha[unlinked["sha"]]
    assert second.author == Person("Laptop", "me@laptop.local", None, None)
    assert second.committer == Person("GitHub", "noreply@github.com", "web-flow", 19864447)
    assert by_sha[merge["sha"]].parents == 2


def test_single_commit_has_line_stats(fake):
    fake.add_repo(REPO)
    made = fake.add_commits(REPO, make_commit(additions=104, deletions=4, parents=2))[0]

    commit = pat_client(fake).commit(REPO, made["sha"])

    assert isinstance(commit, Commit)
    assert (commit.sha, commit.additions, commit.deletions, commit.parents) == (
        made["sha"], 104, 4, 2)
    assert fake.requests[0].path == f"/repos/{REPO}/commits/{made['sha']}"


# --- errors --------------------------------------------------------------------------------

def test_unknown_repository_is_not_found_everywhere(fake):
    client = pat_client(fake)

    for call in (lambda: client.repo("acme/x"),
                 lambda: list(client.list_commits("acme/x", "main")),
                 lambda: client.commit("acme/x", "a" * 40)):
        with pytest.raises(NotFound, match="GitHub repository acme/x .*not found"):
            call()


def test_refused_token_is_auth_expired(fake):
    fake.add_repo(REPO)

    with pytest.raises(AuthExpired, match="HTTP 401"):
        pat_client(fake, token="ghp_revokedToken").repo(REPO)


def test_no_credentials_is_a_clear_provider_error(fake):
    client = GitHubClient(GitHubCredentials(app_id="1"), api_url=fake.url)

    with pytest.raises(ProviderError, match="set GITHUB_TOKEN or GITHUB_APP_ID"):
        client.repo(REPO)
    assert fake.requests == []
    assert not GitHubCredentials(app_id="1", app_private_key="k").configured
    assert GitHubCredentials(token="t").configured


def test_primary_rate_limit_on_the_repo_lookup_is_rate_limited_until_reset(fake):
    # The original ignored a rate limit here and marked the repository done.
    fake.add_repo(REPO)
    reset = fake.primary_rate_limit(reset_in=3600, path=repo_path())

    with pytest.raises(RateLimited) as caught:
        pat_client(fake).repo(REPO)

    expected = reset - time.time()
    assert expected - 2 <= caught.value.retry_after <= expected + 2
    assert REPO in str(caught.value) and "HTTP 403" in str(caught.value)
    assert len(fake.requests) == 1  # an hour is not waited for here


def test_primary_rate_limit_as_429_on_a_later_page(fake):
    fake.add_repo(REPO)
    fake.add_commits(REPO, *(make_commit(date=at(1) + timedelta(minutes=i)) for i in range(150)))
    repo_id = fake.repos[REPO].id
    fake.primary_rate_limit(reset_in=1800, status=429, times=20,
                            path=f"/repositories/{repo_id}/commits")

    listed = []
    with pytest.raises(RateLimited) as caught:
        for commit in pat_client(fake).list_commits(REPO, "main"):
            listed.append(commit)

    assert len(listed) == 100  # the first page was handed out before the limit hit
    assert 1795 <= caught.value.retry_after <= 1802


def test_secondary_rate_limit_gives_its_retry_after(fake):
    fake.add_repo(REPO)
    fake.secondary_rate_limit(retry_after=300)

    with pytest.raises(RateLimited) as caught:
        list(pat_client(fake).list_commits(REPO, "main"))

    assert caught.value.retry_after == 300
    assert len(fake.requests) == 1


def test_secondary_rate_limit_without_headers_waits_a_minute(fake):
    HttpSettings.max_retry_after = 30  # a minute is then too long to wait in the client
    fake.add_repo(REPO)
    fake.secondary_rate_limit(retry_after=None)

    with pytest.raises(RateLimited) as caught:
        pat_client(fake).repo(REPO)

    assert caught.value.retry_after == 60


def test_long_429_retry_after_is_rate_limited_at_once(fake):
    fake.add_repo(REPO)
    fake.too_many_requests(retry_after=500)

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        pat_client(fake).repo(REPO)

    assert caught.value.retry_after == 500
    assert time.monotonic() - started < 5
    assert len(fake.requests) == 1


def test_plain_403_is_access_denied_not_a_rate_limit(fake):
    fake.add_repo(REPO)
    fake.deny()

    with pytest.raises(ProviderError) as caught:
        pat_client(fake).repo(REPO)

    assert type(caught.value) is ProviderError
    assert "access denied (HTTP 403)" in str(caught.value) and REPO in str(caught.value)
    assert len(fake.requests) == 1


def test_short_secondary_limit_is_waited_out_then_succeeds(fake):
    fake.add_repo(REPO)
    made = fake.add_commits(REPO, make_commit())
    fake.secondary_rate_limit(retry_after=1)

    started = time.monotonic()
    commits = list(pat_client(fake).list_commits(REPO, "main"))

    assert [c.sha for c in commits] == [made[0]["sha"]]
    assert time.monotonic() - started >= 0.9
    assert len(fake.requests) == 2


def test_client_waits_only_once_for_a_short_limit(fake):
    fake.add_repo(REPO)
    fake.secondary_rate_limit(retry_after=1, times=5)

    with pytest.raises(RateLimited) as caught:
        pat_client(fake).repo(REPO)

    assert caught.value.retry_after == 1
    assert len(fake.requests) == 2


def test_server_errors_are_retried_then_provider_error(fake):
    fake.add_repo(REPO)
    fake.fail_next(502, {"message": "Server Error"}, path=repo_path())
    assert pat_client(fake).repo(REPO).full_name == REPO

    fake.fail_next(502, {"message": "Server Error"}, times=20, path=repo_path())
    with pytest.raises(ProviderError) as caught:
        pat_client(fake).repo(REPO)
    assert not isinstance(caught.value, RateLimited | NotFound | AuthExpired)
    assert "HTTP 502" in str(caught.value)


def test_next_link_to_another_host_is_not_followed(fake):
    fake.add_repo(REPO)
    fake.add_commits(REPO, *(make_commit(date=at(1) + timedelta(minutes=i)) for i in range(120)))
    fake.link_base = "http://attacker.invalid"

    with pytest.raises(ProviderError, match="another host"):
        list(pat_client(fake).list_commits(REPO, "main"))
    assert len(fake.requests) == 1


# --- GitHub App ----------------------------------------------------------------------------

def test_app_token_is_exchanged_once_and_reused(fake):
    fake.add_repo(REPO)
    client = app_client(fake)

    client.repo(REPO)
    client.repo(REPO)

    assert fake.tokens_issued == 1
    issued = fake.issued_tokens[0][0]
    assert [r.headers["authorization"] for r in fake.requests_to(repo_path())] == [
        f"Bearer {issued}"] * 2
    claims = fake.jwt_claims[0]
    assert claims["iss"] == fake.app_id
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - (time.time() - 60)) < 5


def test_app_token_is_renewed_ten_minutes_before_it_expires(fake):
    fake.add_repo(REPO)
    fake.token_ttl = timedelta(minutes=10, seconds=2)
    client = app_client(fake)

    client.repo(REPO)
    client.repo(REPO)
    assert fake.tokens_issued == 1
    renew_at = fake.issued_tokens[0][1] - timedelta(minutes=10)
    time.sleep(max(0.0, (renew_at - datetime.now(UTC)).total_seconds()) + 0.2)
    client.repo(REPO)

    assert fake.tokens_issued == 2
    assert fake.requests_to(repo_path())[-1].headers["authorization"] == (
        f"Bearer {fake.issued_tokens[1][0]}")


def test_revoked_installation_token_is_replaced_once(fake):
    fake.add_repo(REPO)
    client = app_client(fake)
    client.repo(REPO)
    fake.revoke_installation_tokens()

    assert client.repo(REPO).full_name == REPO
    assert fake.tokens_issued == 2


def test_app_key_with_literal_backslash_n_from_an_env_var(fake):
    fake.add_repo(REPO)
    one_line = fake.private_key_pem.strip().replace("\n", "\\n")
    assert "\n" not in one_line

    assert app_client(fake, app_private_key=one_line).repo(REPO).default_branch == "main"
    assert fake.tokens_issued == 1


def test_complete_app_credentials_win_over_a_token(fake):
    fake.add_repo(REPO)
    both = GitHubClient(GitHubCredentials(token=TOKEN, app_id=fake.app_id,
                                          app_private_key=fake.private_key_pem,
                                          app_installation_id=fake.installation_id),
                        api_url=fake.url)
    both.repo(REPO)
    assert fake.requests_to(repo_path())[-1].headers["authorization"].startswith("Bearer ghs_")

    half = GitHubClient(GitHubCredentials(token=TOKEN, app_id=fake.app_id), api_url=fake.url)
    half.repo(REPO)
    assert fake.requests_to(repo_path())[-1].headers["authorization"] == f"Bearer {TOKEN}"


def test_app_credential_problems_are_auth_expired(fake):
    fake.add_repo(REPO)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    garbage = "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----"

    with pytest.raises(AuthExpired, match="installation 999 not found"):
        app_client(fake, app_installation_id="999").repo(REPO)
    with pytest.raises(AuthExpired, match="refused the App credentials"):
        app_client(fake, app_private_key=other_key).repo(REPO)
    with pytest.raises(AuthExpired, match="GITHUB_APP_PRIVATE_KEY") as caught:
        app_client(fake, app_private_key=garbage).repo(REPO)
    assert "bm90IGEga2V5" not in str(caught.value)
    assert fake.tokens_issued == 0


def test_rate_limited_token_exchange_is_rate_limited(fake):
    fake.add_repo(REPO)
    fake.primary_rate_limit(reset_in=900, path=f"/app/installations/{fake.installation_id}"
                                               "/access_tokens")

    with pytest.raises(RateLimited) as caught:
        app_client(fake).repo(REPO)
    assert 895 <= caught.value.retry_after <= 902


# --- secrets -------------------------------------------------------------------------------

def test_token_never_appears_in_errors_or_reprs(fake):
    fake.add_repo(REPO)
    client = pat_client(fake)
    creds = GitHubCredentials(token=TOKEN)
    texts = [repr(client), repr(creds), str(creds)]
    faults = [lambda: fake.deny(), lambda: fake.secondary_rate_limit(retry_after=900),
              lambda: fake.primary_rate_limit(), lambda: fake.too_many_requests(900),
              lambda: fake.fail_next(500, {"message": "boom"}, times=HttpSettings.retries + 1)]
    for fault in faults:
        fault()
        with pytest.raises(ProviderError) as caught:
            client.repo(REPO)
        texts += [str(caught.value), repr(caught.value)]
    for call in (lambda: client.repo("acme/missing"),
                 lambda: pat_client(fake, token=TOKEN + "x").repo(REPO)):
        with pytest.raises(ProviderError) as caught:
            call()
        texts += [str(caught.value), repr(caught.value)]

    app = app_client(fake)
    app.repo(REPO)
    texts += [repr(app), repr(app_credentials(fake))]
    issued = fake.issued_tokens[0][0]
    fake.deny()
    with pytest.raises(ProviderError) as caught:
        app.repo(REPO)
    texts.append(str(caught.value))

    pem_body = fake.private_key_pem.splitlines()[1]
    for text in texts:
        assert TOKEN not in text and issued not in text and pem_body not in text, text


# --- webhook sender ------------------------------------------------------------------------

def test_push_payload_shape_and_signed_delivery_to_a_flask_client():
    received = {}
    app = Flask(__name__)

    @app.post("/webhooks/github")
    def hook():
        received["body"] = request.get_data()
        received["headers"] = dict(request.headers)
        return "", 204

    commits = [make_commit(message="Add pager", login="devone", user_id=7,
                           date="2025-10-01T10:34:56Z", additions=3, deletions=0),
               make_commit(message="Fix pager", date="2025-10-01T11:00:00Z")]
    payload = push_payload(REPO, commits, sender_login="devone", sender_id=7)

    response = send_webhook(app.test_client(), "push", payload, "s3cret")

    assert response.status_code == 204
    headers, body = received["headers"], received["body"]
    assert headers["X-Hub-Signature-256"] == sign(b"s3cret", body)
    assert headers["X-Github-Event"] == "push"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    sent = json.loads(body)
    assert sent["after"] == commits[1]["sha"] == sent["head_commit"]["id"]
    first = sent["commits"][0]
    assert first["timestamp"] == "2025-10-01T12:34:56+02:00"  # the author's offset
    assert first["author"] == {"name": "Dev One", "email": "dev@example.com",
                               "username": "devone"}
    assert "username" not in sent["commits"][1]["author"]
    assert first["added"] and not first["modified"]
    assert isinstance(sent["repository"]["created_at"], int)
    assert sent["repository"]["default_branch"] == "main"
    assert sent["sender"]["login"] == "devone"

    deleted = push_payload(REPO, commits, deleted=True)
    assert deleted["commits"] == [] and deleted["head_commit"] is None


def test_ping_delivered_to_a_url_with_the_exact_signed_bytes():
    with FakeServer() as receiver:
        receiver.route("POST", "/hook", lambda req: Reply(200, {"ok": True}))

        response = send_webhook(receiver.url + "/hook", "ping", ping_payload(), b"k",
                                delivery="72d3162e-cc78-11ec-9d64-0242ac120002")

        got = receiver.requests[0]
        assert response.status_code == 200
        assert got.headers["x-hub-signature-256"] == sign("k", got.body)
        assert got.headers["x-github-delivery"] == "72d3162e-cc78-11ec-9d64-0242ac120002"
        assert got.json()["zen"] and got.json()["hook_id"]
