"""Fake cursor.com dashboard routes for individual seats (shared/providers/cursor-dashboard.md).

Each seat is a browser session: a `WorkosCursorSessionToken` cookie `<user_id>%3A%3A<jwt>`
whose JWT payload carries `sub` and `exp`, plus the data the dashboard shows for that person.
Tests mutate the plain structures on a `Seat` (`events`, `summary`, `hard_limit`, `invoice`,
`me`) between calls to model revised and late data.

Behaviour follows the checklist in §9: `%3A%3A` and `::` cookies, 401 `not_authenticated`
(or a 200 HTML page with `expired_as_html`) for expired or revoked sessions, 403 "Invalid
origin" for a POST without the right `Origin`, events filtered by date (inclusive), newest
first, paged 1-based with `totalUsageEventsCount`, and the §6 protobuf-JSON quirks (int64 as
strings, zero fields left out, `tokenUsage: {}` on errored rows).
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from .server import FakeServer, Reply, Request

COOKIE_NAME = "WorkosCursorSessionToken"
UNLIMITED = 2147483647  # get-hard-limit's "no cap" sentinel (int32 max)
NOT_AUTHENTICATED = {
    "error": "not_authenticated",
    "description": "The user does not have an active session or is not authenticated",
}
BAD_ORIGIN = {"error": "Invalid origin for state-changing request"}
LOGIN_PAGE = ("<!DOCTYPE html><html lang=\"en\"><head><title>Cursor</title></head>"
              "<body><div id=\"__next\">Sign in</div></body></html>")
ERROR_PAGE = "<!DOCTYPE html><html><body>Internal Server Error</body></html>"
NOT_CHARGED = ("USAGE_EVENT_KIND_ERRORED_NOT_CHARGED", "USAGE_EVENT_KIND_ABORTED_NOT_CHARGED")
BILLED = "USAGE_EVENT_KIND_USAGE_BASED"

_seq = itertools.count(1)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(payload: dict[str, Any]) -> str:
    """An unsigned-looking JWT: real header and payload, a dummy signature."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{header}.{body}.{b64url(b'not-a-real-signature')}"


def _jwt_payload(jwt: str) -> dict[str, Any] | None:
    try:
        part = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return None


def _num(value: Any) -> float | int:
    """Decimal → float: the wire carries JSON numbers (float repr keeps the digits given)."""
    return float(value) if isinstance(value, Decimal) else value


def _dollars(cents: float) -> str:
    return f"${Decimal(str(cents)) / 100:.2f}"


@dataclass(eq=False)
class Seat:
    """One signed-in person. `cookie` is the value as the browser stores it."""

    user_id: str
    owning_user: str
    email: str
    name: str
    exp: datetime
    cookie: str = ""
    revoked: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    hard_limit: dict[str, Any] = field(default_factory=dict)
    invoice: dict[str, Any] = field(default_factory=dict)
    me: dict[str, Any] = field(default_factory=dict)
    me_status: int | None = None  # 404: auth/me says "User not found" (§2)
    invoice_status: int | None = None  # 401: enterprise member (§4 E6)

    def __post_init__(self) -> None:
        self.jwt = make_jwt({"sub": f"auth0|{self.user_id}", "exp": int(self.exp.timestamp()),
                             "type": "session"})
        self.cookie = f"{self.user_id}%3A%3A{self.jwt}"

    @property
    def cookie_colons(self) -> str:
        """The same cookie with a literal `::` (AgentMux style); the server accepts both."""
        return f"{self.user_id}::{self.jwt}"

    def revoke(self) -> None:
        """Server-side logout: the cookie dies before its `exp`."""
        self.revoked = True

    def add_event(self, ts_ms: int, model: str, kind: str | None = BILLED, *, input: int = 0,
                  output: int = 0, cache_write: int = 0, cache_read: int = 0,
                  total_cents: float | Decimal | None = None,
                  charged_cents: float | Decimal | None = None,
                  **fields: Any) -> dict[str, Any]:
        """Append one event in the dashboard's shape and return it (mutable).

        As the real route does: `timestamp`/`owningUser` are strings, zero token counts are
        left out, errored/aborted rows without tokens carry `tokenUsage: {}`, and
        `usageBasedCosts` is a dollar display string. `fields` (camelCase) are added last;
        a None value (or `kind=None`) removes a key.
        """
        tokens: dict[str, Any] = {}
        for key, value in (("inputTokens", input), ("outputTokens", output),
                           ("cacheWriteTokens", cache_write), ("cacheReadTokens", cache_read)):
            if value:
                tokens[key] = value
        if total_cents is not None:
            tokens["totalCents"] = _num(total_cents)
        event: dict[str, Any] = {"timestamp": str(ts_ms), "model": model, "kind": kind,
                                 "isTokenBasedCall": True, "tokenUsage": tokens,
                                 "owningUser": self.owning_user}
        if charged_cents is not None:
            event["chargedCents"] = _num(charged_cents)
        if kind == BILLED:
            cents = charged_cents if charged_cents is not None else total_cents
            event["usageBasedCosts"] = _dollars(cents or 0)
            event["isChargeable"] = True
        elif kind in NOT_CHARGED:
            event["usageBasedCosts"] = "-"
        else:
            event["usageBasedCosts"] = "-"
            event["isChargeable"] = True
        if kind is None:
            del event["kind"]  # proto3 leaves UNSPECIFIED (0) out
        for key, value in fields.items():
            if value is None:
                event.pop(key, None)
            else:
                event[key] = _num(value)
        self.events.append(event)
        return event

    def set_invoice(self, items: list[tuple[str, int]], **fields: Any) -> None:
        """`items` as (description, cents) pairs; cents are integers on this route."""
        self.invoice = {"items": [{"description": d, "cents": c} for d, c in items], **fields}


class FakeCursorDashboard(FakeServer):
    """cursor.com for several individual seats. Knobs are plain attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.seats: list[Seat] = []
        self.origin: str | None = None  # None: the fake's own URL
        self.require_referer = False  # §1.4: unconfirmed that Referer is needed
        self.expired_as_html = False  # dead sessions get the SPA's HTML with 200 (burnrate)
        self.duplicate_at_page_boundary = False  # last row of page N repeats atop page N+1
        self.short_page = False  # page 1 (when not final) is one row short; rows shift later
        self.ignore_dates = False  # serve every event whatever startDate/endDate say
        self.now: datetime | None = None  # clock for `exp` checks (None: real time)
        self.route("POST", "/api/dashboard/get-filtered-usage-events", self._events)
        self.route("GET", "/api/usage-summary", self._summary)
        self.route("POST", "/api/dashboard/get-hard-limit", self._hard_limit)
        self.route("POST", "/api/dashboard/get-monthly-invoice", self._invoice)
        self.route("GET", "/api/auth/me", self._me)
        self.route("GET", "/api/dashboard/teams", lambda r: Reply(500, ERROR_PAGE))
        self.route("POST", "/api/dashboard/teams", self._teams)

    # --- seats -------------------------------------------------------------------------
    def add_seat(self, user_id: str | None = None, owning_user: str | None = None,
                 email: str | None = None, exp: datetime | None = None,
                 name: str | None = None) -> Seat:
        n = next(_seq)
        user_id = user_id or f"user_01K1{n:022d}"
        seat = Seat(user_id=user_id, owning_user=owning_user or str(152683900 + n),
                    email=email or f"seat{n}@example.com", name=name or f"Seat {n}",
                    exp=exp or datetime.now(UTC) + timedelta(days=60))
        now = datetime.now(UTC)
        seat.summary = {
            "billingCycleStart": _iso(now.replace(day=1, hour=0, minute=0, second=0,
                                                  microsecond=0)),
            "billingCycleEnd": _iso((now.replace(day=1) + timedelta(days=32)).replace(
                day=1, hour=0, minute=0, second=0, microsecond=0)),
            "membershipType": "pro",
            "limitType": "user",
            "isUnlimited": False,
            "individualUsage": {
                "plan": {"enabled": True, "used": 0, "limit": 2000, "remaining": 2000,
                         "autoPercentUsed": 0, "apiPercentUsed": 0, "totalPercentUsed": 0},
                "onDemand": {"enabled": False, "used": 0, "limit": None, "remaining": None},
            },
        }
        seat.hard_limit = {"hardLimit": UNLIMITED}
        seat.invoice = {"items": []}
        seat.me = {"email": seat.email, "email_verified": True, "name": seat.name,
                   "sub": f"auth0|{user_id}"}
        self.seats.append(seat)
        return seat

    def _clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def _seat(self, request: Request) -> Seat | None:
        """The live seat the request's cookie belongs to (None: no valid session)."""
        value = None
        for part in request.headers.get("cookie", "").split(";"):
            name, _, v = part.strip().partition("=")
            if name == COOKIE_NAME:
                value = unquote(v.strip())
        if not value or "::" not in value:
            return None
        user_id, _, jwt = value.rpartition("::")
        payload = _jwt_payload(jwt)
        if payload is None or not isinstance(payload.get("exp"), int | float):
            return None
        if payload["exp"] < self._clock().timestamp():
            return None
        for seat in self.seats:
            if seat.user_id == user_id and seat.jwt == jwt and not seat.revoked:
                return seat
        return None

    def _unauthenticated(self) -> Reply:
        if self.expired_as_html:
            return Reply(200, LOGIN_PAGE)
        return Reply(401, NOT_AUTHENTICATED)

    def _guard(self, request: Request) -> tuple[Seat | None, Reply | None]:
        """CSRF check for POSTs (before the session, like a middleware), then the session."""
        if request.method == "POST":
            origin = self.origin or self.url
            if request.headers.get("origin") != origin:
                return None, Reply(403, BAD_ORIGIN)
            referer = request.headers.get("referer", "")
            if self.require_referer and not referer.startswith(origin + "/dashboard"):
                return None, Reply(403, BAD_ORIGIN)
        seat = self._seat(request)
        return (seat, None) if seat else (None, self._unauthenticated())

    @staticmethod
    def _body(request: Request) -> dict[str, Any] | Reply:
        try:
            body = request.json()
        except ValueError:
            return Reply(400, {"error": "invalid JSON body"})
        return body if isinstance(body, dict) else {}

    # --- routes ------------------------------------------------------------------------
    def _events(self, request: Request) -> Reply:
        seat, refused = self._guard(request)
        if refused:
            return refused
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        start, end = _ms(body.get("startDate")), _ms(body.get("endDate"))
        rows = [e for e in seat.events
                if self.ignore_dates or ((start is None or int(e["timestamp"]) >= start)
                                         and (end is None or int(e["timestamp"]) <= end))]
        rows.sort(key=lambda e: int(e["timestamp"]), reverse=True)  # newest first, stable
        page, size = int(body.get("page") or 1), int(body.get("pageSize") or 100)
        if size > 1000:  # the RPC twin "silently returns 0 events" (tokusage)
            return Reply(200, {"totalUsageEventsCount": 0, "usageEventsDisplay": []})
        first, last = self._page_bounds(page, size, len(rows))
        return Reply(200, {"totalUsageEventsCount": len(rows),
                           "usageEventsDisplay": rows[first:last]})

    def _page_bounds(self, page: int, size: int, count: int) -> tuple[int, int]:
        """[first, last) row indices of a 1-based page, with the boundary knobs applied.

        duplicate_at_page_boundary: each page starts one row earlier than the one before it
        ended (as if a new event arrived while paging newest first). short_page: page 1 is one
        row short and every later page shifts by one, so the row is served on page 2.
        """
        step = size - 1 if self.duplicate_at_page_boundary and size > 1 else size
        first = (page - 1) * step
        last = first + size
        if self.short_page and count > size - 1 and size > 1:
            if page == 1:
                last -= 1
            else:
                first, last = first - 1, last - 1
        return max(first, 0), max(last, 0)

    def _summary(self, request: Request) -> Reply:
        seat, refused = self._guard(request)
        return refused or Reply(200, seat.summary)

    def _hard_limit(self, request: Request) -> Reply:
        seat, refused = self._guard(request)
        return refused or Reply(200, seat.hard_limit)

    def _invoice(self, request: Request) -> Reply:
        seat, refused = self._guard(request)
        if refused:
            return refused
        if seat.invoice_status:
            return Reply(seat.invoice_status, NOT_AUTHENTICATED)
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        month = body.get("month")
        if not isinstance(month, int) or not 1 <= month <= 12 or not body.get("year"):
            return Reply(400, {"error": "month and year are required"})
        return Reply(200, seat.invoice)

    def _me(self, request: Request) -> Reply:
        seat, refused = self._guard(request)
        if refused:
            return refused
        if seat.me_status:
            return Reply(seat.me_status, {"error": "User not found"})
        return Reply(200, seat.me)

    def _teams(self, request: Request) -> Reply:
        _, refused = self._guard(request)
        return refused or Reply(200, {})  # individuals: no `teams` key


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _ms(value: Any) -> int | None:
    """startDate/endDate: epoch ms as a JSON string or number (protobuf JSON accepts both)."""
    if value is None or value == "":
        return None
    return int(value)
