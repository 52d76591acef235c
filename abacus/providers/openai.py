"""OpenAI organization usage and costs from the Admin API (tool `openai`).

Usage: `/organization/usage/<type>` for the types that carry tokens, in 1-day UTC buckets
grouped by project, user, API key, model and batch. One record per (day, type, project, user,
key, model, batch): input without cache reads and writes, cache reads (`input_cached_tokens`)
and cache writes kept apart, batch rows with kind `batch` (priced at the Batch API's half
rate). OpenAI reports no money per user, so these records carry no cost: ingest estimates it
from the price table (`estimated`).

Who: a row grouped by `user_id` belongs to that organization user; a row with only an API key
to the key's owner; `identities` lists users (id → e-mail) and every project's keys (key id →
owner's e-mail). A service-account key, or a project with neither, stays under its key or
project id and shows as unmapped.

The bill: `/organization/costs` per day, project and line item (dollars, exact) comes back as
`Page.costs`, stored apart from usage as what OpenAI charged, so pages can put the estimate
beside it. Contract: /work/shared/providers/openai.md (§1 transport, §2 usage, §3 costs, §4
identity lookups).

The paging loop, Bearer session and bucket days are shared with the Codex Analytics adapter
(`providers.codex`), which speaks the same envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from .base import (
    # An import list, like cursor.py's: each adapter names what it uses of the contract.
    AccountConfig,
    BilledCost,
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
from .units import to_decimal, token_count

log = logging.getLogger(__name__)

USAGE_PATH = "/organization/usage/{type}"
COSTS_PATH = "/organization/costs"
USERS_PATH = "/organization/users"
PROJECTS_PATH = "/organization/projects"
PROJECT_KEYS_PATH = "/organization/projects/{project_id}/api_keys"

# The usage types whose results carry token counts (the rest count images, seconds, calls).
USAGE_TYPES = ("completions", "embeddings", "moderations")
GROUP_BY = ("project_id", "user_id", "api_key_id", "model", "batch")
COST_GROUP_BY = ("project_id", "line_item")
USAGE_MAX_BUCKETS = 31  # `limit` at bucket_width=1d: default 7, max 31
COSTS_MAX_BUCKETS = 180  # costs `limit`: 1..180
LIST_LIMIT = 100  # users and project API keys: 1..100
ONE_DAY = timedelta(days=1)


# --- shared with the Codex Analytics adapter ---------------------------------------------------

def bearer_session(account: AccountConfig, key_field: str) -> requests.Session:
    key = account.credentials.get(key_field, "").strip()
    return make_session(proxy_url=account.proxy_url, min_interval=account.min_request_interval,
                        headers={"Authorization": f"Bearer {key}"})


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def noon(day: date) -> datetime:
    """Where a whole UTC day's record is stamped: noon stays on its calendar day in every
    ABACUS_TIMEZONE from UTC-11 to UTC+11 (midnight would move west of UTC a day back)."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def bucket_day(start_time: Any, days: Sequence[date], what: str) -> date:
    """The UTC day a bucket starting at `start_time` (unix seconds) covers, which must be one
    of the days asked for."""
    if isinstance(start_time, bool) or not isinstance(start_time, int | Decimal):
        raise ProviderError(f"{what}: bucket without a numeric start_time")
    day = datetime.fromtimestamp(int(start_time), UTC).date()
    if day not in days:
        raise ProviderError(f"{what}: bucket for {day.isoformat()} outside the days asked for")
    return day


def paged(session: requests.Session, url: str, what: str, params: Mapping[str, Any],
          tokens: Sequence[tuple[str, str]] = (("next_page", "page"),)) -> Iterator[dict]:
    """Every page of a `{data, has_more, next_page}` listing: the same query plus the
    previous page's token while `has_more`. `tokens` are (response field, query parameter)
    pairs tried in order (Codex clients have seen `next_cursor`/`cursor` too)."""
    seen: set[str] = set()
    query = dict(params)
    while True:
        body = request(session, "GET", url, what, params=query)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ProviderError(f"{what}: response has no data list")
        yield body
        found = next(((str(body[f]), p) for f, p in tokens if body.get(f)), None)
        if body.get("has_more") is False or (not body.get("has_more") and found is None):
            return
        if found is None:
            raise ProviderError(f"{what}: has_more without a next page token")
        token, param = found
        if token in seen:
            raise ProviderError(f"{what}: the next page token repeats an earlier page")
        seen.add(token)
        query = {**params, param: token}


# --- the provider -----------------------------------------------------------------------------

class OpenAIProvider(Provider):
    id = "openai"
    display_name = "OpenAI (organization usage and costs)"
    tool = "openai"
    # Costs are reported (the bill, per day/project/line item) but never per person: the
    # usage records' costs are estimates, shown beside the bill on Status.
    capabilities = Capabilities(token_usage=True, actual_costs=True, identities=True,
                                billed_costs=True)
    credential_fields = (CredentialField("admin_key", "Admin API key",
                                         help="sk-admin-…, from Organization → Admin keys"),)
    default_base_url = "https://api.openai.com/v1"
    window = timedelta(days=USAGE_MAX_BUCKETS)  # one page of 1-day buckets per usage type
    overlap = timedelta(days=2)  # the current and previous day are still filling in
    schedule = "20 */6 * * *"

    # --- usage and costs ------------------------------------------------------------------
    def fetch(self, account: AccountConfig, window: Window,
              cursor: dict[str, Any] | None = None) -> Iterator[Page]:
        """One Page per usage page (each type in turn), then one with the window's bill."""
        session = bearer_session(account, "admin_key")
        days = window.days  # asked for whole: buckets are UTC days
        base = {"start_time": unix(midnight(days[0])),
                "end_time": unix(midnight(days[-1]) + ONE_DAY), "bucket_width": "1d"}
        for usage_type in USAGE_TYPES:
            path = USAGE_PATH.format(type=usage_type)
            what = f"OpenAI {path}"
            params = {**base, "group_by": list(GROUP_BY),
                      "limit": min(USAGE_MAX_BUCKETS, len(days))}
            for body in paged(session, self._url(account, path), what, params):
                yield Page([record for bucket in _buckets(body, what)
                            for record in usage_records(
                                usage_type, bucket_day(bucket.get("start_time"), days, what),
                                bucket.get("results"), what)])
        what = f"OpenAI {COSTS_PATH}"
        params = {**base, "group_by": list(COST_GROUP_BY),
                  "limit": min(COSTS_MAX_BUCKETS, len(days))}
        costs: list[BilledCost] = []
        for body in paged(session, self._url(account, COSTS_PATH), what, params):
            for bucket in _buckets(body, what):
                day = bucket_day(bucket.get("start_time"), days, what)
                costs.extend(cost_lines(day, bucket.get("results"), what))
        yield Page([], costs=costs, costs_days=days)

    # --- identities -----------------------------------------------------------------------
    def identities(self, account: AccountConfig) -> Iterator[Identity]:
        """Organization users (user id → e-mail) and every project's API keys owned by a
        user (key id → the owner's e-mail). Service accounts are nobody's: their usage
        stays under the key."""
        session = bearer_session(account, "admin_key")
        for user in self._list(session, account, USERS_PATH, {}):
            if user.get("is_service_account") or not user.get("id") or not user.get("email"):
                continue
            yield Identity(str(user["id"]), str(user["email"]).strip().lower(), user.get("name"))
        for project in self._list(session, account, PROJECTS_PATH,
                                  {"include_archived": "true"}):
            if not project.get("id"):
                continue
            path = PROJECT_KEYS_PATH.format(project_id=project["id"])
            for key in self._list(session, account, path, {}):
                owner = key.get("owner") or {}
                user = owner.get("user") or {}
                if owner.get("type") != "user" or not key.get("id") or not user.get("email"):
                    continue
                yield Identity(str(key["id"]), str(user["email"]).strip().lower(),
                               user.get("name"))

    def _list(self, session: requests.Session, account: AccountConfig, path: str,
              params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following `after=<last_id>` while `has_more`."""
        what = f"OpenAI {path}"
        after: str | None = None
        seen: set[str] = set()
        while True:
            query = {**params, "limit": LIST_LIMIT, **({"after": after} if after else {})}
            body = request(session, "GET", self._url(account, path), what, params=query)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise ProviderError(f"{what}: response has no data list")
            yield from (item for item in data if isinstance(item, dict))
            last = body.get("last_id") or (data[-1].get("id") if data and isinstance(
                data[-1], dict) else None)
            if not body.get("has_more") or not last:
                return
            if last in seen:
                raise ProviderError(f"{what}: last_id repeats an earlier page")
            seen.add(str(last))
            after = str(last)

    # --- credentials and transport --------------------------------------------------------
    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        problems = super().check_credentials(credentials)
        key = (credentials.get("admin_key") or "").strip()
        # Project and user keys (sk-proj-…, sk-…) are refused by every admin endpoint.
        if key and not key.startswith("sk-admin"):
            problems.append("Admin API key must be an OpenAI Admin key (starts with "
                            "sk-admin), not a project or user key")
        return problems

    def _url(self, account: AccountConfig, path: str) -> str:
        return (account.base_url or self.default_base_url).rstrip("/") + path


# --- normalization (pure functions, testable without HTTP) -------------------------------------

def _buckets(body: Mapping[str, Any], what: str) -> list[Mapping[str, Any]]:
    buckets = [b for b in body["data"] if isinstance(b, Mapping)]
    for bucket in buckets:
        if not isinstance(bucket.get("results", []), list):
            raise ProviderError(f"{what}: bucket results is not a list")
    return buckets


def _id(value: Any) -> str:
    return "" if value is None else str(value)


def usage_records(usage_type: str, day: date, results: Any, what: str) -> list[UsageRecord]:
    """The records of one day bucket's results (one per group)."""
    out = []
    for result in results or []:
        if not isinstance(result, Mapping):
            continue
        project, user, key = (_id(result.get(f)) for f in ("project_id", "user_id",
                                                             "api_key_id"))
        model = _id(result.get("model"))
        batch = result.get("batch") is True
        tier = _id(result.get("service_tier"))

        def count(name: str, _r: Mapping[str, Any] = result) -> int:
            return token_count(_r.get(name), f"{what}: {name}")

        total_in = count("input_tokens")
        cached, written = count("input_cached_tokens"), count("input_cache_write_tokens")
        # Input for pricing excludes cache reads and writes (priced at their own rates).
        uncached = (count("input_uncached_tokens") if result.get("input_uncached_tokens")
                    is not None else total_in - cached - written)
        if uncached < 0:
            raise ProviderError(f"{what}: input_tokens ({total_in}) is less than its cached "
                                f"({cached}) and cache-write ({written}) parts")
        extras: dict[str, Any] = {"usage_type": usage_type,
                                  "requests": count("num_model_requests")}
        for name, value in (("project_id", project), ("user_id", user), ("api_key_id", key),
                            ("service_tier", tier)):
            if value:
                extras[name] = value
        if batch:
            extras["batch"] = True
        out.append(UsageRecord(
            event_key="|".join((day.isoformat(), usage_type, project, user, key, model,
                                "batch" if batch else "", tier)),
            occurred_at=noon(day), tool=OpenAIProvider.tool,
            # Who: the user, else the key (its owner through identities), else the project.
            actor=user or key or project or "organization",
            raw_model=model, kind="batch" if batch else "",
            input_tokens=uncached, output_tokens=count("output_tokens"),
            cache_write_tokens=written, cache_read_tokens=cached,
            cost_usd=None, extras=extras))
    return out


def cost_lines(day: date, results: Any, what: str) -> list[BilledCost]:
    """The bill lines of one day bucket (dollars, exactly as reported)."""
    out = []
    for result in results or []:
        if not isinstance(result, Mapping):
            continue
        amount = result.get("amount") if isinstance(result.get("amount"), Mapping) else {}
        if amount.get("value") is None:
            continue
        currency = str(amount.get("currency") or "usd").lower()
        if currency != "usd":
            # Only dollars are documented; a converted guess would be wrong money.
            log.warning("%s: a %s cost line on %s left out (only usd is stored)", what,
                        currency, day)
            continue
        quantity = result.get("quantity")
        out.append(BilledCost(
            day=day, amount_usd=to_decimal(amount["value"], f"{what}: amount.value"),
            project_id=_id(result.get("project_id")), line_item=_id(result.get("line_item")),
            api_key_id=_id(result.get("api_key_id")),
            quantity=None if quantity is None else to_decimal(quantity, f"{what}: quantity"),
            quantity_unit=_id(result.get("quantity_unit"))))
    return out
