"""A fake OpenRouter management API: `/activity`, `/organization/members` and `/keys`.

Follows /work/shared/providers/openrouter.md §7: Bearer management keys (401 for an unknown
key, 403 for an inference key, both with the `{error: {code, message, metadata}, user_id}`
body); `/activity` answering the 30 completed UTC days before today (400 for a `date` outside
them), filtered by `user_id` or `api_key_hash`, one row per (date, model, endpoint) so one
model served by two providers gives two rows, rows with and without `cached_tokens` and
`workspace_id`; members paged by `offset`/`limit` (≤ 100) with `total_count`, and a personal
account mode with no members; keys paged by `offset` (100 per page) with `hash`,
`creator_user_id` and `include_disabled`.

Data lives in plain lists tests edit between calls (revised values): `activity` holds rows in
API shape plus the fields the filters use (`_user_id`, `_key_hash`), which are never sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .server import FakeServer, Reply, Request

ACTIVITY_PATH = "/api/v1/activity"
MEMBERS_PATH = "/api/v1/organization/members"
KEYS_PATH = "/api/v1/keys"
MANAGEMENT_KEY = "sk-or-v1-mgmt-0123456789abcdef"
INFERENCE_KEY = "sk-or-v1-inference-0123456789"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DEC = "@@decimal@@"


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "metadata": None}, "user_id": None}


def key_hash(key: str) -> str:
    """What `GET /keys` reports as `hash` and `/activity?api_key_hash=` takes."""
    return hashlib.sha256(key.encode()).hexdigest()


def window_days(today: date | None = None) -> list[date]:
    """The days /activity answers: the 30 completed UTC days before today, oldest first."""
    today = today or datetime.now(UTC).date()
    return [today - timedelta(days=i) for i in range(30, 0, -1)]


class FakeOpenRouter(FakeServer):
    """`with FakeOpenRouter() as fake:`; an account's base URL is `fake.url + "/api/v1"`."""

    def __init__(self, management_keys: tuple[str, ...] = (MANAGEMENT_KEY,)) -> None:
        super().__init__()
        self.management_keys: set[str] = set(management_keys)
        self.inference_keys: set[str] = {INFERENCE_KEY}
        self.activity: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []
        self.keys: list[dict[str, Any]] = []
        self.personal = False  # a personal account: no organization members
        self.route("GET", ACTIVITY_PATH, self._guarded(self._activity))
        self.route("GET", MEMBERS_PATH, self._guarded(self._members))
        self.route("GET", KEYS_PATH, self._guarded(self._keys))

    # --- helpers for tests ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.url + "/api/v1"

    def revoke(self, key: str) -> None:
        self.management_keys.discard(key)

    def add_member(self, user_id: str, email: str, first: str = "", last: str = "",
                   role: str = "org:member") -> dict[str, Any]:
        member = {"id": user_id, "email": email, "first_name": first, "last_name": last,
                  "role": role}
        self.members.append(member)
        return member

    def add_key(self, secret: str, name: str, creator_user_id: str | None,
                disabled: bool = False) -> str:
        """An API key; returns its hash."""
        h = key_hash(secret)
        self.keys.append({"hash": h, "name": name, "label": f"{secret[:12]}...",
                          "disabled": disabled, "limit": None, "usage": 0,
                          "created_at": "2026-01-05T10:00:00Z", "updated_at": None,
                          "creator_user_id": creator_user_id, "workspace_id": None})
        return h

    def add_activity(self, day: date, model: str, *, user_id: str | None = None,
                     key: str | None = None, usage: str | Decimal = "0",
                     byok: str | Decimal = "0", requests: int = 1, prompt: int = 0,
                     completion: int = 0, reasoning: int = 0, cached: int | None = 0,
                     provider: str = "OpenAI", workspace_id: str | None = None
                     ) -> dict[str, Any]:
        """One row (one model on one serving endpoint); returned so tests can revise it.
        `cached=None` leaves `cached_tokens` out, as the older reference shape does."""
        row: dict[str, Any] = {
            "date": day.isoformat(), "model": model,
            "model_permaslug": f"{model}-2025-04-14", "endpoint_id": str(uuid.uuid4()),
            "provider_name": provider, "usage": Decimal(usage),
            "byok_usage_inference": Decimal(byok), "requests": requests,
            "prompt_tokens": prompt, "completion_tokens": completion,
            "reasoning_tokens": reasoning,
            "_user_id": user_id, "_key_hash": key_hash(key) if key else None}
        if cached is not None:
            row["cached_tokens"] = cached
        if workspace_id:
            row["workspace_id"] = workspace_id
        self.activity.append(row)
        return row

    def rate_limit(self, times: int = 1, retry_after: str | None = "1") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.fail_next(429, error_body(429, "Rate limit exceeded"), times=times,
                       headers=headers)

    def activity_requests(self, **filters: str) -> list[Request]:
        return [r for r in self.requests_to(ACTIVITY_PATH)
                if all(r.arg(k) == v for k, v in filters.items())]

    # --- plumbing -------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Reply:
        reply = super()._dispatch(request)
        if isinstance(reply.body, dict | list):
            reply = replace(reply, body=_dumps(reply.body), content_type="application/json")
        return reply

    def not_found(self, request: Request) -> Reply:
        return Reply(404, error_body(404, "Not Found"))

    def _guarded(self, handler):
        def guarded(request: Request) -> Reply:
            auth = request.headers.get("authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
            if token in self.inference_keys:
                return Reply(403, error_body(403, "Only management keys can perform this "
                                                  "operation"))
            if token not in self.management_keys:
                return Reply(401, error_body(401, "Invalid management key"))
            return handler(request)
        return guarded

    def _activity(self, request: Request) -> Reply:
        days = [d.isoformat() for d in window_days()]
        wanted = request.arg("date")
        if wanted is not None:
            if not _DAY.match(wanted) or wanted not in days:
                return Reply(400, error_body(400, "date must be within the last 30 "
                                                  "completed UTC days"))
            days = [wanted]
        user_id, key = request.arg("user_id"), request.arg("api_key_hash")
        if user_id is not None and self.personal:
            return Reply(400, error_body(400, "user_id requires an organization account"))
        rows = self.matching(days, user_id, key)
        return Reply(200, {"data": [{k: v for k, v in r.items() if not k.startswith("_")}
                                    for r in rows]})

    def matching(self, days: list[str], user_id: str | None,
                 key: str | None) -> list[dict[str, Any]]:
        """The `activity` rows of these days (and member, and key), in seeding order. A scan:
        the sync bench overrides it with an index (thousands of members × 30 days)."""
        return [r for r in self.activity if r["date"] in days
                and (user_id is None or r["_user_id"] == user_id)
                and (key is None or r["_key_hash"] == key)]

    def _members(self, request: Request) -> Reply:
        members = [] if self.personal else self.members
        try:
            offset = int(request.arg("offset", "0"))
            limit = int(request.arg("limit", "50"))
        except ValueError:
            return Reply(400, error_body(400, "offset and limit must be integers"))
        if not 1 <= limit <= 100 or offset < 0:
            return Reply(400, error_body(400, "limit must be 1..100"))
        return Reply(200, {"data": members[offset:offset + limit],
                           "total_count": len(members)})

    def _keys(self, request: Request) -> Reply:
        keys = self.keys
        if request.arg("include_disabled") != "true":
            keys = [k for k in keys if not k["disabled"]]
        offset = int(request.arg("offset", "0"))
        return Reply(200, {"data": keys[offset:offset + 100]})


def _dumps(body: Any) -> str:
    """JSON with Decimals written as plain numbers (money as the API sends it)."""
    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{_DEC}{value}{_DEC}"
        raise TypeError(type(value).__name__)

    return re.sub(f'"{_DEC}(.*?){_DEC}"', r"\1", json.dumps(body, default=mark))
