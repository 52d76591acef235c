"""GitHub REST client for the commits backfill: repositories, commit lists, commit stats.

Not a usage provider (it is not registered in `providers.__init__`): `abacus.github.backfill`
uses it to read default-branch commits. No database here, so it is tested against a fake GitHub
alone. Contract: /work/shared/providers/github.md §2 (REST, Link pagination, rate limits).

Auth is a GitHub App installation token when the App's three values are set (minted from an
RS256 JWT and cached until ten minutes before it expires), else a personal access token.
Errors name the endpoint and repository, never a credential:

* 401 → `AuthExpired`; 404 → `NotFound`; a 403 without rate-limit signals → `ProviderError`
  ("access denied").
* A 403/429 rate limit → `RateLimited(retry_after)`: `retry-after` if given, else the time
  until `x-ratelimit-reset` when `x-ratelimit-remaining` is 0, else 60 s. A wait no longer
  than `HttpSettings.max_retry_after` is slept once here first (GitHub asks clients to wait);
  a longer one is left to the caller, which parks the backfill until then.
* 5xx are retried by the shared session (`http.make_session`), then `ProviderError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .base import AuthExpired, ProviderError, RateLimited
from .http import HttpSettings, error_message, error_text, json_body, make_session, send

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100  # the documented maximum for commit and repository lists
TOKEN_REFRESH_MARGIN = timedelta(minutes=10)  # renew installation tokens this early
DEFAULT_RATE_LIMIT_WAIT = 60.0  # GitHub: "wait at least one minute" when it gives no time
NOT_CONFIGURED = ("GitHub credentials are not configured: set GITHUB_TOKEN or GITHUB_APP_ID, "
                  "GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID")


class NotFound(ProviderError):
    """GitHub answered 404: the repository (or organization) does not exist or is hidden."""


@dataclass(frozen=True)
class GitHubCredentials:
    token: str | None = None  # personal access token (GITHUB_TOKEN)
    app_id: str | None = None  # GitHub App: app id, PEM private key, installation id
    app_private_key: str | None = None
    app_installation_id: str | None = None

    def __repr__(self) -> str:  # never shows secrets
        mode = "app" if self.uses_app else "token" if self.token else "none"
        return f"GitHubCredentials(auth={mode!r}, app_id={self.app_id!r})"

    @property
    def uses_app(self) -> bool:
        """All three App values are set (the App then wins over a token)."""
        return bool(self.app_id and self.app_private_key and self.app_installation_id)

    @property
    def configured(self) -> bool:
        return self.uses_app or bool(self.token)


@dataclass(frozen=True)
class Repo:
    full_name: str
    id: int | None
    default_branch: str
    archived: bool
    private: bool
    html_url: str | None


@dataclass(frozen=True)
class Person:
    """A git identity as GitHub reports it: name/email from git, login/id when linked."""

    name: str | None
    email: str | None
    login: str | None
    id: int | None


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    authored_at: datetime  # UTC, tz-aware (commit.author.date)
    author: Person
    committer: Person
    parents: int  # merge commits have >= 2
    html_url: str | None
    additions: int | None = None  # only from the single-commit endpoint
    deletions: int | None = None


class GitHubClient:
    """One client per run; requests go out one at a time (GitHub asks for serial).

    The commits backfill uses the endpoint methods; other GitHub readers (the Copilot
    provider) use `get` and `pages`, which carry the same auth, rate-limit and pagination
    rules.
    """

    def __init__(self, credentials: GitHubCredentials, api_url: str = DEFAULT_API_URL,
                 proxy_url: str | None = None, min_interval: float = 0.0,
                 api_version: str = API_VERSION) -> None:
        self._credentials = credentials
        self.api_url = api_url.rstrip("/")
        self._session = make_session(proxy_url=proxy_url, min_interval=min_interval, headers={
            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": api_version})
        self._installation_token: tuple[str, datetime] | None = None  # token, expires_at
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r}, credentials={self._credentials!r})"

    # --- endpoints ------------------------------------------------------------------------
    def repo(self, full_name: str) -> Repo:
        """GET /repos/{owner}/{repo}: the default branch and whether it is archived."""
        what = f"GitHub repository {full_name}"
        response = self._get(self._repo_url(full_name), what, not_found=f"{what} not found")
        return _repo(json_body(response, what), what)

    def org_repos(self, org: str) -> Iterator[Repo]:
        """Every repository of an organization, archived ones included (callers skip them)."""
        what = f"GitHub organization {org} repositories"
        url = f"{self.api_url}/orgs/{quote(org, safe='')}/repos"
        for item in self._pages(url, {"per_page": PER_PAGE}, what,
                                not_found=f"GitHub organization {org} not found"):
            yield _repo(item, what)

    def list_commits(self, full_name: str, branch: str, since: datetime | None = None,
                     until: datetime | None = None) -> Iterator[Commit]:
        """Commits reachable from `branch`, newest first, without line stats.

        An empty repository (409) yields nothing. Callers re-read a small overlap: GitHub
        filters `since`/`until` on dates as git records them, which may arrive late.
        """
        what = f"GitHub repository {full_name} commits on {branch}"
        params: dict[str, Any] = {"sha": branch, "per_page": PER_PAGE}
        if since is not None:
            params["since"] = _iso(since)
        if until is not None:
            params["until"] = _iso(until)
        pages = self._pages(self._repo_url(full_name) + "/commits", params, what,
                            not_found=f"GitHub repository {full_name} (branch {branch}) "
                                      "not found", empty_ok=True)
        for item in pages:
            yield _commit(item, what)

    def commit(self, full_name: str, sha: str) -> Commit:
        """One commit with its line stats (additions/deletions from `stats`)."""
        what = f"GitHub repository {full_name} commit {sha}"
        url = f"{self._repo_url(full_name)}/commits/{quote(sha, safe='')}"
        response = self._get(url, what, not_found=f"GitHub repository {full_name} not found")
        return _commit(json_body(response, what), what, with_stats=True)

    # --- transport ------------------------------------------------------------------------
    def get(self, path: str, what: str, *, params: dict[str, Any] | None = None,
            not_found: str | None = None, allow: tuple[int, ...] = ()) -> requests.Response:
        """GET `path` (below the API URL) with auth and rate-limit handling.

        A status in `allow` is returned for the caller to interpret instead of raised; other
        failures raise as the module docstring says.
        """
        return self._get(f"{self.api_url}{path}", what, params=params,
                         not_found=not_found or f"{what}: not found", allow=allow)

    def pages(self, path: str, params: dict[str, Any] | None, what: str, *,
              items_key: str | None = None, not_found: str | None = None
              ) -> Iterator[tuple[requests.Response, list[dict[str, Any]]]]:
        """Each page of a list endpoint with its items: a JSON list, or the list under
        `items_key` of an object body (e.g. `seats`), following `Link: rel="next"`."""
        yield from self._page_bodies(f"{self.api_url}{path}", params, what,
                                     not_found=not_found or f"{what}: not found",
                                     items_key=items_key)

    def _repo_url(self, full_name: str) -> str:
        owner, sep, name = full_name.partition("/")
        if not (owner and sep and name) or "/" in name:
            raise ValueError(f"expected a repository as owner/name, got {full_name!r}")
        return f"{self.api_url}/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    def _pages(self, url: str, params: dict[str, Any] | None, what: str, *, not_found: str,
               empty_ok: bool = False) -> Iterator[dict[str, Any]]:
        """Items of a list endpoint, following `Link: rel="next"` URLs exactly as given."""
        for _, items in self._page_bodies(url, params, what, not_found=not_found,
                                          allow=(409,) if empty_ok else ()):
            yield from items

    def _page_bodies(self, url: str, params: dict[str, Any] | None, what: str, *,
                     not_found: str, allow: tuple[int, ...] = (), items_key: str | None = None
                     ) -> Iterator[tuple[requests.Response, list[dict[str, Any]]]]:
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            response = self._get(next_url, what, params=params, not_found=not_found,
                                 allow=allow)
            if response.status_code == 409:  # "Git Repository is empty."
                return
            body = json_body(response, what)
            if items_key is not None:
                body = body.get(items_key) if isinstance(body, dict) else None
                if body is None:
                    body = []
            if not isinstance(body, list):
                raise ProviderError(f"{what}: expected a JSON list, got {type(body).__name__}")
            yield response, [item for item in body if isinstance(item, dict)]
            next_url = response.links.get("next", {}).get("url")
            params = None  # the next URL already carries every query parameter
            if next_url is not None:
                if next_url in seen:
                    raise ProviderError(f"{what}: the next page link repeats an earlier page")
                seen.add(next_url)
                self._check_same_origin(next_url, what)

    def _check_same_origin(self, url: str, what: str) -> None:
        # The token goes with every request: never to a host the link merely names.
        ours, theirs = urlsplit(self.api_url), urlsplit(url)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            raise ProviderError(f"{what}: next page link points at another host "
                                f"({theirs.netloc})")

    def _get(self, url: str, what: str, *, params: dict[str, Any] | None = None,
             not_found: str, empty_ok: bool = False,
             allow: tuple[int, ...] = ()) -> requests.Response:
        allow = (*allow, 409) if empty_ok else allow
        waited = refreshed = False
        while True:
            response = send(self._session, "GET", url, what, params=params,
                            headers={"Authorization": f"Bearer {self._token()}"})
            status = response.status_code
            wait = rate_limit_wait(response)
            if status < 400 or (status in allow and wait is None):
                return response
            if wait is not None and not waited and wait <= HttpSettings.max_retry_after:
                waited = True
                time.sleep(wait)
                continue
            if status == 401 and self._credentials.uses_app and not refreshed:
                # An installation token can be revoked before its expiry: mint one more.
                refreshed = True
                self._installation_token = None
                continue
            _raise(response, what, wait, not_found)

    def _token(self) -> str:
        if self._credentials.uses_app:
            return self._app_token()
        if self._credentials.token:
            return self._credentials.token
        raise ProviderError(NOT_CONFIGURED)

    def _app_token(self) -> str:
        with self._token_lock:
            cached = self._installation_token
            if cached is not None and datetime.now(UTC) < cached[1] - TOKEN_REFRESH_MARGIN:
                return cached[0]
            token, expires_at = self._mint_installation_token()
            self._installation_token = (token, expires_at)
            return token

    def _mint_installation_token(self) -> tuple[str, datetime]:
        creds = self._credentials
        installation = str(creds.app_installation_id)
        what = f"GitHub App installation {installation} access token"
        url = f"{self.api_url}/app/installations/{quote(installation, safe='')}/access_tokens"
        response = None
        for attempt in range(2):
            # A fresh JWT per attempt: one minted before a rate-limit wait may have expired.
            signed = app_jwt(str(creds.app_id), str(creds.app_private_key))
            response = send(self._session, "POST", url, what,
                            headers={"Authorization": f"Bearer {signed}"})
            wait = rate_limit_wait(response)
            if attempt == 0 and wait is not None and wait <= HttpSettings.max_retry_after:
                time.sleep(wait)
                continue
            break
        assert response is not None
        if response.status_code >= 400:
            if response.status_code == 404:
                raise AuthExpired(f"GitHub App installation {installation} not found "
                                  "(check GITHUB_APP_INSTALLATION_ID)")
            if response.status_code in (401, 403) and rate_limit_wait(response) is None:
                raise AuthExpired(f"{what}: GitHub refused the App credentials "
                                  f"(HTTP {response.status_code})")
            _raise(response, what, rate_limit_wait(response), f"{what}: not found")
        body = json_body(response, what)
        token = body.get("token") if isinstance(body, dict) else None
        expires = body.get("expires_at") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderError(f"{what}: the answer has no token")
        try:
            expires_at = _parse_time(expires, what) if expires else None
        except ProviderError:
            expires_at = None
        # Documented lifetime is one hour; assume it when GitHub leaves the time out.
        return token, expires_at or datetime.now(UTC) + timedelta(hours=1)


# --- App JWT ---------------------------------------------------------------------------------

def app_jwt(app_id: str, private_key: str, now: float | None = None) -> str:
    """The RS256 JWT a GitHub App signs to ask for an installation token.

    `iat` is backdated 60 s against clock drift and `exp` stays under GitHub's 10-minute cap.
    The PEM may come from an environment variable with literal "\\n" for its line breaks.
    """
    issued = int(time.time() if now is None else now)
    pem = private_key.strip().replace("\\n", "\n")
    try:
        key = RSAKey.import_key(pem)
    except (JoseError, ValueError, TypeError):
        # Never echo the key: the message only says which setting to fix.
        raise AuthExpired("GitHub App private key could not be read (GITHUB_APP_PRIVATE_KEY "
                          "must be the App's PEM key)") from None
    claims = {"iat": issued - 60, "exp": issued + 540, "iss": app_id}
    return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, key)


# --- errors ----------------------------------------------------------------------------------

def rate_limit_wait(response: requests.Response) -> float | None:
    """Seconds GitHub asks to wait when `response` is a rate limit, else None.

    403 and 429 both mean "rate limited" when they carry `retry-after` or
    `x-ratelimit-remaining: 0`; a 429 (or a 403 whose message says "rate limit") without
    either waits a minute. Any other 403 is a permission problem.
    """
    status = response.status_code
    if status not in (403, 429):
        return None
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    if response.headers.get("x-ratelimit-remaining") == "0":
        try:
            reset = float(response.headers.get("x-ratelimit-reset", ""))
        except ValueError:
            return DEFAULT_RATE_LIMIT_WAIT
        # +1 s: the reset is whole seconds and our clock may run a little behind GitHub's.
        return max(0.0, reset - time.time()) + 1.0
    if status == 429 or "rate limit" in error_text(response).lower():
        return DEFAULT_RATE_LIMIT_WAIT
    return None


def _raise(response: requests.Response, what: str, wait: float | None,
           not_found: str) -> NoReturn:
    status = response.status_code
    detail = error_message(response)
    suffix = f" ({detail})" if detail else ""
    if wait is not None:
        raise RateLimited(f"{what}: rate limited (HTTP {status}), retry in {wait:.0f} s{suffix}",
                          retry_after=wait)
    if status == 401:
        raise AuthExpired(f"{what}: GitHub refused the credentials (HTTP 401){suffix}")
    if status == 403:
        raise ProviderError(f"{what}: access denied (HTTP 403){suffix}")
    if status == 404:
        raise NotFound(not_found)
    raise ProviderError(f"{what}: HTTP {status}{suffix}")


# --- parsing ---------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("since/until must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ProviderError(f"{what}: unreadable time {value!r}") from None
    if moment.tzinfo is None:  # GitHub always sends an offset; treat a bare time as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _repo(item: Any, what: str) -> Repo:
    if not isinstance(item, dict) or not item.get("full_name"):
        raise ProviderError(f"{what}: expected a repository object")
    return Repo(full_name=str(item["full_name"]), id=_int_or_none(item.get("id")),
                default_branch=str(item.get("default_branch") or "main"),
                archived=bool(item.get("archived")), private=bool(item.get("private")),
                html_url=item.get("html_url"))


def _person(git: Any, account: Any) -> Person:
    git = git if isinstance(git, dict) else {}
    account = account if isinstance(account, dict) else {}  # null: e-mail not linked
    return Person(name=git.get("name"), email=git.get("email"), login=account.get("login"),
                  id=_int_or_none(account.get("id")))


def _commit(item: Any, what: str, with_stats: bool = False) -> Commit:
    if not isinstance(item, dict) or not item.get("sha") or not isinstance(item.get("commit"),
                                                                           dict):
        raise ProviderError(f"{what}: expected a commit object")
    git = item["commit"]
    author_git = git.get("author") or {}
    if not author_git.get("date"):
        raise ProviderError(f"{what}: commit {item['sha']} has no author date")
    stats = item.get("stats") if with_stats and isinstance(item.get("stats"), dict) else {}
    return Commit(
        sha=str(item["sha"]),
        message=str(git.get("message") or ""),
        authored_at=_parse_time(author_git["date"], what),
        author=_person(author_git, item.get("author")),
        committer=_person(git.get("committer"), item.get("committer")),
        parents=len(item.get("parents") or ()),
        html_url=item.get("html_url"),
        additions=_int_or_none(stats.get("additions")),
        deletions=_int_or_none(stats.get("deletions")),
    )
