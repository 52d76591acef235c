"""A fake GitHub Copilot API: usage-metrics reports, AI-credit billing, seats, user-teams.

Follows /work/shared/providers/copilot.md §7 on top of the fake GitHub (`FakeGitHub`: tokens,
the GitHub App, `x-ratelimit-*` headers, rate-limit and permission faults, `Link` pages):

* Reports (`/orgs/{org}/…` and `/enterprises/{slug}/…`, `users-1-day`, `user-teams-1-day`,
  `organization-1-day`) answer `{download_links, report_day}`; the links point at a second
  local origin (`fake.files`) and carry an HMAC signature and an expiry (`link_ttl` seconds;
  `expire_links(n)` makes the next n links born expired). An expired or forged link gets 403.
  Lines are split over `parts` files. A day outside 2025-10-10 (at most a year back) …
  yesterday gets 404; `metrics_disabled` answers 403 with GitHub's policy message.
* Billing (`/organizations/{org}/settings/billing/ai_credit/usage`, enterprise too):
  `year`/`month`/`day`/`user`/`model`/`product`, 400 on a bad month; fine-grained tokens
  (`github_pat_…`) get 403 while `reject_fine_grained`; `enterprise_owned` orgs get 404.
* Seats: an object body `{total_seats, seats}` with `Link` pages (`per_page` ≤ 100, 50 by
  default).

Tests fill `users[day]` (lines from `user_line`), `teams[day]`, `billing[(day, login|None)]`
(items from `credit_item`; the `None` entry is the day total) and `seats` (from `seat`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from .github import DEFAULT_TOKEN, FakeGitHub, error, user_object
from .server import FakeServer, Reply, Request

REPORTS_START = date(2025, 10, 10)
FINE_GRAINED_TOKEN = "github_pat_11FAKEFINEGRAINED0123456789"
DISABLED_MESSAGE = ("Copilot Usage Metrics API access is disabled for this organization. "
                    "Enable the Copilot usage metrics policy to access this data.")

_REPORT = re.compile(r"^/(?P<base>orgs|enterprises)/(?P<slug>[^/]+)/copilot/metrics/reports/"
                     r"(?P<name>[a-z0-9-]+)$")
_BILLING = re.compile(r"^/(?P<base>organizations|enterprises)/(?P<slug>[^/]+)/settings/billing/"
                      r"ai_credit/usage$")
_SEATS = re.compile(r"^/(?P<base>orgs|enterprises)/(?P<slug>[^/]+)/copilot/billing/seats$")
_FILE = re.compile(r"^/reports/(?P<slug>[^/]+)/(?P<name>[a-z0-9-]+)/(?P<day>[0-9-]+)/"
                   r"part-(?P<part>\d+)\.ndjson$")


def _counters(interactions: int, generations: int, acceptances: int, loc_added: int,
              loc_deleted: int = 0) -> dict[str, int]:
    return {"user_initiated_interaction_count": interactions,
            "code_generation_activity_count": generations,
            "code_acceptance_activity_count": acceptances,
            "loc_suggested_to_add_sum": loc_added * 2, "loc_suggested_to_delete_sum": loc_deleted,
            "loc_added_sum": loc_added, "loc_deleted_sum": loc_deleted}


def user_line(day: date, login: str, user_id: int, *, interactions: int = 10,
              generations: int = 40, acceptances: int = 10, loc_added: int = 100,
              loc_deleted: int = 5, credits: float | str | None = 12.5,
              cli_tokens: tuple[int, int] = (0, 0), ide: str = "vscode",
              model: str = "claude-4.5-sonnet", language: str = "python",
              features: dict[str, tuple[int, int, int, int]] | None = None,
              used_agent: bool = True, used_chat: bool = True, used_cli: bool | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One users-1-day line with the full field list. `credits=None` makes an old row (no
    `ai_credits_used` and no `totals_by_3rd_party_agent`); `features` maps a feature to
    (interactions, generations, acceptances, loc_added); by default the counts split between
    code completion and agent mode."""
    if features is None:
        half = generations // 2
        features = {"code_completion": (0, half, acceptances // 2, loc_added // 2),
                    "chat_panel_agent_mode": (interactions, generations - half,
                                              acceptances - acceptances // 2,
                                              loc_added - loc_added // 2)}
    totals = _counters(interactions, generations, acceptances, loc_added, loc_deleted)
    stamp = f"{day.isoformat()}T16:02:11Z"
    line: dict[str, Any] = {
        "report_start_day": day.isoformat(), "report_end_day": day.isoformat(),
        "day": day.isoformat(), "organization_id": "987654", "enterprise_id": "123",
        "user_id": user_id, "user_login": login, **totals,
        "used_agent": used_agent, "used_chat": used_chat,
        "ai_adoption_phase": {"phase": "Phase 2", "phase_number": 2, "version": "v1"},
        "totals_by_ide": [{"ide": ide, **totals,
                           "last_known_ide_version": {"ide_version": "1.104.0",
                                                      "sampled_at": stamp},
                           "last_known_plugin_version": {"plugin": "copilot-chat",
                                                         "plugin_version": "0.31.2",
                                                         "sampled_at": stamp}}],
        "totals_by_feature": [{"feature": f, **_counters(i, g, a, loc)}
                              for f, (i, g, a, loc) in features.items()],
        "totals_by_language_feature": [
            {"language": language, "feature": f,
             **{k: v for k, v in _counters(i, g, a, loc).items()
                if k != "user_initiated_interaction_count"}}
            for f, (i, g, a, loc) in features.items()],
        "totals_by_language_model": [
            {"language": language, "model": model,
             **{k: v for k, v in totals.items() if k != "user_initiated_interaction_count"}}],
        "totals_by_model_feature": [{"model": model, "feature": f, **_counters(i, g, a, loc)}
                                    for f, (i, g, a, loc) in features.items()],
        "totals_by_cli": {"session_count": 1 if any(cli_tokens) else 0,
                          "request_count": 3 if any(cli_tokens) else 0,
                          "prompt_count": 2 if any(cli_tokens) else 0,
                          "token_usage": {"prompt_tokens_sum": cli_tokens[0],
                                          "output_tokens_sum": cli_tokens[1],
                                          "avg_tokens_per_request": round(sum(cli_tokens) / 3,
                                                                          1)},
                          "last_known_cli_version": {"cli_version": "1.0.8",
                                                     "sampled_at": stamp}},
        "totals_by_copilot_app": {"session_count": 0, "request_count": 0, "prompt_count": 0,
                                  "token_usage": {"prompt_tokens_sum": 0,
                                                  "output_tokens_sum": 0,
                                                  "avg_tokens_per_request": 0.0}},
        "etl_id": secrets.token_hex(4), "day_partition": day.isoformat(),
        "entity_id_partition": "987654",
    }
    if used_cli is not None or any(cli_tokens):
        line["used_cli"] = bool(used_cli if used_cli is not None else any(cli_tokens))
    if credits is not None:
        line["ai_credits_used"] = Decimal(str(credits))
        line["totals_by_3rd_party_agent"] = [{"agent_id": "2246796",
                                              "agent_name": "Claude (Anthropic)",
                                              "user_initiated_interaction_count": 3,
                                              "session_count": 1}]
    line.update(extra or {})
    return line


def team_line(day: date, login: str, user_id: int, team_id: int, slug: str) -> dict[str, Any]:
    return {"user_id": user_id, "user_login": login, "day": day.isoformat(),
            "organization_id": "987654", "team_id": team_id, "slug": slug}


def credit_item(model: str, credits: str, *, net_credits: str = "0",
                discount_credits: str | None = None, sku: str = "Copilot AI Credits",
                product: str = "Copilot") -> dict[str, Any]:
    """One usageItems row in AI credits (1 credit = $0.01); amounts in dollars."""
    gross, net = Decimal(credits), Decimal(net_credits)
    discount = Decimal(discount_credits) if discount_credits is not None else gross - net
    cent = Decimal("0.01")
    return {"product": product, "sku": sku, "model": model, "unitType": "ai-credits",
            "pricePerUnit": cent, "grossQuantity": gross, "grossAmount": gross * cent,
            "discountQuantity": discount, "discountAmount": discount * cent,
            "netQuantity": net, "netAmount": net * cent}


def seat(login: str, user_id: int, *, plan: str = "business",
         last_activity: str | None = "2026-11-20T09:30:00Z",
         editor: str | None = "vscode/1.104.0/copilot/1.300.0",
         pending_cancellation: str | None = None, team: str | None = None) -> dict[str, Any]:
    return {"created_at": "2026-01-05T10:00:00Z", "updated_at": "2026-01-05T10:00:00Z",
            "pending_cancellation_date": pending_cancellation,
            "last_activity_at": last_activity, "last_activity_editor": editor,
            "last_authenticated_at": last_activity, "plan_type": plan,
            "assignee": {**user_object(login, user_id), "email": None},
            "assigning_team": ({"id": 1, "name": team, "slug": team} if team else None)}


def _json(body: Any) -> str:
    return json.dumps(body, default=lambda v: float(v) if isinstance(v, Decimal) else str(v))


class FakeCopilot(FakeGitHub):
    """`with FakeCopilot(org="acme") as fake:`; the account's base URL is `fake.url`."""

    def __init__(self, org: str | None = "acme", enterprise: str | None = None,
                 token: str | None = DEFAULT_TOKEN) -> None:
        super().__init__(token=token)
        self.tokens.add(FINE_GRAINED_TOKEN)
        self.orgs = {org} if org else set()
        self.enterprises = {enterprise} if enterprise else set()
        self.users: dict[date, list[dict[str, Any]]] = {}
        self.teams: dict[date, list[dict[str, Any]]] = {}
        self.billing: dict[tuple[date, str | None], list[dict[str, Any]]] = {}
        self.seats: list[dict[str, Any]] = []
        self.parts = 2
        self.link_ttl = 600.0
        self.metrics_disabled = False
        self.reject_fine_grained = True
        self.enterprise_owned = False
        self.files = _Files(self)
        self._expire = 0
        self._key = secrets.token_bytes(16)

    def start(self) -> FakeCopilot:
        self.files.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.files.stop()

    # --- helpers for tests ----------------------------------------------------------------
    def expire_links(self, n: int = 1) -> None:
        """The next `n` download links are issued already expired."""
        self._expire += n

    def today(self) -> date:
        return datetime.now(UTC).date()

    # --- routing --------------------------------------------------------------------------
    def not_found(self, request: Request) -> Reply:
        for pattern, handler in ((_REPORT, self._report), (_BILLING, self._billing),
                                 (_SEATS, self._seats)):
            match = pattern.match(request.path)
            if match and request.method == "GET":
                refused = self._authenticate(request)
                if refused is not None:
                    return refused
                self.used += 1
                return handler(request, match)
        return super().not_found(request)

    def _known(self, base: str, slug: str) -> bool:
        return slug in (self.enterprises if base == "enterprises" else self.orgs)

    def _report(self, request: Request, match: re.Match) -> Reply:
        if not self._known(match["base"], match["slug"]):
            return error(404, "Not Found")
        if self.metrics_disabled:
            return error(403, DISABLED_MESSAGE)
        name = match["name"]
        if name not in ("users-1-day", "user-teams-1-day", "organization-1-day",
                        "enterprise-1-day"):
            return error(404, "Not Found")
        try:
            day = date.fromisoformat(request.arg("day") or "")
        except ValueError:
            return error(422, "Invalid day: expected YYYY-MM-DD")
        today = self.today()
        if day < max(REPORTS_START, today - timedelta(days=365)) or day >= today:
            return error(404, "Not Found")
        lines = (self.users if name == "users-1-day" else
                 self.teams if name == "user-teams-1-day" else {}).get(day, [])
        parts = max(1, min(self.parts, len(lines) or 1))
        links = [self._link(match["slug"], name, day, i) for i in range(1, parts + 1)]
        return Reply(200, {"download_links": links, "report_day": day.isoformat()})

    def _link(self, slug: str, name: str, day: date, part: int) -> str:
        expires = int(time.time() + self.link_ttl)
        if self._expire:
            self._expire -= 1
            expires = int(time.time()) - 1
        path = f"/reports/{slug}/{name}/{day.isoformat()}/part-{part}.ndjson"
        sig = hmac.new(self._key, f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{self.files.url}{path}?{urlencode({'exp': expires, 'sig': sig})}"

    def serve_file(self, request: Request) -> Reply:
        match = _FILE.match(request.path)
        expires, sig = request.arg("exp") or "", request.arg("sig") or ""
        want = hmac.new(self._key, f"{request.path}|{expires}".encode(),
                        hashlib.sha256).hexdigest()
        if match is None or not hmac.compare_digest(sig, want):
            return Reply(403, "<Error><Code>AccessDenied</Code></Error>",
                         content_type="application/xml")
        if int(expires) < time.time():
            return Reply(403, "<Error><Code>AccessDenied</Code><Message>Request has expired"
                              "</Message></Error>", content_type="application/xml")
        day, name = date.fromisoformat(match["day"]), match["name"]
        lines = (self.users if name == "users-1-day" else self.teams).get(day, [])
        parts = max(1, min(self.parts, len(lines) or 1))
        part = int(match["part"])
        chunk = lines[part - 1::parts]
        body = "".join(_json(line) + "\n" for line in chunk)
        return Reply(200, body.encode(), content_type="application/x-ndjson")

    def _billing(self, request: Request, match: re.Match) -> Reply:
        base = "enterprises" if match["base"] == "enterprises" else "orgs"
        if not self._known(base, match["slug"]):
            return error(404, "Not Found")
        if base == "orgs" and self.enterprise_owned:
            return error(404, "Not Found")
        token = request.headers.get("authorization", "").partition(" ")[2]
        if self.reject_fine_grained and token.startswith("github_pat_"):
            return error(403, "Resource not accessible by personal access token")
        try:
            year = int(request.arg("year") or self.today().year)
            month = int(request.arg("month") or self.today().month)
            day_n = int(request.arg("day")) if request.arg("day") else None
            if not 1 <= month <= 12 or (day_n is not None and not 1 <= day_n <= 31):
                raise ValueError
        except ValueError:
            return error(400, "Invalid year, month or day")
        user = request.arg("user")
        if day_n is None:
            days = [d for d, _ in self.billing if d.year == year and d.month == month]
        else:
            days = [date(year, month, day_n)]
        items = [dict(i) for d in sorted(set(days)) for i in self.billing.get((d, user), [])]
        for name in ("model", "product"):
            if request.arg(name):
                items = [i for i in items if i[name].lower() == request.arg(name).lower()]
        period = {"year": year, "month": month, **({"day": day_n} if day_n else {})}
        body: dict[str, Any] = {"timePeriod": period,
                                ("organization" if base == "orgs" else "enterprise"):
                                    match["slug"], "usageItems": items}
        if user:
            body["user"] = user
        return Reply(200, _json(body), content_type="application/json")

    def _seats(self, request: Request, match: re.Match) -> Reply:
        if not self._known(match["base"], match["slug"]):
            return error(404, "Not Found")
        query = dict(request.query)
        query.setdefault("per_page", ["50"])
        paged = self._paged(Request(request.method, request.path, query, request.headers,
                                    request.body), self.seats, request.path)
        if paged.status != 200:
            return paged
        return Reply(200, {"total_seats": len(self.seats), "seats": paged.body},
                     paged.headers)


class _Files(FakeServer):
    """The second origin the signed download links point at (no GitHub token needed)."""

    def __init__(self, api: FakeCopilot) -> None:
        super().__init__()
        self._api = api

    def not_found(self, request: Request) -> Reply:
        return self._api.serve_file(request)
