"""A fake Cursor Admin API (shared/providers/cursor.md §1, §2, §4, §5.1, §8).

Data lives in plain lists the tests mutate between calls (revised values, late data):
`events` in the API's own shape (built with `add_event`), `members` (`add_member`) and
`groups` (billing groups as `GET /teams/groups` lists them).
Knobs: `max_page_size` caps the page size a client asks for (forces several pages),
`rate_limit_per_minute` turns on Cursor's per-team token bucket (429 without Retry-After).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .server import FakeServer, Reply, Request

DEFAULT_KEY = "key_" + "0" * 64
DEFAULT_PAGE_SIZE = 10  # documented default when the body has no pageSize
DEFAULT_RANGE_MS = 30 * 24 * 3600 * 1000  # no dates given: about the last 30 days

UNAUTHORIZED = {"error": "Unauthorized", "message": "Invalid API key"}
TOO_MANY = {"error": "Too Many Requests",
            "message": "Rate limit exceeded. Please try again later."}

# Cents per million tokens (Claude Sonnet list prices) for events built without a total.
_CENTS_PER_MTOK = {"input": 300, "output": 1500, "cache_write": 375, "cache_read": 30}
_NOT_CHARGED_KINDS = ("Included in Business", "Included", "Free", "Errored, Not Charged",
                      "Aborted, Not Charged")


def _bad_request(message: str) -> Reply:
    return Reply(400, {"error": "Bad Request", "message": message})


def _json_number(value: Any) -> Any:
    """Decimals from tests go out as JSON numbers (float repr keeps short decimals exact)."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class FakeCursorAdmin(FakeServer):
    def __init__(self, api_keys: Iterable[str] = (DEFAULT_KEY,)) -> None:
        super().__init__()
        self.api_keys: set[str] = set(api_keys)
        self.events: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []  # billing groups in the API's shape (§5.1)
        self.max_page_size: int | None = None
        self.rate_limit_per_minute: int | None = None
        self._bucket: float | None = None
        self._bucket_limit: int | None = None
        self._bucket_at = 0.0
        self._bucket_lock = threading.Lock()
        self.route("POST", "/teams/filtered-usage-events", self._usage_events)
        self.route("GET", "/teams/filtered-usage-events", self._method_not_allowed)
        self.route("GET", "/teams/members", self._members)
        self.route("POST", "/teams/members", self._method_not_allowed)
        self.route("GET", "/teams/groups", self._groups)

    # --- helpers for tests ----------------------------------------------------------------

    def revoke(self, key: str) -> None:
        self.api_keys.discard(key)

    def add_event(self, ts_ms: int, email: str, model: str, kind: str = "Usage-based", *,
                  input: int = 0, output: int = 0, cache_write: int = 0, cache_read: int = 0,
                  total_cents: float | Decimal | None = None,
                  charged_cents: float | Decimal | None = None,
                  token_based: bool = True, **fields: Any) -> dict[str, Any]:
        """Append one event as the API sends it and return it (tests may mutate it).

        `tokenUsage` is present only for token-based calls; without `total_cents` it is
        priced at Sonnet list prices. `chargedCents` is sent only when given. `fields` adds or
        overrides API fields (`maxMode=True`, `cursorTokenFee=1.18`, `isHeadless=True`…).
        """
        event: dict[str, Any] = {
            "timestamp": str(int(ts_ms)),
            "userEmail": email,
            "model": model,
            "kind": kind,
            "maxMode": False,
            "requestsCosts": 1,
            "isTokenBasedCall": token_based,
            "isChargeable": kind not in _NOT_CHARGED_KINDS,
            "isHeadless": False,
        }
        if token_based:
            if total_cents is None:
                total_cents = round(sum(
                    n * _CENTS_PER_MTOK[name] / 1_000_000 for name, n in
                    (("input", input), ("output", output), ("cache_write", cache_write),
                     ("cache_read", cache_read))), 5)
            event["tokenUsage"] = {"inputTokens": input, "outputTokens": output,
                                   "cacheWriteTokens": cache_write,
                                   "cacheReadTokens": cache_read, "totalCents": total_cents}
        if charged_cents is not None:
            event["chargedCents"] = charged_cents
        event["isFreeBugbot"] = False
        event.update(fields)
        self.events.append(event)
        return event

    def add_member(self, id: int, email: str, name: str, role: str = "member",
                   removed: bool = False) -> dict[str, Any]:
        member = {"id": id, "name": name, "email": email, "role": role, "isRemoved": removed}
        self.members.append(member)
        return member

    # --- routes ---------------------------------------------------------------------------

    def _usage_events(self, request: Request) -> Reply:
        refused = self._check_auth(request) or self._take_token()
        if refused:
            return refused
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _bad_request("Invalid JSON body")
        if not isinstance(body, dict):
            return _bad_request("Invalid JSON body")
        numbers = {}
        for name in ("startDate", "endDate", "page", "pageSize"):
            value = body.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return _bad_request(f"{name} must be a number")
            numbers[name] = value
        end = numbers["endDate"] if numbers["endDate"] is not None else int(time.time() * 1000)
        start = numbers["startDate"] if numbers["startDate"] is not None \
            else end - DEFAULT_RANGE_MS
        page = numbers["page"] or 1
        size = numbers["pageSize"] or DEFAULT_PAGE_SIZE
        if page < 1 or size < 1:
            return _bad_request("page and pageSize must be positive")
        if self.max_page_size is not None:
            size = min(size, self.max_page_size)

        email = body.get("email")
        matching = [e for e in list(self.events)
                    if start <= int(e["timestamp"]) <= end  # both ends inclusive
                    and (email is None or str(e.get("userEmail", "")).lower() == email.lower())]
        matching.sort(key=lambda e: int(e["timestamp"]), reverse=True)  # newest first
        pages = math.ceil(len(matching) / size)
        payload = {
            "totalUsageEventsCount": len(matching),
            "pagination": {"numPages": pages, "currentPage": page, "pageSize": size,
                           "hasNextPage": page < pages, "hasPreviousPage": page > 1},
            "usageEvents": matching[(page - 1) * size:page * size],
            "period": {"startDate": start, "endDate": end},
        }
        return Reply(200, json.dumps(payload, default=_json_number),
                     content_type="application/json")

    def _members(self, request: Request) -> Reply:
        refused = self._check_auth(request)
        if refused:
            return refused
        return Reply(200, {"teamMembers": list(self.members)})

    def _groups(self, request: Request) -> Reply:
        """`GET /teams/groups`: every group plus the "Unassigned" pseudo-group (§5.1)."""
        refused = self._check_auth(request)
        if refused:
            return refused
        unassigned = {"id": "group_unassigned", "name": "Unassigned", "type": "BILLING",
                      "directoryGroupId": None, "memberCount": 0, "spendCents": 0,
                      "currentMembers": [], "formerMembers": [], "dailySpend": []}
        groups = [{"type": "BILLING", "directoryGroupId": None, "spendCents": 0,
                   "dailySpend": [], "formerMembers": [], **g,
                   "memberCount": len(g.get("currentMembers", []))} for g in self.groups]
        return Reply(200, {"groups": groups, "unassignedGroup": unassigned,
                           "billingCycle": {"cycleStart": "2026-11-01", "cycleEnd": "2026-11-30"}})

    def _method_not_allowed(self, request: Request) -> Reply:
        return Reply(405, {"error": "Method Not Allowed",
                           "message": f"{request.method} is not supported on {request.path}"})

    # --- auth and rate limit --------------------------------------------------------------

    def _check_auth(self, request: Request) -> Reply | None:
        """Basic auth with the key as user name; the password is ignored (usually empty)."""
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return Reply(401, UNAUTHORIZED)
        try:
            user, _, _password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return Reply(401, UNAUTHORIZED)
        if not user.startswith("key_") or user not in self.api_keys:
            return Reply(401, UNAUTHORIZED)
        return None

    def _take_token(self) -> Reply | None:
        """Per-team token bucket: `rate_limit_per_minute` requests, refilled continuously."""
        limit = self.rate_limit_per_minute
        if limit is None:
            return None
        with self._bucket_lock:
            now = time.monotonic()
            if self._bucket is None or self._bucket_limit != limit:  # new or changed knob
                self._bucket, self._bucket_limit = float(limit), limit
            else:
                self._bucket = min(float(limit),
                                   self._bucket + (now - self._bucket_at) * limit / 60.0)
            self._bucket_at = now
            if self._bucket < 1:
                return Reply(429, TOO_MANY)  # Cursor documents no Retry-After header
            self._bucket -= 1
        return None
