"""A fake GitHub: REST commits API, GitHub App token exchange, and a push-webhook sender.

Follows /work/shared/providers/github.md: `Authorization: Bearer` with a personal access token
or an installation token; `POST /app/installations/{id}/access_tokens` verifies the App's RS256
JWT against the App's public key (a key pair generated here) and issues tokens that expire;
`Link` pagination whose next URLs point at `/repositories/{id}/...` like GitHub's do; list
results without `stats`/`files`, the single-commit endpoint with them; 409 for an empty
repository, 404 for an unknown one; `x-ratelimit-*` headers on every answer and switchable
rate-limit modes (primary, secondary, 429, plain permission 403).

Data lives in plain structures tests edit: `repos` (full name → FakeRepo, whose `branches`
map a branch to its commits in API shape, built with `make_commit`).

The webhook half (`push_payload`, `ping_payload`, `sign`, `send_webhook`) builds realistic
deliveries and posts the exact signed bytes to a Flask test client or a URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .server import FakeServer, Reply, Request

DOCS = "https://docs.github.com/rest"
API_VERSIONS = ("2022-11-28", "2026-03-10")
RATE_LIMIT = 5000
DEFAULT_TOKEN = "ghp_fakePersonalAccessToken0123456789abcd"
DEFAULT_APP_ID = "123456"
DEFAULT_INSTALLATION_ID = "7654321"
ZERO_SHA = "0" * 40
DEFAULT_WEBHOOK_PATH = "/webhooks/github"

_REPO = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)$")
_COMMITS = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/commits$")
_COMMITS_BY_ID = re.compile(r"^/repositories/(?P<id>\d+)/commits$")
_COMMIT = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/commits/(?P<ref>[^/]+)$")
_ORG_REPOS = re.compile(r"^/orgs/(?P<org>[^/]+)/repos$")
_ORG_REPOS_BY_ID = re.compile(r"^/organizations/(?P<id>\d+)/repos$")
_ACCESS_TOKENS = re.compile(r"^/app/installations/(?P<id>[^/]+)/access_tokens$")


def error(status: int, message: str) -> Reply:
    """GitHub's error body: a message and a documentation link."""
    return Reply(status, {"message": message, "documentation_url": DOCS, "status": str(status)})


def random_sha() -> str:
    return secrets.token_hex(20)


def _utc_text(moment: datetime | str) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def user_object(login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": user_id, "node_id": f"U_{user_id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "url": f"https://api.github.com/users/{login}",
            "html_url": f"https://github.com/{login}", "type": kind, "site_admin": False}


def make_commit(sha: str | None = None, message: str = "Update code",
                author_name: str | None = "Dev One",
                author_email: str | None = "dev@example.com", login: str | None = None,
                user_id: int | None = None, date: datetime | str = "2025-10-01T12:00:00Z",
                parents: int = 1, additions: int = 10, deletions: int = 2, *,
                committer_name: str | None = None, committer_email: str | None = None,
                committer_login: str | None = None, committer_id: int | None = None,
                committer_date: datetime | str | None = None,
                files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A commit in the single-commit endpoint's shape (with `stats` and `files`).

    `login`/`user_id` set the top-level `author` (GitHub leaves it null when the e-mail is not
    linked to an account). The committer defaults to the author. URLs are filled in when the
    commit is added to a repository.
    """
    sha = sha or random_sha()
    authored = _utc_text(date)
    committed = _utc_text(committer_date) if committer_date is not None else authored
    author_account = user_object(login, user_id or 1000 + len(login)) if login else None
    if committer_login:
        committer_account = user_object(committer_login, committer_id or 2000)
    elif committer_name is None and committer_email is None:
        committer_account = author_account
    else:
        committer_account = None
    if files is None:
        files = [{"sha": random_sha(), "filename": f"src/module_{sha[:6]}.py",
                  "status": "added" if deletions == 0 else "modified",
                  "additions": additions, "deletions": deletions,
                  "changes": additions + deletions}]
    return {
        "sha": sha,
        "node_id": "C_" + sha[:20],
        "commit": {
            "author": {"name": author_name, "email": author_email, "date": authored},
            "committer": {"name": committer_name if committer_name is not None else author_name,
                          "email": (committer_email if committer_email is not None
                                    else author_email),
                          "date": committed},
            "message": message,
            "tree": {"sha": random_sha(), "url": ""},
            "url": "",
            "comment_count": 0,
            "verification": {"verified": False, "reason": "unsigned", "signature": None,
                             "payload": None, "verified_at": None},
        },
        "url": "",
        "html_url": "",
        "comments_url": "",
        "author": author_account,
        "committer": committer_account,
        "parents": [{"sha": random_sha(), "url": "", "html_url": ""} for _ in range(parents)],
        "stats": {"total": additions + deletions, "additions": additions,
                  "deletions": deletions},
        "files": files,
    }


@dataclass
class FakeRepo:
    full_name: str
    id: int
    default_branch: str = "main"
    archived: bool = False
    private: bool = True
    branches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def empty(self) -> bool:
        return not any(self.branches.values())

    def find(self, ref: str) -> dict[str, Any] | None:
        """A commit by (at least 7 characters of) its SHA, or a branch's head."""
        if ref in self.branches and self.branches[ref]:
            return _newest_first(self.branches[ref])[0]
        if len(ref) >= 7:
            for commits in self.branches.values():
                for commit in commits:
                    if commit["sha"].startswith(ref.lower()):
                        return commit
        return None

    def api(self, api_url: str) -> dict[str, Any]:
        owner, name = self.full_name.split("/", 1)
        return {
            "id": self.id, "node_id": f"R_{self.id}", "name": name,
            "full_name": self.full_name, "private": self.private,
            "owner": user_object(owner, _org_id(owner), "Organization"),
            "html_url": f"https://github.com/{self.full_name}", "description": None,
            "fork": False, "url": f"{api_url}/repos/{self.full_name}",
            "default_branch": self.default_branch, "archived": self.archived,
            "disabled": False, "visibility": "private" if self.private else "public",
            "created_at": "2020-01-01T00:00:00Z", "updated_at": "2025-10-01T00:00:00Z",
            "pushed_at": "2025-10-01T00:00:00Z",
        }


def _org_id(org: str) -> int:
    """A stable numeric id per organization name (what `/organizations/{id}` links use)."""
    return 10_000 + int(hashlib.sha256(org.lower().encode()).hexdigest()[:6], 16)


def _newest_first(commits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(commits, key=lambda c: c["commit"]["committer"]["date"], reverse=True)


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class FakeGitHub(FakeServer):
    """Start with `with FakeGitHub() as fake:`; point a GitHubClient's api_url at `fake.url`.

    Credentials: `tokens` (accepted personal access tokens), and a GitHub App (`app_id`,
    `installation_id`, `private_key_pem`) whose installation tokens live `token_ttl`.
    Knobs: `per_page_max` (GitHub's is 100; lower it to return pages shorter than asked for),
    `link_base` (the origin put in `Link` URLs; defaults to this server).
    """

    def __init__(self, token: str | None = DEFAULT_TOKEN, app_id: str = DEFAULT_APP_ID,
                 installation_id: str = DEFAULT_INSTALLATION_ID) -> None:
        super().__init__()
        self.tokens: set[str] = {token} if token else set()
        self.repos: dict[str, FakeRepo] = {}
        self.app_id = app_id
        self.installation_id = installation_id
        self._app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.token_ttl = timedelta(hours=1)
        self.installation_tokens: dict[str, datetime] = {}  # token → expires_at
        self.issued_tokens: list[tuple[str, datetime]] = []
        self.jwt_claims: list[dict[str, Any]] = []  # claims of every accepted App JWT
        self.per_page_max = 100
        self.link_base: str | None = None
        self.used = 0  # authenticated requests, for the x-ratelimit-* headers
        self._ids = itertools.count(100_000_001)

    # --- helpers for tests ----------------------------------------------------------------
    @property
    def private_key_pem(self) -> str:
        """The App's private key as GitHub hands it out (PKCS#1 PEM)."""
        return self._app_key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()).decode()

    @property
    def tokens_issued(self) -> int:
        return len(self.issued_tokens)

    def add_repo(self, full_name: str, default_branch: str = "main", archived: bool = False,
                 private: bool = True, id: int | None = None) -> FakeRepo:
        repo = FakeRepo(full_name, id if id is not None else next(self._ids), default_branch,
                        archived, private, {default_branch: []})
        self.repos[full_name] = repo
        return repo

    def add_commits(self, full_name: str, *commits: dict[str, Any],
                    branch: str | None = None) -> list[dict[str, Any]]:
        """Put commits (from `make_commit`) on a branch (the default one unless given)."""
        repo = self.repos[full_name]
        for commit in commits:
            self._link(repo, commit)
            repo.branches.setdefault(branch or repo.default_branch, []).append(commit)
        return list(commits)

    def revoke_installation_tokens(self) -> None:
        """Every installation token issued so far is refused from now on."""
        self.installation_tokens.clear()

    def primary_rate_limit(self, reset_in: float = 3600, *, status: int = 403, times: int = 1,
                           path: str | None = None) -> int:
        """The hourly quota is spent: `x-ratelimit-remaining: 0` until now + `reset_in`.

        Returns the reset time (epoch seconds) the answers carry.
        """
        reset = int(time.time() + reset_in)
        self.fail_next(status, error(status, "API rate limit exceeded for user ID 1.").body,
                       times=times, path=path, headers={
                           "x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": "0",
                           "x-ratelimit-used": str(RATE_LIMIT), "x-ratelimit-reset": str(reset),
                           "x-ratelimit-resource": "core"})
        return reset

    def secondary_rate_limit(self, retry_after: int | None = 60, *, times: int = 1,
                             path: str | None = None) -> None:
        """A secondary (abuse) limit: 403 with `retry-after` (or none at all)."""
        message = ("You have exceeded a secondary rate limit. Please wait a few minutes "
                   "before you try again.")
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        self.fail_next(403, error(403, message).body, times=times, path=path, headers=headers)

    def too_many_requests(self, retry_after: int = 60, *, times: int = 1,
                          path: str | None = None) -> None:
        """429 with `retry-after`."""
        self.fail_next(429, error(429, "Too many requests").body, times=times, path=path,
                       headers={"retry-after": str(retry_after)})

    def deny(self, *, times: int = 1, path: str | None = None) -> None:
        """A plain permission 403 (no rate-limit headers)."""
        self.fail_next(403, error(403, "Resource not accessible by integration").body,
                       times=times, path=path)

    # --- server plumbing ------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.link_base or self.url

    def _dispatch(self, request: Request) -> Reply:
        reply = super()._dispatch(request)
        headers = {"x-github-request-id": uuid.uuid4().hex[:16].upper(), **reply.headers}
        if "x-ratelimit-remaining" not in headers:
            reset = int(time.time()) + 3600
            headers.update({"x-ratelimit-limit": str(RATE_LIMIT),
                            "x-ratelimit-remaining": str(max(0, RATE_LIMIT - self.used)),
                            "x-ratelimit-used": str(self.used),
                            "x-ratelimit-reset": str(reset), "x-ratelimit-resource": "core"})
        # Faults are shared Reply objects: answer with a copy.
        return replace(reply, headers=headers)

    def not_found(self, request: Request) -> Reply:
        """GitHub's paths carry names and ids, so routes are matched here by pattern."""
        version = request.headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            return error(400, f"API version {version} is not supported.")
        if request.method == "POST":
            match = _ACCESS_TOKENS.match(request.path)
            return self._access_token(request, match["id"]) if match else error(404,
                                                                                 "Not Found")
        if request.method != "GET":
            return error(404, "Not Found")
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        self.used += 1
        if match := _REPO.match(request.path):
            repo = self.repos.get(f"{match['owner']}/{match['name']}")
            return Reply(200, repo.api(self.api_url)) if repo else error(404, "Not Found")
        if match := _COMMITS.match(request.path):
            return self._commits(request, self.repos.get(f"{match['owner']}/{match['name']}"))
        if match := _COMMITS_BY_ID.match(request.path):
            by_id = {repo.id: repo for repo in self.repos.values()}
            return self._commits(request, by_id.get(int(match["id"])))
        if match := _COMMIT.match(request.path):
            return self._commit(self.repos.get(f"{match['owner']}/{match['name']}"),
                                match["ref"])
        if match := _ORG_REPOS.match(request.path):
            return self._org_repos(request, match["org"])
        if match := _ORG_REPOS_BY_ID.match(request.path):
            orgs = {_org_id(repo.owner): repo.owner for repo in self.repos.values()}
            org = orgs.get(int(match["id"]))
            return self._org_repos(request, org) if org else error(404, "Not Found")
        return error(404, "Not Found")

    def _authenticate(self, request: Request) -> Reply | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "token") and credential:
            if credential in self.tokens:
                return None
            expires = self.installation_tokens.get(credential)
            if expires is not None and datetime.now(UTC) < expires:
                return None
        return error(401, "Bad credentials")

    # --- repositories and commits ---------------------------------------------------------
    def _link(self, repo: FakeRepo, commit: dict[str, Any]) -> None:
        sha = commit["sha"]
        api = f"{self.api_url}/repos/{repo.full_name}"
        commit["url"] = f"{api}/commits/{sha}"
        commit["html_url"] = f"https://github.com/{repo.full_name}/commit/{sha}"
        commit["comments_url"] = f"{api}/commits/{sha}/comments"
        commit["commit"]["url"] = f"{api}/git/commits/{sha}"
        commit["commit"]["tree"]["url"] = f"{api}/git/trees/{commit['commit']['tree']['sha']}"
        for parent in commit["parents"]:
            parent["url"] = f"{api}/commits/{parent['sha']}"
            parent["html_url"] = f"https://github.com/{repo.full_name}/commit/{parent['sha']}"

    def _commits(self, request: Request, repo: FakeRepo | None) -> Reply:
        if repo is None:
            return error(404, "Not Found")
        if repo.empty:
            return error(409, "Git Repository is empty.")
        branch = request.arg("sha") or repo.default_branch
        if branch not in repo.branches:
            return error(404, "Not Found")
        commits = _newest_first(repo.branches[branch])
        try:
            since = _parse(request.arg("since")) if request.arg("since") else None
            until = _parse(request.arg("until")) if request.arg("until") else None
        except ValueError:
            return error(422, "Invalid time: since/until must be ISO 8601")
        commits = [c for c in commits
                   if (since is None or _parse(c["commit"]["committer"]["date"]) >= since)
                   and (until is None or _parse(c["commit"]["committer"]["date"]) <= until)]
        listed = [{k: v for k, v in c.items() if k not in ("stats", "files")} for c in commits]
        return self._paged(request, listed, f"/repositories/{repo.id}/commits")

    def _commit(self, repo: FakeRepo | None, ref: str) -> Reply:
        if repo is None:
            return error(404, "Not Found")
        if repo.empty:
            return error(409, "Git Repository is empty.")
        commit = repo.find(ref)
        if commit is None:
            return error(422, f"No commit found for SHA: {ref}")
        return Reply(200, commit)

    def _org_repos(self, request: Request, org: str) -> Reply:
        repos = [r.api(self.api_url) for r in self.repos.values()
                 if r.owner.lower() == org.lower()]
        if not repos:
            return error(404, "Not Found")
        return self._paged(request, repos, f"/organizations/{_org_id(org)}/repos")

    def _paged(self, request: Request, items: list[dict[str, Any]], link_path: str) -> Reply:
        """One page of `items` and GitHub's `Link` header (next/last, prev/first)."""
        try:
            per_page = max(1, min(int(request.arg("per_page") or 30), self.per_page_max))
            page = max(1, int(request.arg("page") or 1))
        except ValueError:
            return error(400, "per_page and page must be integers")
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page:page * per_page]
        query = {k: v[0] for k, v in request.query.items() if k != "page"}

        def link(number: int, rel: str) -> str:
            return (f"<{self.api_url}{link_path}?{urlencode({**query, 'page': number})}>; "
                    f'rel="{rel}"')

        links = []
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return Reply(200, chunk, {"Link": ", ".join(links)} if links else {})

    # --- GitHub App -----------------------------------------------------------------------
    def _access_token(self, request: Request, installation: str) -> Reply:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error(401, "A JSON web token could not be decoded")
        problem = self._check_jwt(token)
        if problem is not None:
            return error(401, problem)
        if installation != self.installation_id:
            return error(404, "Not Found")
        issued = "ghs_" + secrets.token_urlsafe(27)[:36]
        expires = (datetime.now(UTC) + self.token_ttl).replace(microsecond=0)
        self.installation_tokens[issued] = expires
        self.issued_tokens.append((issued, expires))
        return Reply(201, {"token": issued, "expires_at": _utc_text(expires),
                           "permissions": {"contents": "read", "metadata": "read"},
                           "repository_selection": "all"})

    def _check_jwt(self, token: str) -> str | None:
        """What GitHub would say is wrong with an App JWT (None: it is acceptable)."""
        undecodable = "A JSON web token could not be decoded"
        try:
            head_b64, claims_b64, signature_b64 = token.split(".")
            header = json.loads(_b64url(head_b64))
            claims = json.loads(_b64url(claims_b64))
            signature = _b64url(signature_b64)
        except (ValueError, binascii.Error):
            return undecodable
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            return undecodable
        try:
            self._app_key.public_key().verify(signature, f"{head_b64}.{claims_b64}".encode(),
                                              padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return undecodable
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if str(claims.get("iss")) != str(self.app_id):
            return "Integration not found"
        if not isinstance(iat, int) or iat > now + 60:
            return ("'Issued at' claim ('iat') must be an Integer representing the time that "
                    "the assertion was issued.")
        if not isinstance(exp, int) or exp <= now:
            return ("'Expiration time' claim ('exp') must be a numeric value representing "
                    "the future time at which the assertion expires.")
        if exp - now > 600 + 30:  # GitHub allows ten minutes (and a little clock drift)
            return "'Expiration time' claim ('exp') is too far in the future."
        self.jwt_claims.append(claims)
        return None


# --- webhooks --------------------------------------------------------------------------------

def _with_offset(utc_text: str, offset: str) -> str:
    """An ISO time in the author's zone, as push payloads give it ("…T14:00:00+02:00")."""
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = (int(part) for part in offset.lstrip("+-").split(":"))
    zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return _parse(utc_text).astimezone(zone).isoformat()


def _git_person(git: dict[str, Any], account: dict[str, Any] | None) -> dict[str, Any]:
    person = {"name": git.get("name"), "email": git.get("email")}
    if account:  # `username` only when GitHub links the e-mail to an account
        person["username"] = account["login"]
    return person


def webhook_commit(commit: dict[str, Any], repo_full_name: str,
                   offset: str = "+02:00") -> dict[str, Any]:
    """A `make_commit` commit in a push payload's `commits[]` shape (no line counts)."""
    if "id" in commit:  # already in webhook shape
        return commit
    git = commit["commit"]
    files = commit.get("files") or []
    by_status: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
    for f in files:
        by_status.get(f.get("status") or "modified", by_status["modified"]).append(f["filename"])
    return {
        "id": commit["sha"],
        "tree_id": git["tree"]["sha"],
        "distinct": True,
        "message": git["message"],
        "timestamp": _with_offset(git["author"]["date"], offset),
        "url": f"https://github.com/{repo_full_name}/commit/{commit['sha']}",
        "author": _git_person(git["author"], commit.get("author")),
        "committer": _git_person(git["committer"], commit.get("committer")),
        **by_status,
    }


def _repository(full_name: str, repo_id: int, default_branch: str, private: bool,
                pushed_at: int) -> dict[str, Any]:
    owner, name = full_name.split("/", 1)
    owner_id = _org_id(owner)
    return {
        "id": repo_id, "node_id": f"R_{repo_id}", "name": name, "full_name": full_name,
        "private": private,
        "owner": {"name": owner, "email": None, **user_object(owner, owner_id, "Organization")},
        "html_url": f"https://github.com/{full_name}", "description": None, "fork": False,
        "url": f"https://github.com/{full_name}",
        # Push payloads' quirk: created_at/pushed_at are epoch seconds, updated_at is ISO.
        "created_at": 1577836800, "updated_at": "2025-10-01T00:00:00Z", "pushed_at": pushed_at,
        "default_branch": default_branch, "master_branch": default_branch,
        "archived": False, "disabled": False,
        "visibility": "private" if private else "public", "organization": owner,
    }


def push_payload(repo_full_name: str, commits: list[dict[str, Any]],
                 ref: str = "refs/heads/main", default_branch: str = "main",
                 sender_login: str = "devone", sender_id: int = 987654321,
                 deleted: bool = False, *, repo_id: int = 123456789, private: bool = True,
                 offset: str = "+02:00", before: str | None = None, created: bool = False,
                 forced: bool = False) -> dict[str, Any]:
    """A push delivery as GitHub sends it (commits oldest first; `head_commit` the last).

    `commits` are `make_commit` commits (converted with the author's `offset`) or already in
    webhook shape. `deleted=True` is a branch deletion: no commits, `head_commit` null.
    """
    shaped = [] if deleted else [webhook_commit(c, repo_full_name, offset) for c in commits]
    before = before or (ZERO_SHA if created else random_sha())
    after = ZERO_SHA if deleted else (shaped[-1]["id"] if shaped else before)
    owner = repo_full_name.split("/", 1)[0]
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": _repository(repo_full_name, repo_id, default_branch, private,
                                  int(time.time())),
        "pusher": {"name": sender_login,
                   "email": f"{sender_id}+{sender_login}@users.noreply.github.com"},
        "organization": {"login": owner, "id": _org_id(owner), "node_id": f"O_{_org_id(owner)}",
                         "url": f"https://api.github.com/orgs/{owner}"},
        "sender": user_object(sender_login, sender_id),
        "created": created,
        "deleted": deleted,
        "forced": forced,
        "base_ref": None,
        "compare": f"https://github.com/{repo_full_name}/compare/{before[:12]}...{after[:12]}",
        "commits": shaped,
        "head_commit": shaped[-1] if shaped else None,
    }


def ping_payload(repo_full_name: str = "acme/app", hook_id: int = 292430182,
                 sender_login: str = "devone", sender_id: int = 987654321,
                 repo_id: int = 123456789, url: str = "https://abacus.example.com"
                 + DEFAULT_WEBHOOK_PATH) -> dict[str, Any]:
    """The `ping` GitHub sends right after a hook is created."""
    repository = _repository(repo_full_name, repo_id, "main", True, int(time.time()))
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": hook_id,
        "hook": {"type": "Repository", "id": hook_id, "name": "web", "active": True,
                 "events": ["push"],
                 "config": {"content_type": "json", "insecure_ssl": "0", "url": url},
                 "updated_at": "2025-10-01T00:00:00Z", "created_at": "2025-10-01T00:00:00Z"},
        "repository": repository,
        "sender": user_object(sender_login, sender_id),
    }


def sign(secret: bytes | str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value: "sha256=" + HMAC-SHA256 of the raw body."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def send_webhook(client_or_url: Any, event: str, payload: dict[str, Any],
                 secret: bytes | str | None, delivery: str | None = None, *,
                 path: str = DEFAULT_WEBHOOK_PATH, signature: str | None = None,
                 headers: dict[str, str] | None = None) -> Any:
    """Post a delivery: the body is serialised once and those exact bytes are signed and sent.

    `client_or_url` is a Flask test client (posted to `path`) or a URL (requests.post).
    `secret=None` sends no signature; `signature` overrides it (a forged one, say);
    `delivery` reuses a GUID (a redelivery). Returns the client's / requests' response.
    """
    body = json.dumps(payload).encode()
    repository = payload.get("repository") or {}
    sent = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc1234",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(payload.get("hook_id") or 292430182),
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": str(repository.get("id") or 123456789),
    }
    if signature is not None:
        sent["X-Hub-Signature-256"] = signature
    elif secret is not None:
        sent["X-Hub-Signature-256"] = sign(secret, body)
    sent.update(headers or {})
    if isinstance(client_or_url, str):
        return requests.post(client_or_url, data=body, headers=sent, timeout=10)
    return client_or_url.post(path, data=body, headers=sent)
