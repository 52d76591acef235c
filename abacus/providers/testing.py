"""Test kit for provider authors: a fake HTTP server base and a normalization checker.

    from abacus.providers.testing import FakeServer, Reply, check_provider

    class FakeAcme(FakeServer):
        def __init__(self):
            super().__init__()
            self.route("GET", "/v1/usage", lambda req: Reply(200, {"data": [...]}))

    with FakeAcme() as fake:
        records = check_provider(AcmeProvider(), AccountConfig("t", {"key": "k"}, fake.url),
                                 Window(start, end))

`FakeServer` is a real HTTP server on 127.0.0.1 (not a mock): subclasses register routes with
`route(method, path, handler)` and answer with `Reply`; every request is recorded
(`requests`), and faults can be queued (`fail_next`) to answer the next matching requests with
a given status, body and headers before the route runs. `check_provider` fetches a window
twice and checks the invariants the sync engine and `ingest` rely on.
"""


from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .base import AccountConfig, Provider, UsageRecord, Window


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/html; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


@dataclass
class Fault:
    reply: Reply
    times: int
    path: str | None = None  # None: any path


Handler = Callable[[Request], Reply]


class FakeServer:
    """Start with `with FakeX() as fake:` (or start()/stop()); `fake.url` is its base URL."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.delay = 0.0  # seconds every answer waits (slow-provider and kill tests)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- routing -------------------------------------------------------------------------
    def route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method.upper(), path)] = handler

    def fail_next(self, status: int, body: Any = None, *, times: int = 1,
                  headers: dict[str, str] | None = None, path: str | None = None,
                  content_type: str | None = None) -> None:
        """Answer the next `times` requests (to `path`, or any) with this reply."""
        with self._lock:
            self.faults.append(Fault(Reply(status, body, headers or {}, content_type),
                                     times, path))

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def _dispatch(self, request: Request) -> Reply:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.requests.append(request)
            for fault in self.faults:
                if fault.times > 0 and (fault.path is None or fault.path == request.path):
                    fault.times -= 1
                    return fault.reply
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            return self.not_found(request)
        return handler(request)

    def not_found(self, request: Request) -> Reply:
        return Reply(404, {"error": "Not Found", "message": f"no route {request.path}"})

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm on, every reply
            # on a kept-alive connection waited ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, parts.path, parse_qs(parts.query),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                reply = fake._dispatch(request)
                payload, content_type = reply.encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- normalization invariants -------------------------------------------------------------

def record_problems(provider: Provider, window: Window,
                    records: list[UsageRecord]) -> list[str]:
    """What is wrong with these records (empty list: nothing)."""
    problems: list[str] = []
    days = set(window.days)
    seen: set[tuple] = set()
    for i, r in enumerate(records):
        where = f"record {i} ({r.event_key!r})"
        if not r.event_key:
            problems.append(f"{where}: empty event_key")
        if r.tool != provider.tool:
            problems.append(f"{where}: tool {r.tool!r}, provider declares {provider.tool!r}")
        if r.occurred_at.utcoffset() is None:
            problems.append(f"{where}: occurred_at is naive")
        elif r.occurred_at.astimezone(UTC).date() not in days:
            problems.append(f"{where}: occurred_at {r.occurred_at.isoformat()} is outside "
                            f"the window's days")
        for name in ("input_tokens", "output_tokens", "cache_write_tokens",
                     "cache_read_tokens"):
            value = getattr(r, name)
            if type(value) is not int or value < 0:
                problems.append(f"{where}: {name} must be a non-negative int, got {value!r}")
        if r.cost_usd is not None and (not isinstance(r.cost_usd, Decimal)
                                       or r.cost_usd < 0 or not r.cost_usd.is_finite()):
            problems.append(f"{where}: cost_usd must be a non-negative Decimal or None, "
                            f"got {r.cost_usd!r}")
        if not r.actor:
            problems.append(f"{where}: empty actor (keep unattributed usage under a name)")
        try:
            json.dumps(r.extras, default=_decimal_only)
        except TypeError as exc:
            problems.append(f"{where}: extras are not JSON-serializable ({exc})")
        whole = (r.event_key, r.occurred_at, r.actor, r.raw_model, r.kind, r.input_tokens,
                 r.output_tokens, r.cache_write_tokens, r.cache_read_tokens, r.cost_usd,
                 json.dumps(r.extras, default=str, sort_keys=True))
        if whole in seen:
            problems.append(f"{where}: exact duplicate of an earlier record (a page read "
                            "twice?)")
        seen.add(whole)
    return problems


def _decimal_only(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def check_provider(provider: Provider, account: AccountConfig, window: Window) -> list[UsageRecord]:
    """Fetch `window` twice; assert the invariants hold and both fetches agree. Returns the
    records of the first fetch."""
    first = [r for page in provider.fetch(account, window, None) for r in page.records]
    problems = record_problems(provider, window, first)
    second = [r for page in provider.fetch(account, window, None) for r in page.records]
    if sorted(map(repr, first)) != sorted(map(repr, second)):
        problems.append("two fetches of the same window returned different records "
                        "(event keys or values are not deterministic)")
    if problems:
        raise AssertionError(f"{provider.id}: " + "; ".join(problems[:20]))
    return first
