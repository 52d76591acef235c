"""Fake OpenAI servers: the Platform Admin API (usage, costs, users, projects and their API
keys) and the Codex Analytics API (a separate host, api.chatgpt.com in production).

Both follow /work/shared/providers/openai.md: Bearer auth with OpenAI's error envelope (401 for
an unknown key, 403 for a project key or a key without the analytics scope), unix-second
`start_time` (required, inclusive) / `end_time` (exclusive), UTC-aligned 1-day buckets
including empty ones, `limit` bounds per endpoint, `page`/`next_page` paging while `has_more`,
`after`/`last_id` list paging, and 429 with or without `Retry-After`.

Data lives in plain structures tests edit between calls (revised values, late data): usage
results are kept at the finest grain and summed over the fields a request does not group by,
as the API does.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .server import FakeServer, Reply, Request, limit_arg

USAGE_TYPES = ("completions", "embeddings", "moderations")
USAGE_GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
COST_GROUPS = ("project_id", "line_item", "api_key_id")
USAGE_SUMS = ("input_tokens", "input_cached_tokens", "input_cache_write_tokens",
              "input_uncached_tokens", "output_tokens", "num_model_requests")
DAY = 86400
ADMIN_KEY = "sk-admin-test-0123456789"
PROJECT_KEY = "sk-proj-test-0123456789"
CODEX_KEY = "sk-codex-analytics-0123456789"
CODEX_SCOPE = "codex.enterprise.analytics.read"


def error(status: int, message: str, type_: str, code: str | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": type_, "param": None,
                                    "code": code}})


def _invalid(message: str, param: str | None = None) -> Reply:
    reply = error(400, message, "invalid_request_error")
    reply.body["error"]["param"] = param
    return reply


def unix_day(day: date | str) -> int:
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _day_of(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def _encode(offset: int) -> str:
    return "page_" + base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _decode(token: str) -> int | None:
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.removeprefix("page_")).decode() \
            .partition(":")
        return int(offset) if kind == "o" else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _array(request: Request, name: str) -> list[str]:
    """`group_by=a&group_by=b` and `group_by[]=a` alike."""
    return request.query.get(name, []) + request.query.get(f"{name}[]", [])


def _dumps(body: Any) -> bytes:
    """JSON with Decimals as exact numbers (amounts like 0.06 stay 0.06)."""
    text = json.dumps(_mark(body))
    return text.replace('"@@', "").replace('@@"', "").encode()


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"@@{value}@@"
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v) for v in value]
    return value


class _OpenAIBase(FakeServer):
    """Bearer auth, JSON with exact decimals, time-window and paging helpers."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}  # key → "admin" | "project" | a scope list marker

    def revoke(self, key: str) -> None:
        """Later requests with this key get 401."""
        self.keys.pop(key, None)

    def rate_limit(self, times: int = 1, retry_after: str | None = "1",
                   path: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.fail_next(429, {"error": {"message": "Rate limit reached", "type": "requests",
                                       "param": None, "code": "rate_limit_exceeded"}},
                       times=times, headers=headers, path=path)

    def _dispatch(self, request: Request) -> Reply:
        reply = super()._dispatch(request)
        if isinstance(reply.body, dict | list):
            reply = Reply(reply.status, _dumps(reply.body), reply.headers,
                          reply.content_type or "application/json")
        return reply

    def not_found(self, request: Request) -> Reply:
        return error(404, f"Invalid URL (GET {request.path})", "invalid_request_error")

    def _key(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None

    @staticmethod
    def _window(request: Request) -> tuple[int, int] | Reply:
        raw_start, raw_end = request.arg("start_time"), request.arg("end_time")
        if raw_start is None:
            return _invalid("Missing required parameter: 'start_time'.", "start_time")
        try:
            start = int(raw_start)
            end = int(raw_end) if raw_end is not None else int(time.time())
        except ValueError:
            return _invalid("start_time and end_time must be unix seconds", "start_time")
        if end <= start:
            return _invalid("end_time must be after start_time", "end_time")
        return start, end

    @staticmethod
    def _limit(request: Request, default: int, maximum: int) -> int | Reply:
        return limit_arg(request, default, maximum, lambda message: _invalid(message, "limit"),
                         "limit must be an integer", f"limit must be between 1 and {maximum}")

    @staticmethod
    def _offset(request: Request) -> int | Reply:
        token = request.arg("page")
        if token is None:
            return 0
        offset = _decode(token)
        return _invalid("Invalid page token", "page") if offset is None else offset


class FakeOpenAI(_OpenAIBase):
    """The Platform Admin API. Knobs: `bucket_page_cap` (a page holds at most this many
    buckets whatever `limit` asks, so paging shows), `list_page_cap` (users/keys lists)."""

    def __init__(self, admin_keys: Iterable[str] = (ADMIN_KEY,)) -> None:
        super().__init__()
        self.keys = {k: "admin" for k in admin_keys}
        self.keys[PROJECT_KEY] = "project"
        self.usage: dict[str, dict[str, list[dict[str, Any]]]] = {t: {} for t in USAGE_TYPES}
        self.costs: dict[str, list[dict[str, Any]]] = {}
        self.users: list[dict[str, Any]] = []
        self.projects: list[dict[str, Any]] = []
        self.project_keys: dict[str, list[dict[str, Any]]] = {}
        self.bucket_page_cap: int | None = None
        self.list_page_cap: int | None = None
        for usage_type in USAGE_TYPES:
            self.route("GET", f"/v1/organization/usage/{usage_type}",
                       self._guarded(lambda r, t=usage_type: self._usage(r, t)))
        self.route("GET", "/v1/organization/costs", self._guarded(self._costs))
        self.route("GET", "/v1/organization/users", self._guarded(self._users))
        self.route("GET", "/v1/organization/projects", self._guarded(self._projects))

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # --- data helpers for tests -----------------------------------------------------------
    def add_usage(self, day: date | str, *, usage_type: str = "completions",
                  user_id: str | None = None, api_key_id: str | None = None,
                  project_id: str | None = "proj_default", model: str = "gpt-5-codex",
                  input: int = 0, cached: int = 0, cache_write: int = 0, output: int = 0,
                  requests: int = 1, batch: bool = False, service_tier: str | None = "default",
                  old_format: bool = False) -> dict[str, Any]:
        """One finest-grain result; `input` is the total input including cached and
        cache-write tokens, as the API counts it. `old_format`: the 2024 fields only."""
        result: dict[str, Any] = {
            "object": f"organization.usage.{usage_type}.result",
            "input_tokens": input, "output_tokens": output, "num_model_requests": requests,
            "project_id": project_id, "user_id": user_id, "api_key_id": api_key_id,
            "model": model, "batch": batch, "service_tier": service_tier,
        }
        if usage_type == "completions":
            result["input_cached_tokens"] = cached
            if not old_format:
                result.update(input_cache_write_tokens=cache_write,
                              input_uncached_tokens=input - cached - cache_write,
                              input_audio_tokens=0, output_audio_tokens=0)
        day_s = day.isoformat() if isinstance(day, date) else day
        self.usage[usage_type].setdefault(day_s, []).append(result)
        return result

    def add_cost(self, day: date | str, amount: Decimal | str, *, project_id: str | None =
                 "proj_default", line_item: str | None = "gpt-5-codex, input",
                 quantity: Decimal | None = None, currency: str = "usd") -> dict[str, Any]:
        result = {"object": "organization.costs.result",
                  "amount": {"value": Decimal(amount), "currency": currency},
                  "line_item": line_item, "project_id": project_id, "api_key_id": None,
                  "quantity": quantity, "quantity_unit": "tokens" if quantity else None}
        day_s = day.isoformat() if isinstance(day, date) else day
        self.costs.setdefault(day_s, []).append(result)
        return result

    def add_user(self, id: str, email: str, name: str, *, service_account: bool = False,
                 role: str = "reader") -> dict[str, Any]:
        user = {"object": "organization.user", "id": id, "name": name, "email": email,
                "role": role, "added_at": 1711471533, "is_service_account": service_account,
                "is_scim_managed": False, "api_key_last_used_at": None}
        self.users.append(user)
        return user

    def add_project(self, id: str, name: str, archived: bool = False) -> dict[str, Any]:
        project = {"object": "organization.project", "id": id, "name": name,
                   "created_at": 1711471533, "archived_at": 1711471600 if archived else None,
                   "status": "archived" if archived else "active"}
        self.projects.append(project)
        self.project_keys.setdefault(id, [])
        self.route("GET", f"/v1/organization/projects/{id}/api_keys",
                   self._guarded(lambda r, p=id: self._keys(r, p)))
        return project

    def add_project_key(self, project_id: str, id: str, name: str,
                        owner_user_id: str | None) -> dict[str, Any]:
        """A project API key owned by an organization user (or a service account: None)."""
        if owner_user_id is not None:
            user = next(u for u in self.users if u["id"] == owner_user_id)
            owner = {"type": "user", "user": {k: user[k] for k in ("id", "name", "email",
                                                                  "role")}}
        else:
            owner = {"type": "service_account",
                     "service_account": {"id": "svc_acct_" + id, "name": name, "role": "member"}}
        key = {"object": "organization.project.api_key", "id": id, "name": name,
               "redacted_value": "sk-abc...def", "created_at": 1711471533, "last_used_at": None,
               "owner": owner}
        self.project_keys[project_id].append(key)
        return key

    def requests_for(self, what: str) -> list[Request]:
        """Requests to `completions`, `costs`, `users`… (the path's last part)."""
        return [r for r in self.requests if r.path.rsplit("/", 1)[-1] == what]

    # --- plumbing -------------------------------------------------------------------------
    def _guarded(self, handler):
        def guarded(request: Request) -> Reply:
            kind = self.keys.get(self._key(request) or "")
            if kind is None:
                return error(401, "Incorrect API key provided.", "invalid_request_error",
                             "invalid_api_key")
            if kind != "admin":
                return error(403, "You have insufficient permissions for this operation. "
                             "Missing scopes: api.management.read.", "invalid_request_error",
                             "insufficient_permissions")
            return handler(request)
        return guarded

    # --- usage and costs ------------------------------------------------------------------
    def _buckets(self, request: Request, data: dict[str, list[dict[str, Any]]],
                 groups: tuple[str, ...], sums: tuple[str, ...], max_limit: int,
                 aggregate) -> Reply:
        window = self._window(request)
        if isinstance(window, Reply):
            return window
        width = request.arg("bucket_width", "1d")
        if width != "1d":
            return _invalid("this fake serves bucket_width=1d only", "bucket_width")
        wanted = _array(request, "group_by")
        bad = [g for g in wanted if g not in groups]
        if bad:
            return _invalid(f"Invalid group_by value: {bad[0]}", "group_by")
        limit = self._limit(request, 7, max_limit)
        if isinstance(limit, Reply):
            return limit
        offset = self._offset(request)
        if isinstance(offset, Reply):
            return offset
        start, end = window
        first = start - start % DAY  # buckets are UTC-aligned
        starts = list(range(first, end, DAY))
        size = min(limit, self.bucket_page_cap or limit)
        chunk = starts[offset:offset + size]
        buckets = [{"object": "bucket", "start_time": s, "end_time": s + DAY,
                    "results": aggregate(copy.deepcopy(data.get(_day_of(s), [])), wanted)}
                   for s in chunk]
        more = offset + len(chunk) < len(starts)
        return Reply(200, {"object": "page", "data": buckets, "has_more": more,
                           "next_page": _encode(offset + len(chunk)) if more else None})

    def _usage(self, request: Request, usage_type: str) -> Reply:
        return self._buckets(request, self.usage[usage_type], USAGE_GROUPS, USAGE_SUMS, 31,
                             lambda rows, wanted: _group(rows, wanted, USAGE_GROUPS, USAGE_SUMS))

    def _costs(self, request: Request) -> Reply:
        def aggregate(rows: list[dict[str, Any]], wanted: list[str]) -> list[dict[str, Any]]:
            out: dict[tuple, dict[str, Any]] = {}
            for row in rows:
                key = tuple(row[g] if g in wanted else None for g in COST_GROUPS)
                if key not in out:
                    out[key] = {**row, **{g: row[g] if g in wanted else None
                                          for g in COST_GROUPS}}
                    if "line_item" not in wanted:
                        out[key]["quantity"] = out[key]["quantity_unit"] = None
                else:
                    out[key]["amount"]["value"] += row["amount"]["value"]
            return list(out.values())
        return self._buckets(request, self.costs, COST_GROUPS, (), 180, aggregate)

    # --- lists ----------------------------------------------------------------------------
    def _list(self, request: Request, items: list[dict[str, Any]]) -> Reply:
        limit = self._limit(request, 20, 100)
        if isinstance(limit, Reply):
            return limit
        if self.list_page_cap:
            limit = min(limit, self.list_page_cap)
        ids = [i["id"] for i in items]
        after = request.arg("after")
        if after is not None and after not in ids:
            return _invalid(f"after: unknown id {after}", "after")
        start = ids.index(after) + 1 if after is not None else 0
        chunk = items[start:start + limit]
        return Reply(200, {"object": "list", "data": copy.deepcopy(chunk),
                           "first_id": chunk[0]["id"] if chunk else None,
                           "last_id": chunk[-1]["id"] if chunk else None,
                           "has_more": start + len(chunk) < len(items)})

    def _users(self, request: Request) -> Reply:
        emails = _array(request, "emails")
        return self._list(request, [u for u in self.users if not emails
                                    or u["email"] in emails])

    def _projects(self, request: Request) -> Reply:
        archived = request.arg("include_archived") == "true"
        return self._list(request, [p for p in self.projects
                                    if archived or p["archived_at"] is None])

    def _keys(self, request: Request, project_id: str) -> Reply:
        if project_id not in self.project_keys:
            return error(404, f"No such project: {project_id}", "invalid_request_error")
        return self._list(request, self.project_keys[project_id])


def _group(rows: list[dict[str, Any]], wanted: list[str], groups: tuple[str, ...],
           sums: tuple[str, ...]) -> list[dict[str, Any]]:
    """Sum finest-grain results over the fields not grouped by (those come back null)."""
    out: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row.get(g) if g in wanted else None for g in groups)
        if key not in out:
            out[key] = {**row, **{g: row.get(g) if g in wanted else None for g in groups}}
        else:
            for field in sums:
                if field in row:
                    out[key][field] = out[key].get(field, 0) + row[field]
    return list(out.values())


# --- Codex Analytics ----------------------------------------------------------------------------

class FakeCodexAnalytics(_OpenAIBase):
    """`/workspaces/{id}/usage` with per-user daily rows. Knobs: `page_size` (rows per
    page), `cursor_style` (`next_page`, or `next_cursor` as one third-party client saw),
    `rename` (raw key → the name this server sends, to test the data-driven mapping)."""

    HISTORY_DAYS = 90

    def __init__(self, keys: dict[str, tuple[str, ...]] | None = None,
                 workspaces: Iterable[str] = ("ws_123",)) -> None:
        super().__init__()
        self.scopes = dict(keys if keys is not None else {CODEX_KEY: (CODEX_SCOPE,)})
        self.keys = {k: "codex" for k in self.scopes}
        self.workspaces = set(workspaces)
        self.rows: list[dict[str, Any]] = []
        self.page_size = 50
        self.cursor_style = "next_page"
        self.rename: dict[str, str] = {}

    def revoke(self, key: str) -> None:
        super().revoke(key)
        self.scopes.pop(key, None)

    def add_usage(self, day: date | str, email: str, *, user_id: str | None = None,
                  models: Iterable[tuple[str, str, int, int, int, Decimal | str]] = (),
                  clients: Iterable[tuple[str, int, int, Decimal | str]] = (),
                  threads: int = 1, turns: int = 1, credits: Decimal | str | None = None
                  ) -> dict[str, Any]:
        """One user-day row; `models` rows are (model, speed, uncached input, cached input,
        output, credits); the row's credits default to the models' sum."""
        d = date.fromisoformat(day) if isinstance(day, str) else day
        model_rows = [{"model": m, "speed": s, "credits": Decimal(c),
                       "uncached_text_input_tokens": u, "cached_text_input_tokens": ca,
                       "text_output_tokens": o, "text_total_tokens": u + ca + o}
                      for m, s, u, ca, o, c in models]
        total = Decimal(credits) if credits is not None else sum(
            (m["credits"] for m in model_rows), Decimal(0))
        row = {"start_time": unix_day(d), "end_time": unix_day(d) + DAY,
               "user": {"id": user_id or f"user-{email.split('@')[0]}", "email": email},
               "threads": threads, "turns": turns, "credits": total,
               "tokens": {"text_input": sum(m["uncached_text_input_tokens"]
                                            + m["cached_text_input_tokens"] for m in model_rows),
                          "cached_input": sum(m["cached_text_input_tokens"] for m in model_rows),
                          "output": sum(m["text_output_tokens"] for m in model_rows)},
               "clients": [{"client_id": c, "threads": t, "turns": tu, "credits": Decimal(cr)}
                           for c, t, tu, cr in clients],
               "models": model_rows}
        self.rows.append(row)
        return row

    def usage_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/usage")]

    def not_found(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")  # v1/analytics/codex/workspaces/{id}/usage
        if request.method == "GET" and len(parts) == 6 and parts[5] == "usage" \
                and parts[:4] == ["v1", "analytics", "codex", "workspaces"]:
            return self._usage(request, parts[4])
        return super().not_found(request)

    @property
    def base_url(self) -> str:
        return self.url + "/v1/analytics/codex"

    def _usage(self, request: Request, workspace: str) -> Reply:
        key = self._key(request) or ""
        if key not in self.scopes:
            return error(401, "Incorrect API key provided.", "invalid_request_error",
                         "invalid_api_key")
        if CODEX_SCOPE not in self.scopes[key]:
            return error(403, f"Missing scopes: {CODEX_SCOPE}.", "invalid_request_error",
                         "insufficient_permissions")
        if workspace not in self.workspaces:
            return error(403, "The workspace is not linked to this organization.",
                         "invalid_request_error", "workspace_forbidden")
        window = self._window(request)
        if isinstance(window, Reply):
            return window
        start, end = window
        if start < time.time() - self.HISTORY_DAYS * DAY:
            return _invalid("start_time is more than 90 days ago", "start_time")
        if request.arg("group_by", "day") not in ("day", "week"):
            return _invalid("group_by must be day or week", "group_by")
        rows = [r for r in self.rows if start <= r["start_time"] < end]
        rows.sort(key=lambda r: (r["start_time"], r["user"]["email"]))
        if request.arg("group") == "workspace":
            rows = _workspace_rows(rows)
        token = request.arg("page") or request.arg("cursor")
        offset = 0 if token is None else _decode(token)
        if offset is None:
            return _invalid("Invalid page token", "page")
        chunk = rows[offset:offset + self.page_size]
        more = offset + len(chunk) < len(rows)
        body: dict[str, Any] = {"object": "page",
                                "data": [_renamed(copy.deepcopy(r), self.rename) for r in chunk],
                                "has_more": more}
        body[self.cursor_style] = _encode(offset + len(chunk)) if more else None
        return Reply(200, body)


def _workspace_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        agg = out.setdefault(r["start_time"], {"start_time": r["start_time"],
                                               "end_time": r["end_time"], "threads": 0,
                                               "turns": 0, "credits": Decimal(0)})
        for k in ("threads", "turns", "credits"):
            agg[k] += r[k]
    return list(out.values())


def _renamed(value: Any, rename: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {rename.get(k, k): _renamed(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, rename) for v in value]
    return value


def days_ago(n: int) -> date:
    return datetime.now(UTC).date() - timedelta(days=n)
