"""OpenRouter activity per organization member, day and model (management key).

`GET /activity` answers one UTC day (`date=`) of the last 30 completed days, one row per
(model, serving endpoint), optionally filtered to one member (`user_id=`) or one API key
(`api_key_hash=`). Each day is read once org-wide and once per member; what no member
accounts for (keys whose creator left, a personal account) is kept as the account's
`unattributed:<account>` actor instead of being dropped, so the stored total is the org total.

Keys an admin excluded (their SHA-256 hash in the account's `excluded` setting) are read on
their own and carved out of their creator's rows as records whose actor is the key hash: the
key's usage stays visible as raw data while the exclusion keeps it out of totals (the rollups
apply `excluded`, see usage/exclusions.py). Cost is what OpenRouter reports: credits
(`usage`) plus BYOK inference (`byok_usage_inference`), both kept apart in extras.
Contract: /work/shared/providers/openrouter.md (§1 transport, §2 activity, §3 attribution,
§6 double counting).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from .base import (
    # An import list, like cursor.py's: each adapter names what it uses of the contract.
    AccountConfig,
    AuthExpired,
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
from .units import to_decimal

log = logging.getLogger(__name__)

ACTIVITY_PATH = "/activity"
MEMBERS_PATH = "/organization/members"
KEYS_PATH = "/keys"
PAGE_LIMIT = 100  # members: documented maximum; keys: fixed pages of 100
HISTORY_DAYS = 30  # /activity holds the last 30 completed UTC days, nothing older
UNATTRIBUTED = "unattributed"
_KEY_HASH_RE = re.compile(r"[0-9a-f]{64}")

_COUNTS = ("requests", "prompt_tokens", "completion_tokens", "reasoning_tokens",
           "cached_tokens")
_MONEY = ("usage", "byok_usage_inference")


@dataclass
class _Usage:
    """Sums of /activity rows for one model (endpoints added up)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))
    money: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(_MONEY, Decimal(0)))
    providers: set[str] = field(default_factory=set)

    def add(self, other: _Usage, sign: int = 1) -> None:
        for k in _COUNTS:
            self.counts[k] += sign * other.counts[k]
        for k in _MONEY:
            self.money[k] += sign * other.money[k]
        if sign > 0:
            self.providers |= other.providers

    def clamped(self) -> bool:
        """Negative parts (the API's filtered and unfiltered answers disagree) become 0;
        True when anything had to be clamped."""
        bad = [k for k in _COUNTS if self.counts[k] < 0] + \
              [k for k in _MONEY if self.money[k] < 0]
        for k in bad:
            if k in self.counts:
                self.counts[k] = 0
            else:
                self.money[k] = Decimal(0)
        return bool(bad)

    def empty(self) -> bool:
        return not any(self.counts.values()) and not any(self.money.values())


class OpenRouterProvider(Provider):
    # The Provider contract's attributes, declared per adapter like the others (base.py).
    id = "openrouter"
    display_name = "OpenRouter (management key)"
    tool = "openrouter"
    # Costs are OpenRouter's own figures; members (id → e-mail) and key creators feed
    # identities. No limits or invoices are read.
    capabilities = Capabilities(token_usage=True, actual_costs=True, identities=True)
    credential_fields = (CredentialField(
        "management_key", "Management key",
        help="From openrouter.ai/settings/management-keys (an organization's key for "
             "per-member data); an inference key is refused."),)
    default_base_url = "https://openrouter.ai/api/v1"
    window = timedelta(days=1)  # /activity answers one UTC day per call
    overlap = timedelta(days=2)  # a day appears once complete; re-read it the day after
    min_request_interval = 0.0  # /activity's limit is not published (account setting)

    # --- usage ----------------------------------------------------------------------------
    def fetch(self, account: AccountConfig, window: Window,
              cursor: dict[str, Any] | None = None) -> Iterator[Page]:
        """One Page per UTC day of the window that /activity still holds (the last 30
        completed days); other days yield nothing and cost no request."""
        days = [d for d in window.days if d in available_days()]
        if not days:
            return
        with self._session(account) as session:
            members = self._members(session, account)
            excluded = excluded_entries(account)
            key_hashes = sorted(e for e in excluded if _KEY_HASH_RE.fullmatch(e))
            creators = self._key_creators(session, account) if key_hashes else {}
            for day in days:
                yield Page(self._day(session, account, day, members, key_hashes, creators),
                           {"day": day.isoformat()})

    def _day(self, session: requests.Session, account: AccountConfig, day: date,
             members: dict[str, tuple[str, str | None]], key_hashes: list[str],
             creators: dict[str, str]) -> list[UsageRecord]:
        """The day split into member, excluded-key and unattributed parts that add up to
        the org-wide answer."""
        total = self._activity(session, account, day, {})
        rest = {m: _copy(u) for m, u in total.items()}
        parts: dict[str, dict[str, _Usage]] = {}
        for user_id in members:
            rows = self._activity(session, account, day, {"user_id": user_id})
            parts[f"user:{user_id}"] = rows
            for model, usage in rows.items():
                rest.setdefault(model, _Usage()).add(usage, -1)
        for key_hash in key_hashes:
            rows = self._activity(session, account, day, {"api_key_hash": key_hash})
            parts[f"key:{key_hash}"] = rows
            creator = creators.get(key_hash)
            # The key's usage is inside its creator's answer (else inside the remainder).
            source = parts.get(f"user:{creator}") if creator in members else rest
            for model, usage in rows.items():
                source.setdefault(model, _Usage()).add(usage, -1)
        parts[UNATTRIBUTED] = rest

        records = []
        for part, rows in parts.items():
            kind, _, ident = part.partition(":")
            for model in sorted(rows):
                usage = rows[model]
                if usage.clamped():
                    log.warning("OpenRouter %s %s: %s's share of %s exceeds the org total; "
                                "kept at zero", account.name, day, part, model)
                if usage.empty():
                    continue
                if kind == "user":
                    actor, email = ident, members[ident][0] or None
                elif kind == "key":
                    actor, email = ident, None
                else:
                    actor, email = f"{UNATTRIBUTED}:{account.name}", None
                records.append(_record(day, actor, email, model, usage, kind))
        return records

    def _activity(self, session: requests.Session, account: AccountConfig, day: date,
                  params: dict[str, str]) -> dict[str, _Usage]:
        """One day's rows (optionally filtered) summed per model."""
        what = f"OpenRouter {ACTIVITY_PATH} (date={day.isoformat()}" + \
            "".join(f", {k}" for k in params) + ")"  # ids stay out of messages
        body = request(session, "GET", self._url(account, ACTIVITY_PATH), what,
                       params={"date": day.isoformat(), **params})
        out: dict[str, _Usage] = {}
        for row in _data(body, what):
            if not isinstance(row, Mapping):
                raise ProviderError(f"{what}: activity row is not an object")
            if str(row.get("date") or "")[:10] != day.isoformat():
                raise ProviderError(f"{what}: row dated {str(row.get('date'))[:10]!r}")
            model = str(row.get("model") or "").strip()
            usage = out.setdefault(model, _Usage())
            for k in _COUNTS:
                usage.counts[k] += _count(row.get(k), k, what)
            for k in _MONEY:
                if row.get(k) is not None:
                    usage.money[k] += to_decimal(row[k], f"{what}: {k}")
            if row.get("provider_name"):
                usage.providers.add(str(row["provider_name"]))
        return out

    def _members(self, session: requests.Session, account: AccountConfig
                 ) -> dict[str, tuple[str, str | None]]:
        """Organization members: id → (lower-cased e-mail, name). Empty on a personal
        account (its whole activity is then the account's unattributed actor)."""
        members = {}
        for m in self._paged(session, account, MEMBERS_PATH, {"limit": PAGE_LIMIT}):
            if m.get("id"):
                name = " ".join(str(m[k]) for k in ("first_name", "last_name") if m.get(k))
                members[str(m["id"])] = (str(m.get("email") or "").strip().lower(),
                                         name or None)
        return members

    def _key_creators(self, session: requests.Session, account: AccountConfig
                      ) -> dict[str, str]:
        """API key hash → the member id that created it (disabled keys too)."""
        out = {}
        for key in self._keys(session, account):
            creator = key.get("creator_user_id", key.get("creatorUserId"))
            if key.get("hash") and creator:
                out[str(key["hash"]).lower()] = str(creator)
        return out

    def _keys(self, session: requests.Session, account: AccountConfig
              ) -> Iterator[dict[str, Any]]:
        what = f"OpenRouter {KEYS_PATH}"
        offset = 0
        while True:
            body = request(session, "GET", self._url(account, KEYS_PATH), what,
                           params={"include_disabled": "true", "offset": offset})
            page = [k for k in _data(body, what) if isinstance(k, Mapping)]
            yield from page
            if len(page) < PAGE_LIMIT:
                return
            offset += len(page)

    def _paged(self, session: requests.Session, account: AccountConfig, path: str,
               params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """offset/limit paging until offset ≥ total_count (or an empty page)."""
        what = f"OpenRouter {path}"
        offset = 0
        while True:
            body = request(session, "GET", self._url(account, path), what,
                           params={**params, "offset": offset})
            page = [m for m in _data(body, what) if isinstance(m, Mapping)]
            yield from page
            offset += len(page)
            total = body.get("total_count")
            if not page or (offset >= total if isinstance(total, int | Decimal)
                            else len(page) < params.get("limit", PAGE_LIMIT)):
                return

    # --- identities -----------------------------------------------------------------------
    def identities(self, account: AccountConfig) -> Iterator[Identity]:
        """Members by id → e-mail, and API key hashes → their creator's e-mail."""
        with self._session(account) as session:
            members = self._members(session, account)
            for user_id, (email, name) in sorted(members.items()):
                if email:
                    yield Identity(external_id=user_id, email=email, name=name)
            for key in self._keys(session, account):
                creator = key.get("creator_user_id", key.get("creatorUserId"))
                email = members.get(str(creator), ("", None))[0] if creator else ""
                if key.get("hash") and email:
                    yield Identity(external_id=str(key["hash"]).lower(), email=email,
                                   name=str(key.get("name") or key.get("label") or "") or None)

    # --- credentials and transport --------------------------------------------------------
    def _session(self, account: AccountConfig) -> requests.Session:
        key = (account.credentials.get("management_key") or "").strip()
        if not key:
            raise AuthExpired("OpenRouter management key is missing")
        return make_session(proxy_url=account.proxy_url,
                            min_interval=account.min_request_interval,
                            headers={"Authorization": f"Bearer {key}"})

    def _url(self, account: AccountConfig, path: str) -> str:
        return (account.base_url or self.default_base_url).rstrip("/") + path


# --- pure helpers ------------------------------------------------------------------------

def available_days(now: datetime | None = None) -> set[date]:
    """The UTC days /activity answers: the last 30 completed ones (today is not included)."""
    today = (now or datetime.now(UTC)).date()
    return {today - timedelta(days=i) for i in range(1, HISTORY_DAYS + 1)}


def excluded_entries(account: AccountConfig) -> set[str]:
    """The account's `excluded` setting (key hashes, member ids, e-mails), lower-cased."""
    return {str(item).lower() for item in account.settings.get("excluded") or []}


def _record(day: date, actor: str, email: str | None, model: str, usage: _Usage,
            kind: str) -> UsageRecord:
    c, m = usage.counts, usage.money
    cost = m["usage"] + m["byok_usage_inference"]
    extras = {"requests": c["requests"], "reasoning_tokens": c["reasoning_tokens"],
              # billed by OpenRouter (credits) vs by the provider on the member's own key
              "openrouter_usd": f"{m['usage']:f}", "byok_usd": f"{m['byok_usage_inference']:f}",
              "providers": sorted(usage.providers)}
    if kind == "key":
        extras["api_key_hash"] = actor
    return UsageRecord(
        event_key=f"{day.isoformat()}|{actor if kind == UNATTRIBUTED else kind + ':' + actor}"
                  f"|{model}",
        # Noon UTC keeps a whole UTC day on its calendar day from UTC-11 to UTC+11.
        occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        tool=OpenRouterProvider.tool, actor=actor, email=email, raw_model=model,
        # prompt_tokens includes cache hits; cache writes are not reported.
        input_tokens=max(c["prompt_tokens"] - c["cached_tokens"], 0),
        output_tokens=c["completion_tokens"],  # reasoning is a share of it, not added
        cache_read_tokens=c["cached_tokens"],
        cost_usd=cost, extras=extras)


def _copy(usage: _Usage) -> _Usage:
    out = _Usage()
    out.add(usage)
    return out


def _count(value: Any, name: str, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value < 0 \
            or value != int(value):
        raise ProviderError(f"{what}: {name} is not a count")
    return int(value)


def _data(body: Any, what: str) -> list[Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ProviderError(f"{what}: response has no data list")
    return data
