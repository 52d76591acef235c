"""A fake Anthropic Admin API: Claude Code Analytics report plus the users / API keys lists.

Follows /work/shared/providers/anthropic.md: `x-api-key` auth with the documented error body,
a `request-id` header on every reply, the report's `page`/`next_page` paging over a snapshot
taken when a pagination session starts (the API keeps "a consistent data boundary"), and the
directory lists' `after_id`/`before_id` paging with `first_id`/`last_id`/`has_more`.

Data lives in plain structures tests edit between calls (revised values, late data):
`claude_code` (day → records in API shape), `users` and `api_keys` (lists of API objects).
"""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import json
import re
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from .server import FakeServer, Reply, Request, limit_arg

CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
USERS_PATH = "/v1/organizations/users"
API_KEYS_PATH = "/v1/organizations/api_keys"
ME_PATH = "/v1/organizations/me"

DEFAULT_ORG_ID = "dc9f6c26-b22c-4831-8d01-0446bada88f1"
KEY_STATUSES = ("active", "inactive", "archived", "expired")
_DEC = "@@decimal@@"  # marks Decimals while encoding, see _dumps
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# (model, input, output, cache_read, cache_creation, cost_cents)
ModelUsage = tuple[str, int, int, int, int, Any]


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """The documented error envelope (type, error.type, error.message, request_id)."""
    return {"type": "error", "error": {"type": error_type, "message": message},
            "request_id": _request_id()}


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex[:24]


def _invalid(message: str) -> Reply:
    return Reply(400, error_body("invalid_request_error", message))


class FakeAnthropic(FakeServer):
    """Start with `with FakeAnthropic() as fake:`; point an account's base_url at `fake.url`.

    Knobs: `short_pages` (report pages hold `short_page_size` records while `has_more` is
    true, fewer than the `limit` asked for), `list_page_cap` (directory lists never return
    more than this many items per page, whatever `limit` says), `require_version` (400 when
    the `anthropic-version` header is missing).
    """

    def __init__(self, admin_keys: tuple[str, ...] = ("sk-ant-admin01-test",)) -> None:
        super().__init__()
        self.admin_keys: set[str] = set(admin_keys)
        self.claude_code: dict[str, list[dict[str, Any]]] = {}
        self.users: list[dict[str, Any]] = []
        self.api_keys: list[dict[str, Any]] = []
        self.organization: dict[str, Any] = {"id": DEFAULT_ORG_ID, "type": "organization",
                                             "name": "Example Org"}
        self.short_pages = False
        self.short_page_size = 2
        self.list_page_cap: int | None = None
        self.require_version = True
        # Report pagination sessions: id → (day, records as they were on the first page).
        self._sessions: dict[int, tuple[str, list[dict[str, Any]]]] = {}
        self._session_ids = itertools.count(1)
        self.route("GET", CLAUDE_CODE_PATH, self._guarded(self._claude_code))
        self.route("GET", USERS_PATH, self._guarded(self._users))
        self.route("GET", API_KEYS_PATH, self._guarded(self._api_keys))
        self.route("GET", ME_PATH, self._guarded(lambda request: Reply(200, self.organization)))

    # --- helpers for tests ----------------------------------------------------------------
    def revoke(self, key: str) -> None:
        """Later requests with this key get 401."""
        self.admin_keys.discard(key)

    def add_claude_code(self, day: date | str, actor_email: str | None = None,
                        api_key_name: str | None = None,
                        models: list[ModelUsage] | tuple[ModelUsage, ...] = (),
                        date_format: str = "rfc3339", **fields: Any) -> dict[str, Any]:
        """Add one actor-day record (returned, so a test can edit it later).

        `models` rows are (model, input, output, cache_read, cache_creation, cost_cents);
        `fields` override top-level record fields (core_metrics, tool_actions, is_remote…).
        """
        if (actor_email is None) == (api_key_name is None):
            raise ValueError("give exactly one of actor_email and api_key_name")
        day_s = day.isoformat() if isinstance(day, date) else day
        if actor_email is not None:
            actor = {"type": "user_actor", "email_address": actor_email}
            customer_type, subscription_type = "subscription", "team"
        else:
            actor = {"type": "api_actor", "api_key_name": api_key_name}
            customer_type, subscription_type = "api", None
        record: dict[str, Any] = {
            "date": day_s if date_format == "date" else f"{day_s}T00:00:00Z",
            "actor": actor,
            "organization_id": DEFAULT_ORG_ID,
            "customer_type": customer_type,
            "subscription_type": subscription_type,
            "terminal_type": "vscode",
            "core_metrics": {
                "num_sessions": 3,
                "lines_of_code": {"added": 120, "removed": 30},
                "commits_by_claude_code": 1,
                "pull_requests_by_claude_code": 0,
            },
            "tool_actions": {
                "edit_tool": {"accepted": 12, "rejected": 1},
                "multi_edit_tool": {"accepted": 4, "rejected": 0},
                "write_tool": {"accepted": 2, "rejected": 1},
                "notebook_edit_tool": {"accepted": 0, "rejected": 0},
            },
            "model_breakdown": [model_entry(*row) for row in models],
        }
        record.update(fields)
        self.claude_code.setdefault(day_s, []).append(record)
        return record

    def add_user(self, id: str, email: str, name: str, role: str = "developer"
                 ) -> dict[str, Any]:
        user = {"id": id, "type": "user", "email": email, "name": name, "role": role,
                "added_at": "2024-10-30T23:58:27.427722Z"}
        self.users.append(user)
        return user

    def add_api_key(self, id: str, name: str, created_by_user_id: str | None,
                    status: str = "active", workspace_id: str | None = None
                    ) -> dict[str, Any]:
        key = {"id": id, "type": "api_key", "name": name,
               "created_at": "2024-10-30T23:58:27.427722Z",
               "created_by": {"id": created_by_user_id, "type": "user"},
               "expires_at": None, "partial_key_hint": "sk-ant-api03-R2D...igAA",
               "status": status, "workspace_id": workspace_id}
        self.api_keys.append(key)
        return key

    def rate_limit(self, times: int = 1, retry_after: str | None = "1",
                   path: str | None = None) -> None:
        """Answer the next `times` requests with 429 rate_limit_error (± a retry-after)."""
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        self.fail_next(429, error_body("rate_limit_error", "Rate limit exceeded"),
                       times=times, headers=headers, path=path)

    def report_requests(self, day: str | None = None) -> list[Request]:
        """Requests to the Claude Code report (for one `starting_at` day, or all)."""
        return [r for r in self.requests_to(CLAUDE_CODE_PATH)
                if day is None or r.arg("starting_at") == day]

    # --- server plumbing ------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Reply:
        reply = super()._dispatch(request)
        if isinstance(reply.body, dict | list):
            reply = replace(reply, body=_dumps(reply.body),
                            content_type=reply.content_type or "application/json")
        # Faults are shared Reply objects: answer with a copy carrying this request's id.
        return replace(reply, headers={**reply.headers, "request-id": _request_id()})

    def not_found(self, request: Request) -> Reply:
        return Reply(404, error_body("not_found_error", f"Not found: {request.path}"))

    def _guarded(self, handler):
        def guarded(request: Request) -> Reply:
            key = request.headers.get("x-api-key")
            if not key or key not in self.admin_keys:
                return Reply(401, error_body("authentication_error", "invalid x-api-key"))
            if self.require_version and not request.headers.get("anthropic-version"):
                return _invalid("anthropic-version: header is required")
            return handler(request)
        return guarded

    # --- Claude Code Analytics report -----------------------------------------------------
    def _claude_code(self, request: Request) -> Reply:
        day = request.arg("starting_at")
        if day is None or not _DAY.match(day):
            return _invalid("starting_at: expected a date in YYYY-MM-DD format")
        try:
            date.fromisoformat(day)
        except ValueError:
            return _invalid(f"starting_at: invalid date {day}")
        limit = _limit(request, default=20)
        if isinstance(limit, Reply):
            return limit
        token = request.arg("page")
        if token is None:
            session = next(self._session_ids)
            self._sessions[session] = (day, copy.deepcopy(self.claude_code.get(day, [])))
            offset = 0
        else:
            decoded = _decode_page(token)
            if decoded is None or decoded[0] not in self._sessions:
                return _invalid("page: invalid page token")
            session, offset = decoded
            if self._sessions[session][0] != day:
                return _invalid("page: token belongs to another starting_at")
        records = self._sessions[session][1]
        size = min(limit, self.short_page_size) if self.short_pages else limit
        chunk = records[offset:offset + size]
        end = offset + len(chunk)
        has_more = end < len(records)
        return Reply(200, {"data": copy.deepcopy(chunk), "has_more": has_more,
                           "next_page": _encode_page(session, end) if has_more else None})

    # --- directory lists ------------------------------------------------------------------
    def _users(self, request: Request) -> Reply:
        items = self.users
        email = request.arg("email")
        if email is not None:
            items = [u for u in items if u["email"] == email]
        return self._list_page(request, items)

    def _api_keys(self, request: Request) -> Reply:
        items = self.api_keys
        status = request.arg("status")
        if status is not None:
            if status not in KEY_STATUSES:
                return _invalid(f"status: must be one of {', '.join(KEY_STATUSES)}")
            items = [k for k in items if k["status"] == status]
        creator = request.arg("created_by_user_id")
        if creator is not None:
            items = [k for k in items if k["created_by"]["id"] == creator]
        return self._list_page(request, items)

    def _list_page(self, request: Request, items: list[dict[str, Any]]) -> Reply:
        limit = _limit(request, default=20)
        if isinstance(limit, Reply):
            return limit
        if self.list_page_cap is not None:
            limit = min(limit, self.list_page_cap)
        ids = [item["id"] for item in items]
        after, before = request.arg("after_id"), request.arg("before_id")
        if after is not None and before is not None:
            return _invalid("after_id and before_id cannot both be given")
        if after is not None:
            if after not in ids:
                return _invalid(f"after_id: unknown id {after}")
            start = ids.index(after) + 1
            chunk = items[start:start + limit]
            has_more = start + len(chunk) < len(items)
        elif before is not None:
            if before not in ids:
                return _invalid(f"before_id: unknown id {before}")
            stop = ids.index(before)
            chunk = items[max(0, stop - limit):stop]
            has_more = stop - len(chunk) > 0
        else:
            chunk = items[:limit]
            has_more = len(chunk) < len(items)
        return Reply(200, {"data": copy.deepcopy(chunk), "has_more": has_more,
                           "first_id": chunk[0]["id"] if chunk else None,
                           "last_id": chunk[-1]["id"] if chunk else None})


def model_entry(model: str, input: int, output: int, cache_read: int, cache_creation: int,
                cost_cents: Any) -> dict[str, Any]:
    """One `model_breakdown[]` entry; `cost_cents` may be fractional (a Decimal)."""
    return {"model": model,
            "tokens": {"input": input, "output": output, "cache_read": cache_read,
                       "cache_creation": cache_creation},
            "estimated_cost": {"currency": "USD", "amount": cost_cents}}


def _dumps(body: Any) -> bytes:
    """JSON with Decimals written as exact JSON numbers (fractional cents stay exact)."""
    return re.sub(f'"{_DEC}(.*?){_DEC}"', r"\1", json.dumps(body, default=_mark)).encode()


def _mark(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{_DEC}{value}{_DEC}"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _limit(request: Request, default: int) -> int | Reply:
    return limit_arg(request, default, 1000, _invalid, "limit: expected an integer",
                     "limit: must be between 1 and 1000")


def _encode_page(session: int, offset: int) -> str:
    return "page_" + base64.urlsafe_b64encode(f"{session}:{offset}".encode()).decode()


def _decode_page(token: str) -> tuple[int, int] | None:
    if not token.startswith("page_"):
        return None
    try:
        session, offset = base64.urlsafe_b64decode(token[5:]).decode().split(":")
        return int(session), int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
