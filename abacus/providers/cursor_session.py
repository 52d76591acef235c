"""Cursor individual seats through the cursor.com dashboard routes and a session cookie.

Pro / Pro+ / Ultra seats have no Admin API key; the dashboard's own JSON routes answer to the
browser cookie `WorkosCursorSessionToken` (shared/providers/cursor-dashboard.md). The routes
are undocumented: every number may come as a string or be missing (protobuf JSON), a dead
session can answer 401 or a 200 HTML page, and POSTs need the site's `Origin` (CSRF check).

Records use the same event key as a personal CSV export of the seat (no User column), so
importing the seat's CSV into the same account never counts an event twice.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from . import http
from .base import (
    # An import list, like cursor.py's: each adapter names what it uses of the contract.
    AccountConfig,
    AuthExpired,
    Capabilities,
    CredentialField,
    Page,
    Provider,
    ProviderError,
    Snapshot,
    UsageRecord,
    Window,
)
from .cursor_events import cursor_event_key, event_cost
from .units import cents_to_usd, to_decimal

log = logging.getLogger(__name__)

COOKIE_NAME = "WorkosCursorSessionToken"
COOKIE_WARNING_DAYS = 7
RELOGIN = "sign in to cursor.com again and replace the cookie"

EVENTS_PATH = "/api/dashboard/get-filtered-usage-events"
SUMMARY_PATH = "/api/usage-summary"
ME_PATH = "/api/auth/me"
HARD_LIMIT_PATH = "/api/dashboard/get-hard-limit"
INVOICE_PATH = "/api/dashboard/get-monthly-invoice"

PAGE_SIZE = 500  # the route takes up to 1000; the RPC twin returns nothing above that
MAX_PAGES = 200
UNLIMITED_DOLLARS = 2147483647  # get-hard-limit's "no cap" (int32 max)

BILLED_KIND = "USAGE_EVENT_KIND_USAGE_BASED"
# aiserver.v1.UsageEventKind, for the rare response that sends the enum as a number.
KIND_NAMES = ("UNSPECIFIED", "USAGE_BASED", "USER_API_KEY", "INCLUDED_IN_PRO",
              "INCLUDED_IN_BUSINESS", "ERRORED_NOT_CHARGED", "ABORTED_NOT_CHARGED",
              "CUSTOM_SUBSCRIPTION", "INCLUDED_IN_PRO_PLUS", "INCLUDED_IN_ULTRA", "FREE_CREDIT")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# event field → extras key, copied when the event has it.
_MONEY_EXTRAS = (("chargedCents", "charged_cents"), ("cursorTokenFee", "cursor_token_fee"),
                 ("requestsCosts", "requests_costs"))
_BOOL_EXTRAS = (("isHeadless", "is_headless"), ("isChargeable", "is_chargeable"))
_TEXT_EXTRAS = (("usageBasedCosts", "usage_based_costs"), ("owningUser", "owning_user"),
                ("owningTeam", "owning_team"), ("cloudAgentId", "cloud_agent_id"),
                ("customSubscriptionName", "custom_subscription_name"))


# --- the cookie ----------------------------------------------------------------------------

def normalize_cookie(text: str) -> str:
    """The cookie value from what a user pastes.

    Accepts the bare value (`user_01…%3A%3AeyJ…` or with a literal `::`), a
    `WorkosCursorSessionToken=…` pair, or a whole `Cookie:` header line copied from the
    browser; a bare JWT (the IDE's access token) gets the `<userId>%3A%3A` prefix built from
    its `sub`, as the browser would store it. Raises ValueError (never quoting the input).
    """
    s = (text or "").strip()
    if s[:7].lower() == "cookie:":
        s = s[7:].strip()
    value = None
    for part in s.split(";"):
        name, sep, rest = part.strip().partition("=")
        if sep and name.strip() == COOKIE_NAME:
            value = rest
            break
    if value is None:
        if "=" in s or ";" in s:
            raise ValueError(f"the pasted cookies do not include {COOKIE_NAME}")
        value = s
    value = value.strip().strip('"').strip()
    if not value or any(ch.isspace() or ch in ";," for ch in value):
        raise ValueError(f"the {COOKIE_NAME} cookie value is empty or malformed")
    if "%3a%3a" not in value.lower() and "::" not in value:
        value = _cookie_from_jwt(value)
    return value


def _cookie_from_jwt(jwt: str) -> str:
    # The browser cookie is `<userId>%3A%3A<jwt>`; userId is the part of `sub` after the last
    # `|` (`auth0|user_01…` → `user_01…`), as the clients in §1.2 build it.
    payload = _jwt_payload(jwt)
    sub = payload.get("sub") if payload else None
    if not isinstance(sub, str) or not sub:
        raise ValueError(f"the {COOKIE_NAME} value is not `<userId>%3A%3A<token>`")
    return f"{sub.rsplit('|', 1)[-1]}%3A%3A{jwt}"


def _jwt_payload(jwt: str) -> dict[str, Any] | None:
    """The JWT's payload claims, unverified (we only read `exp` and `sub`); None if unreadable."""
    parts = jwt.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    return payload if isinstance(payload, dict) else None


def cookie_expiry(value: str) -> datetime | None:
    """When the session JWT says it expires (aware UTC), or None when it cannot be read.

    Only an early warning: the server can end a session long before `exp` (§1.3).
    """
    try:
        value = normalize_cookie(value)
    except ValueError:
        return None
    payload = _jwt_payload(unquote(value).rsplit("::", 1)[-1])
    exp = payload.get("exp") if payload else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def cookie_expires_soon(value: str, now: datetime) -> bool:
    """True when the cookie expires within COOKIE_WARNING_DAYS of `now` (or already has)."""
    exp = cookie_expiry(value)
    return exp is not None and exp - now <= timedelta(days=COOKIE_WARNING_DAYS)


# --- lenient parsing (protobuf JSON: numbers as strings, zero values left out) --------------

def _decimal(value: Any, what: str) -> Decimal:
    """A number from a JSON number or numeric string; missing means 0 (proto3 omits zeros)."""
    if value is None or value == "":
        return Decimal(0)
    return to_decimal(value, what)


def _count(value: Any, what: str) -> int:
    number = _decimal(value, what)
    if number < 0 or number != number.to_integral_value():
        raise ProviderError(f"{what}: expected a whole number ≥ 0, got {number}")
    return int(number)


def _bool(value: Any) -> bool:
    """Missing means false (proto3); tolerate "true"/"false" strings and 0/1."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _optional_int(value: Any, what: str) -> int | None:
    return None if value is None else int(_decimal(value, what))


def _usd_text(amount: Decimal) -> str:
    return format(amount, "f")  # never scientific notation ("1E-7") in stored snapshots


def _cents_text(cents: int | None) -> str | None:
    return None if cents is None else _usd_text(cents_to_usd(cents))


def _kind(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(KIND_NAMES):
        return f"USAGE_EVENT_KIND_{KIND_NAMES[value]}"
    return "" if value is None else str(value)


def _iso(value: Any) -> str | None:
    """An ISO timestamp normalised to UTC isoformat; the raw text when it cannot be parsed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()


def _ms_iso(value: Any, what: str) -> str | None:
    if value in (None, "", "0", 0):
        return None
    return (EPOCH + timedelta(milliseconds=_count(value, what))).isoformat()


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


# --- events → records ----------------------------------------------------------------------

def event_record(event: Mapping[str, Any], account: AccountConfig) -> UsageRecord:
    """One dashboard usage event as a UsageRecord of the seat's account."""
    what = "Cursor usage event"
    if not event.get("timestamp"):
        raise ProviderError(f"{what}: no timestamp")
    ts_ms = _count(event["timestamp"], f"{what} timestamp")
    model = str(event.get("model") or "")
    kind = _kind(event.get("kind"))
    tokens = event.get("tokenUsage") or {}
    if not isinstance(tokens, Mapping):
        raise ProviderError(f"{what} {ts_ms}: tokenUsage is not an object")
    where = f"{what} {ts_ms}"

    extras: dict[str, Any] = {}
    for source, target in _MONEY_EXTRAS:
        if event.get(source) is not None:
            extras[target] = _decimal(event[source], f"{where} {source}")
    if tokens.get("totalCents") is not None:
        extras["total_cents"] = _decimal(tokens["totalCents"], f"{where} totalCents")
    if tokens.get("discountPercentOff") is not None:
        extras["discount_percent_off"] = _decimal(tokens["discountPercentOff"],
                                                  f"{where} discountPercentOff")
    for source, target in _BOOL_EXTRAS:
        if source in event:
            extras[target] = _bool(event[source])
    for source, target in _TEXT_EXTRAS:
        if event.get(source) not in (None, ""):
            extras[target] = str(event[source])
    extras["max_mode"] = _bool(event.get("maxMode"))
    extras["billed"] = kind == BILLED_KIND
    # Failed, aborted or free requests cost nothing, whatever cents the row carries (§4 E1).
    cost = event_cost(kind, charged_cents=extras.get("charged_cents"),
                      total_cents=extras.get("total_cents"),
                      discount_percent=extras.get("discount_percent_off"),
                      token_fee_cents=extras.get("cursor_token_fee"),
                      free_bugbot=_bool(event.get("isFreeBugbot")), what=where)
    extras.update(cost.extras)

    return UsageRecord(
        # The key a personal CSV export of this seat gets (no User column → empty e-mail).
        event_key=cursor_event_key(ts_ms, "", model),
        occurred_at=EPOCH + timedelta(milliseconds=ts_ms),  # exact ms, no float rounding
        tool="cursor",
        actor=f"seat:{account.name}",  # as the CSV importer names a personal export's rows
        email=account.settings.get("owner_email") or None,
        raw_model=model,
        kind=kind,
        input_tokens=_count(tokens.get("inputTokens"), f"{where} inputTokens"),
        output_tokens=_count(tokens.get("outputTokens"), f"{where} outputTokens"),
        cache_write_tokens=_count(tokens.get("cacheWriteTokens"), f"{where} cacheWriteTokens"),
        cache_read_tokens=_count(tokens.get("cacheReadTokens"), f"{where} cacheReadTokens"),
        cost_usd=cost.cost_usd,
        not_charged=cost.not_charged,
        extras=extras,
    )


def _event_signature(event: Mapping[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, default=str)


def _resume_point(cursor: Mapping[str, Any] | None, start_ms: int,
                  end_ms: int) -> tuple[int, int]:
    """(page, events collected so far) to start at: 1, 0 unless the cursor is this window's."""
    if not cursor or not cursor.get("page"):
        return 1, 0
    try:
        same = int(cursor["start_ms"]) == start_ms and int(cursor["end_ms"]) == end_ms
        page, collected = int(cursor["page"]), int(cursor.get("collected") or 0)
    except (KeyError, TypeError, ValueError):
        return 1, 0
    return (page, collected) if same and page >= 1 else (1, 0)


# --- snapshots -----------------------------------------------------------------------------

def summary_data(body: Mapping[str, Any]) -> dict[str, Any]:
    """usage-summary: plan, cycle and the usage pools, integer cents plus USD strings.

    `limit - used` is deliberately not computed: on Pro the `limit` is the API pool while
    `used` mostly lands in the Auto pool (§4 E2).
    """
    data: dict[str, Any] = {
        "billing_cycle_start": _iso(body.get("billingCycleStart")),
        "billing_cycle_end": _iso(body.get("billingCycleEnd")),
        "membership_type": body.get("membershipType"),
        "limit_type": body.get("limitType"),
        "is_unlimited": _bool(body.get("isUnlimited")),
    }
    for source, target in (("individualUsage", "individual_usage"), ("teamUsage", "team_usage")):
        pools = body.get(source)
        if isinstance(pools, Mapping):
            data[target] = {_snake(name): _pool(pool, f"usage-summary {source}.{name}")
                            for name, pool in pools.items() if isinstance(pool, Mapping)}
    return data


def _pool(pool: Mapping[str, Any], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pool.items():
        name = _snake(key)
        if key in ("used", "limit", "remaining"):  # integer cents; null = no cap
            cents = _optional_int(value, f"{what}.{key}")
            out[f"{name}_cents"], out[f"{name}_usd"] = cents, _cents_text(cents)
        elif key == "breakdown" and isinstance(value, Mapping):
            out["breakdown"] = {}
            for part, amount in value.items():
                cents = _optional_int(amount, f"{what}.breakdown.{part}")
                out["breakdown"][f"{_snake(part)}_cents"] = cents
                out["breakdown"][f"{_snake(part)}_usd"] = _cents_text(cents)
        elif key.endswith("PercentUsed"):
            out[name] = None if value is None else float(_decimal(value, f"{what}.{key}"))
        elif isinstance(value, Decimal):
            out[name] = str(value)
        elif value is None or isinstance(value, bool | int | str):
            out[name] = value
    return out


def hard_limit_data(body: Mapping[str, Any]) -> dict[str, Any]:
    """get-hard-limit: whole dollars (not cents); 2147483647 = no cap → null."""
    def dollars(value: Any, what: str) -> str | None:
        amount = _decimal(value, f"get-hard-limit {what}")
        return None if amount >= UNLIMITED_DOLLARS else _usd_text(amount.quantize(Decimal("0.01")))

    data: dict[str, Any] = {
        "hard_limit_usd": dollars(body.get("hardLimit"), "hardLimit"),
        # proto3 drops false: a missing flag means on-demand usage is allowed.
        "no_usage_based_allowed": _bool(body.get("noUsageBasedAllowed")),
    }
    data["unlimited"] = data["hard_limit_usd"] is None
    for source, target in (("hardLimitPerUser", "hard_limit_per_user_usd"),
                           ("perUserMonthlyLimitDollars", "per_user_monthly_limit_usd")):
        if body.get(source) is not None:
            data[target] = dollars(body[source], source)
    return data


def invoice_data(body: Mapping[str, Any], year: int, month: int) -> dict[str, Any]:
    """get-monthly-invoice: line items in integer cents (credits can be negative) + total."""
    items = []
    for item in body.get("items") or []:
        if not isinstance(item, Mapping):
            continue
        cents = _optional_int(item.get("cents"), "get-monthly-invoice item cents") or 0
        items.append({"description": str(item.get("description") or ""), "cents": cents,
                      "usd": _cents_text(cents)})
    total = sum(i["cents"] for i in items)
    data: dict[str, Any] = {"year": year, "month": month, "items": items, "total_cents": total,
                            "total_usd": _cents_text(total)}
    for source, target in (("periodStartMs", "period_start"), ("periodEndMs", "period_end")):
        if body.get(source):
            data[target] = _ms_iso(body[source], f"get-monthly-invoice {source}")
    if "hasUnpaidMidMonthInvoice" in body:
        data["has_unpaid_mid_month_invoice"] = _bool(body["hasUnpaidMidMonthInvoice"])
    return data


# --- HTTP ----------------------------------------------------------------------------------

def _is_html(response: requests.Response) -> bool:
    if "text/html" in (response.headers.get("Content-Type") or "").lower():
        return True
    head = response.content[:64].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html"))


class _Dashboard:
    """One seat's session: the cookie on every request, Origin/Referer on POSTs."""

    def __init__(self, account: AccountConfig, base_url: str):
        try:
            cookie = normalize_cookie(account.credentials.get("cookie") or "")
        except ValueError as exc:
            raise AuthExpired(f"Cursor session cookie: {exc}; {RELOGIN}") from None
        self.base_url = base_url.rstrip("/")
        self.session = http.make_session(
            proxy_url=account.proxy_url, min_interval=account.min_request_interval,
            headers={"Cookie": f"{COOKIE_NAME}={cookie}", "Accept": "application/json"})

    def get(self, path: str, what: str, *, tolerate: tuple[int, ...] = ()) -> Any:
        return self._call("GET", path, what, None, tolerate)

    def post(self, path: str, body: dict[str, Any], what: str, *,
             tolerate: tuple[int, ...] = ()) -> Any:
        return self._call("POST", path, what, body, tolerate)

    def _call(self, method: str, path: str, what: str, body: dict[str, Any] | None,
              tolerate: tuple[int, ...]) -> Any:
        """The JSON body, or None for a `tolerate`d status; typed errors otherwise."""
        kwargs: dict[str, Any] = {"allow_redirects": False}  # the cookie stays on this host
        if method == "POST":
            kwargs["data"] = json.dumps(body)
            kwargs["headers"] = {"Origin": self.base_url,  # the CSRF check (§1.4)
                                 "Referer": f"{self.base_url}/dashboard",
                                 "Content-Type": "application/json"}
        response = http.send(self.session, method, self.base_url + path, what, **kwargs)
        status = response.status_code
        if status in tolerate:
            return None
        if status in (401, 403):
            detail = http.error_message(response)
            if status == 403 and "origin" in http.error_text(response).lower():
                # Not the session: the site refused our Origin (a wrong base URL, or the
                # check changed). Replacing the cookie would not help.
                raise ProviderError(f"{what}: HTTP 403 (the site refused the request's "
                                    f"Origin); check the account's base URL (Origin sent: "
                                    f"{self.base_url})")
            raise AuthExpired(f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
                              + f"; the Cursor session has ended, {RELOGIN}")
        if 300 <= status < 400:
            # Where it points is the host's text: classified, never repeated.
            target = urlsplit(response.headers.get("Location") or "").path.lower()
            if any(word in target for word in ("login", "auth", "sign")):
                raise AuthExpired(f"{what}: redirected to sign-in; {RELOGIN}")
            raise ProviderError(f"{what}: HTTP {status} redirect elsewhere; check the base URL")
        http.raise_for_status(response, what, auth_statuses=())
        if _is_html(response):
            # The SPA's page instead of JSON: what the site serves to a dead session.
            raise AuthExpired(f"{what}: got an HTML page instead of data; the Cursor session "
                              f"has ended, {RELOGIN}")
        return http.json_body(response, what)



# --- the provider --------------------------------------------------------------------------

class CursorSessionProvider(Provider):
    id = "cursor_session"
    display_name = "Cursor seat (session cookie)"
    tool = "cursor"
    capabilities = Capabilities(token_usage=True, actual_costs=True, usage_limits=True,
                                invoices=True, per_request_events=True)
    credential_fields = (CredentialField(
        "cookie", "WorkosCursorSessionToken cookie",
        help="Sign in at cursor.com, open the browser's developer tools → Application (Storage)"
             " → Cookies → https://cursor.com, and copy the value of WorkosCursorSessionToken"
             " (it starts with user_…). A whole `Cookie:` header line works too. Sessions last"
             " up to about 60 days; Abacus warns a week before the cookie expires."),)
    default_base_url = "https://cursor.com"
    window = timedelta(days=1)
    overlap = timedelta(days=1)  # Cursor revises recent events (late rows, final cents)
    min_request_interval = 1.0  # no documented limit; 429s were seen on fast polling

    def __init__(self, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES):
        self.page_size = page_size
        self.max_pages = max_pages

    def _dashboard(self, account: AccountConfig) -> _Dashboard:
        return _Dashboard(account, account.base_url or self.default_base_url)

    @staticmethod
    def _team_id(account: AccountConfig) -> int:
        return int(account.settings.get("team_id") or 0)

    def fetch(self, account: AccountConfig, window: Window,
              cursor: dict[str, Any] | None = None) -> Iterator[Page]:
        """One Page per dashboard page of events (newest first), rows repeated from an earlier
        page dropped.

        A page's cursor is `{"start_ms", "end_ms", "page": <next page or None>, "collected"}`.
        The engine keeps the last cursor across windows, so only a cursor naming this very
        window with a next page resumes; `page: None` marks the window finished and a later
        fetch starts at page 1 (re-reading is idempotent, keys are stable).
        """
        dash = self._dashboard(account)
        what = "Cursor get-filtered-usage-events"
        start_ms, end_ms = window.start_ms(), window.end_ms()
        page, collected = _resume_point(cursor, start_ms, end_ms)
        seen: set[str] = set()
        while True:
            if page > self.max_pages:
                raise ProviderError(f"{what}: more than {self.max_pages} pages for one window")
            body = dash.post(EVENTS_PATH, {
                "teamId": self._team_id(account),
                "startDate": str(start_ms), "endDate": str(end_ms),  # int64 as JSON strings
                "page": page, "pageSize": self.page_size,
            }, f"{what} page {page}")
            if not isinstance(body, Mapping):
                raise ProviderError(f"{what} page {page}: expected a JSON object")
            rows = body.get("usageEventsDisplay") or []
            if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
                raise ProviderError(f"{what} page {page}: usageEventsDisplay is not a list "
                                    "of events")
            total = _count(body.get("totalUsageEventsCount"), f"{what} totalUsageEventsCount")

            # A row equal to one of an earlier page is the page boundary repeating itself
            # (newest-first paging while events arrive); equal rows inside one page are kept,
            # they can be separate requests.
            signatures = [_event_signature(r) for r in rows]
            fresh = [r for r, sig in zip(rows, signatures, strict=True) if sig not in seen]
            seen.update(signatures)
            collected += len(fresh)
            if rows and not fresh:
                raise ProviderError(f"{what} page {page}: only rows of earlier pages; the "
                                    "server is not paging")
            # The route filters by date itself; rows outside the window are still dropped
            # here (without dates it serves every cycle), another window reports them.
            records = [rec for rec in (event_record(r, account) for r in fresh)
                       if window.start <= rec.occurred_at < window.end]

            # Done when every counted event arrived, or nothing more comes. A short page is
            # not the end while events are missing (pages can be short mid-way, §4 E1).
            done = (not rows or (total and collected >= total)
                    or (not total and len(rows) < self.page_size))
            if done and total and collected < total:
                log.warning("%s: %d of %d counted events for %s..%s arrived",
                            what, collected, total, window.start.isoformat(),
                            window.end.isoformat())
            yield Page(records, {"start_ms": start_ms, "end_ms": end_ms,
                                 "page": None if done else page + 1, "collected": collected})
            if done:
                return
            page += 1

    def snapshots(self, account: AccountConfig) -> Iterator[Snapshot]:
        """session (cookie expiry), profile, summary, hard_limit and the cycle's invoice."""
        cookie = account.credentials.get("cookie") or ""
        expires = cookie_expiry(cookie)
        session: dict[str, Any] = {"expires_at": expires.isoformat() if expires else None}
        if expires is not None and cookie_expires_soon(cookie, datetime.now(UTC)):
            # Stored with the snapshot; the sync engine alerts once per distinct warning.
            session["warning"] = (f"the session cookie expires on {expires:%Y-%m-%d %H:%M} "
                                  f"UTC; {RELOGIN}")
        yield Snapshot("session", session)

        dash = self._dashboard(account)
        me = dash.get(ME_PATH, "Cursor auth/me", tolerate=(404,))  # 404 for some accounts
        if isinstance(me, Mapping):
            yield Snapshot("profile", {k: me.get(k) for k in ("email", "name", "sub")})

        summary = dash.get(SUMMARY_PATH, "Cursor usage-summary")
        if not isinstance(summary, Mapping):
            raise ProviderError("Cursor usage-summary: expected a JSON object")
        data = summary_data(summary)
        yield Snapshot("summary", data)

        team_id = self._team_id(account)
        team = {"teamId": team_id} if team_id else {}
        limit = dash.post(HARD_LIMIT_PATH, team, "Cursor get-hard-limit", tolerate=(404,))
        if isinstance(limit, Mapping):
            yield Snapshot("hard_limit", hard_limit_data(limit))

        # The invoice of the cycle the summary reports (the month it started in).
        start = data["billing_cycle_start"]
        try:
            cycle = datetime.fromisoformat(start) if start else datetime.now(UTC)
        except ValueError:
            cycle = datetime.now(UTC)
        body = {"month": cycle.month, "year": cycle.year, "includeUsageEvents": False, **team}
        # Enterprise members get 401 here even in a browser: no invoice, not a dead session
        # (the summary above just proved the cookie works).
        invoice = dash.post(INVOICE_PATH, body, "Cursor get-monthly-invoice", tolerate=(401,))
        if isinstance(invoice, Mapping):
            yield Snapshot("invoice", invoice_data(invoice, cycle.year, cycle.month),
                           key=f"{cycle.year:04d}-{cycle.month:02d}")

    def prepare_credentials(self, credentials: Mapping[str, str]) -> dict[str, str]:
        """Store the bare cookie value, whatever shape it was pasted in."""
        prepared = super().prepare_credentials(credentials)
        with contextlib.suppress(ValueError):  # check_credentials reports it
            prepared["cookie"] = normalize_cookie(prepared.get("cookie", ""))
        return prepared

    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        problems = super().check_credentials(credentials)
        if problems:
            return problems
        try:
            value = normalize_cookie(credentials["cookie"])
        except ValueError as exc:
            return [str(exc)]
        expires = cookie_expiry(value)
        if expires is not None and expires <= datetime.now(UTC):
            return [f"the cookie expired on {expires:%Y-%m-%d}; {RELOGIN}"]
        return []
