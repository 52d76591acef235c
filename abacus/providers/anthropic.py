"""Claude Code usage from Anthropic's Admin API (the Claude Code Analytics report).

One report call covers one UTC day; each record is one actor (a user's e-mail or an API key's
name) on that day with a per-model token and cost breakdown. Usage under an API key is kept
under the key's name: `identities` lists which person created each key, and the sync engine
resolves names to people through identity mappings, so nothing is dropped for being
unattributed. Contract: /work/shared/providers/anthropic.md (§1 transport, §2 report, §5
directory lists).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from .base import (
    # An import list, like cursor.py's: each adapter names what it uses of the contract.
    CACHE_WRITE_1H,
    AccountConfig,
    Capabilities,
    CredentialField,
    Identity,
    Page,
    Provider,
    ProviderError,
    UsageRecord,
    Window,
)
from .http import make_session, request
from .units import cents_to_usd, token_count

log = logging.getLogger(__name__)

API_VERSION = "2023-06-01"
CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
USERS_PATH = "/v1/organizations/users"
API_KEYS_PATH = "/v1/organizations/api_keys"
PAGE_LIMIT = 1000  # the documented maximum for the report and the directory lists

# Per actor-day, not per model: stored once per actor-day so sums over records stay true.
ACTOR_DAY_FIELDS = ("core_metrics", "tool_actions", "terminal_type", "customer_type",
                    "subscription_type", "organization_id", "is_remote")


class AnthropicProvider(Provider):
    id = "anthropic"
    display_name = "Claude Code (Anthropic Admin API)"
    tool = "claude_code"
    capabilities = Capabilities(token_usage=True, actual_costs=True, identities=True)
    credential_fields = (CredentialField("admin_key", "Admin API key"),)
    default_base_url = "https://api.anthropic.com"
    window = timedelta(days=1)  # the report answers one UTC day per call
    overlap = timedelta(days=3)  # today's data is partial and recent days get revised
    min_request_interval = 0.0

    # --- usage ----------------------------------------------------------------------------
    def fetch(self, account: AccountConfig, window: Window,
              cursor: dict[str, Any] | None = None) -> Iterator[Page]:
        """One Page per report page, day by day.

        A page's cursor is {"day": "YYYY-MM-DD", "page": <next_page token or None>}. A cursor
        with a token for one of the window's days resumes that day at the token; no day is
        ever skipped (re-fetching is idempotent, event keys are stable).
        """
        session = self._session(account)
        resume_day, resume_page = _resume_point(cursor)
        for day in window.days:
            yield from self._fetch_day(session, account, day,
                                       resume_page if day == resume_day else None)

    def _fetch_day(self, session: requests.Session, account: AccountConfig, day: date,
                   page: str | None) -> Iterator[Page]:
        day_s = day.isoformat()
        what = f"Anthropic {CLAUDE_CODE_PATH} (starting_at={day_s})"
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"starting_at": day_s, "limit": PAGE_LIMIT}
            if page is not None:
                params["page"] = page
            body = request(session, "GET", self._url(account, CLAUDE_CODE_PATH), what,
                           params=params)
            data = _list_field(body, what)
            records = [rec for item in data for rec in claude_code_records(item, day, what)]
            # has_more without a token (or a token without has_more) ends the day.
            next_page = body.get("next_page") if body.get("has_more") else None
            next_page = str(next_page) if next_page else None
            yield Page(records, {"day": day_s, "page": next_page})
            if next_page is None:
                return
            if next_page in seen:
                raise ProviderError(f"{what}: next_page repeats an earlier page")
            seen.add(next_page)
            page = next_page

    # --- identities -----------------------------------------------------------------------
    def identities(self, account: AccountConfig) -> Iterator[Identity]:
        """API key name → the person who created the key (active keys win over archived)."""
        session = self._session(account)
        people: dict[str, tuple[str, str | None]] = {}
        for user in self._list(session, account, USERS_PATH, {}):
            if user.get("id") and user.get("email"):
                people[str(user["id"])] = (str(user["email"]).strip().lower(),
                                           user.get("name"))
        by_name: dict[str, tuple[str, str | None]] = {}
        # Archived first, then active: a later assignment wins, so active keys do.
        for status in ("archived", "active"):
            for key in self._list(session, account, API_KEYS_PATH, {"status": status}):
                name = key.get("name")
                if name is None:
                    continue
                creator = (key.get("created_by") or {}).get("id")
                person = people.get(str(creator)) if creator else None
                if person is None:
                    log.debug("Anthropic %s key %r: creator unknown, not mapped", status, name)
                    continue
                if name in by_name and by_name[name] != person:
                    log.debug("Anthropic key name %r belongs to several people; the %s key "
                              "created by %s wins", name, status, person[0])
                by_name[str(name)] = person
        for name in sorted(by_name):
            email, person_name = by_name[name]
            yield Identity(external_id=name, email=email, name=person_name)

    def _list(self, session: requests.Session, account: AccountConfig, path: str,
              params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a directory list, following has_more / last_id."""
        what = f"Anthropic {path}" + "".join(f" ({k}={v})" for k, v in params.items())
        after: str | None = None
        seen: set[str] = set()
        while True:
            query = {**params, "limit": PAGE_LIMIT}
            if after is not None:
                query["after_id"] = after
            body = request(session, "GET", self._url(account, path), what, params=query)
            for item in _list_field(body, what):
                if isinstance(item, dict):
                    yield item
            last = body.get("last_id")
            if not body.get("has_more") or not last:
                return
            if last in seen:
                raise ProviderError(f"{what}: last_id repeats an earlier page")
            seen.add(last)
            after = str(last)

    # --- credentials and transport --------------------------------------------------------
    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        problems = super().check_credentials(credentials)
        key = credentials.get("admin_key") or ""
        # A normal API key (sk-ant-api…) is refused by every Admin endpoint.
        if key and not key.strip().startswith("sk-ant-admin"):
            problems.append("Admin API key must be an Admin key (starts with sk-ant-admin), "
                            "not a regular API key")
        return problems

    def _session(self, account: AccountConfig) -> requests.Session:
        headers = {"x-api-key": account.credentials.get("admin_key", "").strip(),
                   "anthropic-version": API_VERSION}
        return make_session(proxy_url=account.proxy_url,
                            min_interval=account.min_request_interval, headers=headers)

    def _url(self, account: AccountConfig, path: str) -> str:
        return (account.base_url or self.default_base_url).rstrip("/") + path


# --- normalization (pure functions, testable without HTTP) -------------------------------

def claude_code_records(item: Mapping[str, Any], day: date, what: str = "Anthropic report"
                        ) -> list[UsageRecord]:
    """The UsageRecords of one actor-day report record: one per model used.

    Actor-day fields (lines of code, sessions, tool actions…) go on the first model's record
    only (models sorted by name), so summing them over records gives the API's figure. A
    record without models still yields one zero-token record: activity is still activity.
    """
    day_s = day.isoformat()
    record_day = str(item.get("date") or "")[:10]  # "YYYY-MM-DD" or RFC 3339 midnight
    if record_day != day_s:
        raise ProviderError(f"{what}: record dated {record_day or '(none)'} "
                            f"in the report for {day_s}")
    actor_type, actor, email = _actor(item.get("actor"), what)
    # Noon UTC, not midnight: Anthropic reports whole UTC days, and noon lands on the same
    # calendar day in every ABACUS_TIMEZONE from UTC-11 to UTC+11 (midnight would move a day
    # to the previous one anywhere west of UTC).
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    kind = str(item.get("customer_type") or "")
    actor_day = {k: item[k] for k in ACTOR_DAY_FIELDS if k in item}
    rest = {"organization_id": item["organization_id"]} if "organization_id" in item else {}
    suffix = "|remote" if item.get("is_remote") is True else ""
    models = sorted((m for m in item.get("model_breakdown") or [] if isinstance(m, dict)),
                    key=lambda m: str(m.get("model") or ""))
    if not models:
        return [UsageRecord(event_key=f"{day_s}|{actor_type}:{actor}|{suffix}",
                            occurred_at=at, tool=AnthropicProvider.tool, actor=actor,
                            raw_model="", email=email, kind=kind, extras=actor_day)]
    out = []
    for index, entry in enumerate(models):
        model = str(entry.get("model") or "")
        tokens = entry.get("tokens") or {}
        extras = dict(actor_day if index == 0 else rest)
        cache_write, one_hour = _cache_writes(tokens.get("cache_creation"), what)
        if one_hour is not None:
            extras[CACHE_WRITE_1H] = one_hour
        out.append(UsageRecord(
            event_key=f"{day_s}|{actor_type}:{actor}|{model}{suffix}",
            occurred_at=at, tool=AnthropicProvider.tool, actor=actor, raw_model=model,
            email=email, kind=kind,
            input_tokens=_count(tokens.get("input"), "input", what),
            output_tokens=_count(tokens.get("output"), "output", what),
            cache_write_tokens=cache_write,
            cache_read_tokens=_count(tokens.get("cache_read"), "cache_read", what),
            cost_usd=_cost_usd(entry.get("estimated_cost"), what),
            extras=extras,
        ))
    return out


def _cost_usd(cost: Any, what: str) -> Decimal | None:
    if not isinstance(cost, Mapping) or cost.get("amount") is None:
        return None  # not reported: ingest estimates it from the price table
    currency = str(cost.get("currency") or "USD").upper()
    if currency != "USD":
        # Only USD is documented; a converted guess would be wrong money, so let ingest
        # estimate instead of storing another currency's amount as dollars.
        log.warning("%s: estimated_cost in %s, not USD; cost left to the price table",
                    what, currency)
        return None
    return cents_to_usd(cost["amount"], f"{what}: estimated_cost.amount")


def _actor(actor: Any, what: str) -> tuple[str, str, str | None]:
    """(actor type, actor, e-mail): users by lower-cased e-mail, API keys by name."""
    actor = actor if isinstance(actor, Mapping) else {}
    actor_type = actor.get("type")
    if actor_type == "user_actor" and actor.get("email_address"):
        email = str(actor["email_address"]).strip().lower()
        return actor_type, email, email
    if actor_type == "api_actor" and actor.get("api_key_name") is not None:
        return actor_type, str(actor["api_key_name"]), None
    # A new actor kind is a contract change: fail loudly rather than misattribute usage.
    raise ProviderError(f"{what}: record with an unsupported actor {actor_type!r}")


def _cache_writes(value: Any, what: str) -> tuple[int, int | None]:
    """(all cache writes, the 1-hour ones or None when not reported apart).

    Claude Code Analytics gives one number; Anthropic's usage reports split it into
    `ephemeral_5m_input_tokens` and `ephemeral_1h_input_tokens`, which cost differently."""
    if not isinstance(value, dict):
        return _count(value, "cache_creation", what), None
    five = _count(value.get("ephemeral_5m_input_tokens"),
                  "cache_creation.ephemeral_5m_input_tokens", what)
    hour = _count(value.get("ephemeral_1h_input_tokens"),
                  "cache_creation.ephemeral_1h_input_tokens", what)
    return five + hour, hour


def _count(value: Any, name: str, what: str) -> int:
    return token_count(value, f"{what}: tokens.{name}")


def _list_field(body: Any, what: str) -> list[Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ProviderError(f"{what}: response has no data list")
    return data


def _resume_point(cursor: Mapping[str, Any] | None) -> tuple[date | None, str | None]:
    """The (day, page token) a cursor from an interrupted fetch points at, if any."""
    if not cursor or not cursor.get("page") or not cursor.get("day"):
        return None, None
    try:
        return date.fromisoformat(str(cursor["day"])), str(cursor["page"])
    except ValueError:
        return None, None
