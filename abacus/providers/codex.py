"""Codex signed in with ChatGPT, from the Codex Analytics API of an Enterprise workspace
(tool `codex`).

`/workspaces/{workspace_id}/usage` gives one row per user per day: threads, turns, credits,
per-client totals and per-model token counts. Each (day, user, model, speed) becomes a record
with its tokens and its credits turned into dollars at the account's `usd_per_credit`
(default 0.04: 25 credits = $1; negotiated Enterprise rates differ, see README). Rows carry
the user's e-mail, so usage lands on people without a directory call. The user-day figures
(threads, turns, credits, clients) ride on the day's first record only, so sums over records
stay true.

The raw key names are not published (the field reference is behind a login), so the mapping
below is data: each field lists the names seen in public clients, first match wins, and keys
nobody maps are logged. Contract: /work/shared/providers/openai.md §6.2-6.3.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .base import (
    # An import list, like cursor.py's: each adapter names what it uses of the contract.
    AccountConfig,
    Capabilities,
    CredentialField,
    Page,
    Provider,
    ProviderError,
    UsageRecord,
    Window,
)
from .openai import ONE_DAY, bearer_session, bucket_day, midnight, noon, paged, unix
from .units import to_decimal, token_count

log = logging.getLogger(__name__)

USAGE_PATH = "/workspaces/{workspace_id}/usage"
DEFAULT_USD_PER_CREDIT = Decimal("0.04")  # 25 credits = $1 (OpenAI's Codex rate card)
MAX_USD_PER_CREDIT = Decimal(1000)
_MICRO_USD = Decimal("0.000001")
_WORKSPACE_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")  # it goes into the URL path

# Field → the key names it has been seen under (dotted: nested), first match wins.
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "start_time": ("start_time",), "end_time": ("end_time",), "date": ("date",),
    "email": ("user.email", "user_email", "email"), "user_id": ("user.id", "user_id"),
    "threads": ("threads", "total_threads"), "turns": ("turns", "total_turns"),
    "credits": ("credits", "total_credits"), "is_active": ("is_active",),
    "tokens": ("tokens",), "clients": ("clients", "client_usage", "client_breakdown"),
    "models": ("models", "model_usage", "model_breakdown"),
}
TOKEN_FIELDS: dict[str, tuple[str, ...]] = {  # row `tokens{}`: input includes cached input
    "input": ("text_input", "input"), "cached": ("cached_input", "cached_text_input"),
    "output": ("output", "text_output"),
}
MODEL_FIELDS: dict[str, tuple[str, ...]] = {
    "model": ("model",), "speed": ("speed",), "credits": ("credits", "total_credits"),
    "uncached": ("uncached_text_input_tokens", "uncached_input_tokens"),
    "cached": ("cached_text_input_tokens", "cached_input_tokens"),
    "output": ("text_output_tokens", "output_tokens"), "total": ("text_total_tokens",),
}
CLIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "client": ("client_id", "client", "client_surface"), "threads": ("threads", "total_threads"),
    "turns": ("turns", "total_turns"), "credits": ("credits", "total_credits"),
}


class CodexProvider(Provider):
    id = "codex"
    display_name = "Codex (ChatGPT workspace analytics)"
    tool = "codex"
    # Credits are what OpenAI counted; dollars follow from the account's rate.
    capabilities = Capabilities(token_usage=True, actual_costs=True)
    credential_fields = (CredentialField(
        "api_key", "Codex analytics API key",
        help="A Platform API key with scope codex.enterprise.analytics.read (from OpenAI)"),)
    default_base_url = "https://api.chatgpt.com/v1/analytics/codex"
    window = timedelta(days=30)
    overlap = timedelta(days=2)  # the dashboard lags up to 12 hours
    history = timedelta(days=90)  # the API answers at most 90 days back
    schedule = "50 */6 * * *"

    def fetch(self, account: AccountConfig, window: Window,
              cursor: dict[str, Any] | None = None) -> Iterator[Page]:
        session = bearer_session(account, "api_key")
        workspace = str(account.settings.get("workspace_id") or "")
        if not _WORKSPACE_RE.fullmatch(workspace):
            raise ProviderError(f"account {account.name!r}: workspace_id is missing or "
                                "malformed (accounts add codex --workspace ID)")
        rate = usd_per_credit(account.settings)
        days = window.days
        path = USAGE_PATH.format(workspace_id=workspace)
        url = (account.base_url or self.default_base_url).rstrip("/") + path
        what = f"Codex analytics {USAGE_PATH}"  # the workspace id stays out of messages
        params = {"start_time": unix(midnight(days[0])),
                  "end_time": unix(midnight(days[-1]) + ONE_DAY), "group_by": "day"}
        unknown: set[str] = set()
        for body in paged(session, url, what, params,
                          tokens=(("next_page", "page"), ("next_cursor", "cursor"))):
            records = []
            for row in body["data"]:
                if isinstance(row, Mapping):
                    records.extend(usage_records(row, days, rate, what, unknown))
            yield Page(records)
        if unknown:
            log.info("%s: keys not mapped (kept out of the records): %s", what,
                     ", ".join(sorted(unknown)))

    def check_settings(self, settings: Mapping[str, Any]) -> list[str]:
        problems = []
        if not _WORKSPACE_RE.fullmatch(str(settings.get("workspace_id") or "")):
            problems.append("workspace_id is required: the ChatGPT workspace id (admin "
                            "console → workspace settings), letters, digits, '-' and '_'")
        try:
            usd_per_credit(settings)
        except ProviderError as exc:
            problems.append(str(exc))
        return problems


def usd_per_credit(settings: Mapping[str, Any]) -> Decimal:
    """The account's dollars per Codex credit (default 0.04)."""
    raw = settings.get("usd_per_credit")
    if raw in (None, ""):
        return DEFAULT_USD_PER_CREDIT
    try:
        rate = Decimal(str(raw).strip())
    except InvalidOperation:
        rate = Decimal(-1)
    if not rate.is_finite() or not 0 < rate <= MAX_USD_PER_CREDIT:
        raise ProviderError(f"usd_per_credit: expected dollars per credit above 0 and at most "
                            f"{MAX_USD_PER_CREDIT} (e.g. 0.04), got {str(raw)[:20]!r}")
    return rate


# --- normalization (pure functions, testable without HTTP) -------------------------------------

def _pick(item: Mapping[str, Any], fields: Mapping[str, tuple[str, ...]],
          unknown: set[str], prefix: str = "") -> dict[str, Any]:
    """Field → value by the first known name present; names matching no field go in
    `unknown` (logged once per fetch)."""
    out: dict[str, Any] = {}
    for field, names in fields.items():
        for name in names:
            value: Any = item
            for part in name.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
            if value is not None:
                out[field] = value
                break
    known = {name.split(".")[0] for names in fields.values() for name in names}
    unknown.update(f"{prefix}{k}" for k in item if k not in known and k != "object")
    return out


def _credits(value: Any, what: str) -> Decimal:
    credits = Decimal(0) if value is None else to_decimal(value, what)
    if credits < 0:
        raise ProviderError(f"{what} is negative ({credits})")
    return credits


def _usd(credits: Decimal, rate: Decimal) -> Decimal:
    # Stored at NUMERIC(14, 6): rounded here, half-up, so a re-sync compares equal.
    return (credits * rate).quantize(_MICRO_USD, rounding=ROUND_HALF_UP)


def _day(row: Mapping[str, Any], days: list[date], what: str) -> date:
    if row.get("start_time") is not None:
        return bucket_day(row["start_time"], days, what)
    try:
        day = date.fromisoformat(str(row.get("date"))[:10])
    except ValueError:
        raise ProviderError(f"{what}: row without start_time or date") from None
    if day not in days:
        raise ProviderError(f"{what}: row for {day.isoformat()} outside the days asked for")
    return day


def usage_records(item: Mapping[str, Any], days: list[date], rate: Decimal, what: str,
                  unknown: set[str] | None = None) -> list[UsageRecord]:
    """The records of one user-day row: one per (model, speed), plus one for credits no model
    accounts for; the user-day figures on the first."""
    unknown = set() if unknown is None else unknown
    row = _pick(item, ROW_FIELDS, unknown)
    day = _day(row, days, what)
    email = str(row["email"]).strip().lower() if row.get("email") else None
    actor = email or (f"codex-user:{row['user_id']}" if row.get("user_id") else "workspace")
    total_credits = _credits(row.get("credits"), f"{what}: credits")
    clients = []
    for client in row.get("clients") or []:
        if isinstance(client, Mapping):
            c = _pick(client, CLIENT_FIELDS, unknown, "clients.")
            clients.append({"client": str(c.get("client") or ""),
                            "threads": token_count(c.get("threads"), f"{what}: client threads"),
                            "turns": token_count(c.get("turns"), f"{what}: client turns"),
                            "credits": str(_credits(c.get("credits"),
                                                    f"{what}: client credits"))})
    user_day: dict[str, Any] = {
        "threads": token_count(row.get("threads"), f"{what}: threads"),
        "turns": token_count(row.get("turns"), f"{what}: turns"),
        "credits": str(total_credits), "usd_per_credit": str(rate), "clients": clients,
    }
    if row.get("is_active") is not None:
        user_day["is_active"] = bool(row["is_active"])

    parts: list[tuple[str, str, int, int, int, Decimal]] = []  # model, speed, in, cached, out
    for entry in row.get("models") or []:
        if not isinstance(entry, Mapping):
            continue
        m = _pick(entry, MODEL_FIELDS, unknown, "models.")
        parts.append((str(m.get("model") or ""), str(m.get("speed") or ""),
                      token_count(m.get("uncached"), f"{what}: uncached input"),
                      token_count(m.get("cached"), f"{what}: cached input"),
                      token_count(m.get("output"), f"{what}: output"),
                      _credits(m.get("credits"), f"{what}: model credits")))
    if not parts:  # no per-model split: the row's own token totals
        tokens = _pick(row.get("tokens") or {}, TOKEN_FIELDS, unknown, "tokens.")
        cached = token_count(tokens.get("cached"), f"{what}: tokens.cached_input")
        total_in = token_count(tokens.get("input"), f"{what}: tokens.text_input")
        if total_in < cached:
            raise ProviderError(f"{what}: text input ({total_in}) below cached input "
                                f"({cached})")
        parts.append(("", "", total_in - cached, cached,
                      token_count(tokens.get("output"), f"{what}: tokens.output"),
                      total_credits))
    rest = total_credits - sum(p[5] for p in parts)
    if rest > 0:  # credits no model accounts for (code review…): kept, on no model
        parts.append(("", "unallocated", 0, 0, 0, rest))

    out = []
    for index, (model, speed, uncached, cached, output, credits) in enumerate(parts):
        extras = dict(user_day) if index == 0 else {"usd_per_credit": str(rate)}
        extras["model_credits"] = str(credits)
        if speed:
            extras["speed"] = speed
        out.append(UsageRecord(
            event_key=f"{day.isoformat()}|{actor}|{model}|{speed}",
            occurred_at=noon(day), tool=CodexProvider.tool, actor=actor, email=email,
            raw_model=model, kind="" if speed in ("", "standard") else speed,
            input_tokens=uncached, cache_read_tokens=cached, output_tokens=output,
            cost_usd=_usd(credits, rate), extras=extras))
    return out
