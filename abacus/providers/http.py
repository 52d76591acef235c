"""One HTTP session factory for every provider: timeouts, retries, pacing, proxy.

Retries come from urllib3's `Retry`: 5xx and 429 are retried with exponential backoff, a
`Retry-After` header is honoured when the wait is short; a longer wait ends the retries so the
sync engine can park the account until then instead of holding a worker. What is left after
retries is turned into the typed errors of `providers.base` by `raise_for_status`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from .base import AuthExpired, ProviderError, RateLimited

USER_AGENT = "Abacus/0.1 (self-hosted AI usage tracker)"
RETRY_STATUSES = (429, 500, 502, 503, 504, 529)
DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, read (seconds)


class HttpSettings:
    """Process-wide knobs (tests shrink them); set from the app config at start."""

    retries: int = 4
    backoff_factor: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 120.0  # a longer Retry-After parks the account instead
    timeout: tuple[float, float] = DEFAULT_TIMEOUT


class _Retry(Retry):
    """urllib3 Retry that stops (instead of sleeping) when Retry-After asks for a long wait.

    Raising MaxRetryError here makes urllib3 hand back the 429 itself (raise_on_status is
    off), so the caller still sees its Retry-After and can park the account until then.
    """

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):
        if response is not None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > HttpSettings.max_retry_after:
                raise MaxRetryError(_pool, url, "Retry-After longer than this run waits")
        return super().increment(method, url, response, error, _pool, _stacktrace)


class PacedSession(requests.Session):
    """A Session that waits `min_interval` seconds between requests and applies timeouts."""

    def __init__(self, min_interval: float = 0.0, timeout: tuple[float, float] | None = None):
        super().__init__()
        self.min_interval = min_interval
        self.timeout = timeout or HttpSettings.timeout
        self._last = 0.0
        self._lock = threading.Lock()

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        if self.min_interval > 0:
            with self._lock:
                wait = self._last + self.min_interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self._last = time.monotonic()
        return super().request(method, url, *args, **kwargs)


def make_session(*, proxy_url: str | None = None, min_interval: float = 0.0,
                 headers: dict[str, str] | None = None,
                 retries: int | None = None) -> PacedSession:
    """A session with timeouts, retry/backoff (Retry-After aware), pacing and a proxy."""
    retry = _Retry(
        total=HttpSettings.retries if retries is None else retries,
        connect=2, read=2,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # the POSTs Abacus sends are read-only queries
        backoff_factor=HttpSettings.backoff_factor,
        backoff_max=HttpSettings.backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = PacedSession(min_interval=min_interval)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers.update(headers or {})
    if proxy_url:
        session.proxies = {"http": proxy_url, "https": proxy_url}
        session.trust_env = False
    return session


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


# A provider's error type or code: one identifier, never free text.
_ERROR_CODE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")


def error_message(response: requests.Response) -> str:
    """The provider's error type/code from a JSON error body (`authentication_error`), or "".

    Only an identifier: the response may come from any host an account's base URL or proxy
    names, and what is returned here is stored as the account's error and shown on Status, so
    free text from the body (which could be an internal service's answer) never is.
    """
    body = _json_or_none(response)
    if not isinstance(body, dict):
        return ""
    err = body.get("error")
    candidates = [err.get("type"), err.get("code")] if isinstance(err, dict) else [err]
    candidates += [body.get("code"), body.get("type")]
    for value in candidates:
        if isinstance(value, str) and _ERROR_CODE_RE.fullmatch(value) and value != "error":
            return value
    return ""


def error_text(response: requests.Response) -> str:
    """The provider's own error text, to classify an error by. Never store or show it."""
    body = _json_or_none(response)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or "")[:200]
        parts = [str(body[k]) for k in ("message", "description") if body.get(k)]
        if not parts and err:
            parts = [str(err)]
        return " ".join(parts)[:200]
    return ""


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def raise_for_status(response: requests.Response, what: str,
                     auth_statuses: tuple[int, ...] = (401, 403)) -> None:
    """Turn a failed response into AuthExpired / RateLimited / ProviderError."""
    status = response.status_code
    if status < 400:
        return
    detail = error_message(response)
    message = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
    if status in auth_statuses:
        raise AuthExpired(message)
    if status == 429:
        raise RateLimited(message, retry_after_seconds(response))
    raise ProviderError(message)


_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9.+-]{1,40}/[A-Za-z0-9.+-]{1,60}")


def json_body(response: requests.Response, what: str) -> Any:
    """Parse a JSON body with exact decimals (money never passes through float)."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        kind = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        if not _CONTENT_TYPE_RE.fullmatch(kind):
            kind = "no usable content type"  # the header is the host's text, like a body
        raise ProviderError(f"{what}: expected JSON, got {kind}") from None


def send(session: requests.Session, method: str, url: str, what: str,
         **kwargs) -> requests.Response:
    """Send; transport failures become typed errors naming `what` and the host that could
    not be reached (only its name and port: never the URL's path, query or credentials)."""
    host = host_of(url)
    try:
        return session.request(method, url, **kwargs)
    except requests.exceptions.RetryError as exc:
        raise RateLimited(f"{what}: still failing after retries") from exc
    except requests.exceptions.ProxyError as exc:
        raise ProviderError(f"{what}: the proxy refused the connection to {host}") from exc
    except requests.exceptions.Timeout as exc:
        raise ProviderError(f"{what}: {host} timed out") from exc
    except requests.exceptions.ConnectionError as exc:
        raise ProviderError(f"{what}: could not connect to {host}") from exc


def host_of(url: str) -> str:
    """`host` or `host:port` of a URL, for error messages; "the server" when it has none."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "the server"
    if not host:
        return "the server"
    return f"{host}:{port}" if port else host


def request(session: requests.Session, method: str, url: str, what: str, **kwargs) -> Any:
    """Send, map errors to typed exceptions, return the parsed JSON body."""
    response = send(session, method, url, what, **kwargs)
    raise_for_status(response, what)
    return json_body(response, what)
