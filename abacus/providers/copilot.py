"""GitHub Copilot: per-person daily usage from the usage-metrics reports, AI-credit cost from
the billing usage API, the seat list and the user–team report.

Contract: /work/shared/providers/copilot.md (§1 seats, §2 reports, §3 billing). Every GitHub
call goes through `providers.github.GitHubClient` (token or GitHub App, rate limits, Link
pagination); report files are fetched from their signed download links with a session that
sends no GitHub credentials.

Per UTC day (the reports answer one day per call):

* `users-1-day` → one record per user (key: day + GitHub user id, actor: the lower-cased
  login, mapped to people under identity source `github`, shared with commit authors).
  Counts go to `extras`; the only tokens in the reports (Copilot CLI and app) go to the token
  columns. Links are signed and expire: a refused download asks the endpoint again.
* Cost: with billing access, the AI-credit usage API per day and per user: `cost_usd` is the
  gross *usage value*, `extras.billed_usd` the net amount after the included pool
  (`cost_basis: billing`); spend the day total has beyond the users' is one record for the
  organization (`kind: org_spend`), never dropped. Without billing access `cost_usd` =
  `ai_credits_used` × $0.01 (`cost_basis: ai_credits`); a day without that field stays
  unpriced (unknown, not $0).
* `user-teams-1-day` → `Page.memberships` for the day.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .base import (
    # An import list, like cursor.py's: each adapter names what it uses of the contract.
    AccountConfig,
    AuthExpired,
    Capabilities,
    CredentialField,
    Page,
    Provider,
    ProviderError,
    Seat,
    Snapshot,
    TeamMembership,
    UsageRecord,
    Window,
)
from .github import GitHubClient, GitHubCredentials
from .http import error_text, make_session, raise_for_status, send

REPORTS_START = date(2025, 10, 10)  # the first day GitHub has reports for
HISTORY = timedelta(days=365)  # reports reach at most a year back
API_VERSION = "2026-03-10"
CREDIT_USD = Decimal("0.01")  # one AI credit
MONEY = Decimal("0.000001")  # what usage_events.cost_usd keeps (NUMERIC(14, 6))
LINK_ATTEMPTS = 3  # fresh download links asked for before giving up on a day
SEATS_PER_PAGE = 100  # the documented maximum
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

# Counters every breakdown of the report carries (those that apply).
COUNTERS = ("user_initiated_interaction_count", "code_generation_activity_count",
            "code_acceptance_activity_count", "loc_suggested_to_add_sum",
            "loc_suggested_to_delete_sum", "loc_added_sum", "loc_deleted_sum")
FLAGS = ("used_agent", "used_chat", "used_cli")

METRICS_DISABLED = (
    "Copilot metrics are disabled for this {kind}: an owner turns on the \"Copilot usage "
    "metrics\" policy ({where} → Copilot → Policies{everywhere}), then the next sync reads "
    "the reports")
METRICS_FORBIDDEN = (
    "{what}: the token may not read Copilot metrics (HTTP 403): use a classic token with "
    "read:org or manage_billing:copilot (enterprise: read:enterprise or manage_billing:copilot)"
    ", or a fine-grained token with \"Organization Copilot metrics\" read, of an owner or "
    "billing manager")
BILLING_CLASSIC = ("billing needs a classic token with manage_billing:copilot (enterprise: "
                   "manage_billing:enterprise); usage still syncs, cost is AI credits × $0.01")
BILLING_ENTERPRISE = ("this organization's billing belongs to its enterprise (GitHub answers "
                      "404 on the organization's billing): add the account with --enterprise "
                      "SLUG for billed figures; usage still syncs, cost is AI credits × $0.01")


class MetricsDisabled(ProviderError):
    """The "Copilot usage metrics" policy is off: the account says how to turn it on."""


class BillingUnavailable(ProviderError):
    """The billing usage API refused this token or account; usage syncs without it."""


@dataclass(frozen=True)
class Scope:
    kind: str  # org | enterprise
    slug: str

    @property
    def label(self) -> str:  # also the actor of organization-level spend
        return f"{self.kind}:{self.slug}"

    def reports(self, name: str) -> str:
        base = "orgs" if self.kind == "org" else "enterprises"
        return f"/{base}/{quote(self.slug, safe='')}/copilot/metrics/reports/{name}"

    @property
    def seats(self) -> str:
        base = "orgs" if self.kind == "org" else "enterprises"
        return f"/{base}/{quote(self.slug, safe='')}/copilot/billing/seats"

    @property
    def billing(self) -> str:  # note /organizations/, not /orgs/
        base = "organizations" if self.kind == "org" else "enterprises"
        return f"/{base}/{quote(self.slug, safe='')}/settings/billing/ai_credit/usage"


def scope_of(settings: Mapping[str, Any]) -> Scope:
    """The organization or enterprise an account reads (`settings.org` / `.enterprise`)."""
    org, enterprise = settings.get("org"), settings.get("enterprise")
    if bool(org) == bool(enterprise):
        raise ProviderError("a Copilot account needs exactly one of the settings org and "
                            "enterprise")
    kind, slug = ("org", str(org)) if org else ("enterprise", str(enterprise))
    if not _SLUG.fullmatch(slug):
        raise ProviderError(f"{kind}: {slug!r} is not a GitHub {kind} name")
    return Scope(kind, slug)


@dataclass
class Billing:
    """One day's AI-credit billing: the day total and each user's items."""

    total: list[dict[str, Any]]
    users: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class CopilotProvider(Provider):
    # The Provider contract's attributes, declared per adapter like the others (base.py).
    id = "copilot"
    display_name = "GitHub Copilot"
    tool = "copilot"
    capabilities = Capabilities(token_usage=True, actual_costs=True, seats=True)
    credential_fields = (CredentialField(
        "token", "GitHub token",
        help="Classic token: read:org (metrics, seats) and manage_billing:copilot (billing); "
             "enterprise: read:enterprise and manage_billing:enterprise."),)
    default_base_url = "https://api.github.com"
    window = timedelta(days=1)  # one report per UTC day
    overlap = timedelta(days=4)  # reports lag about two days; recent ones may be revised
    identity_source = "github"

    def history_floor(self, now: datetime) -> date:
        return max(REPORTS_START, now.date() - HISTORY)

    # --- usage ----------------------------------------------------------------------------
    def fetch(self, account: AccountConfig, window: Window,
              cursor: dict[str, Any] | None = None) -> Iterator[Page]:
        scope = scope_of(account.settings)
        client = self._client(account)
        downloads = make_session(proxy_url=account.proxy_url)  # signed links: no credentials
        today = datetime.now(UTC).date()
        billing_refused: str | None = None
        for day in window.days:
            if day < self.history_floor(datetime.combine(today, time(), UTC)) or day >= today:
                continue  # GitHub has no report for it: asking would only fail
            lines = self._report(client, downloads, scope, "users-1-day", day)
            records = [user_record(line, day, f"{scope.label} users-1-day {day}")
                       for line in lines or ()]
            billing = None
            if billing_refused is None:
                try:
                    billing = self._billing(client, scope, day,
                                            sorted({r.actor for r in records}))
                except BillingUnavailable as exc:
                    billing_refused = str(exc)
            records = priced(records, billing, scope, day)
            teams = self._report(client, downloads, scope, "user-teams-1-day", day)
            yield Page(records,
                       memberships=None if teams is None else [
                           membership(line, day, f"{scope.label} user-teams-1-day {day}")
                           for line in teams],
                       membership_days=[] if teams is None else [day])

    def _report(self, client: GitHubClient, downloads: requests.Session, scope: Scope,
                name: str, day: date) -> list[dict[str, Any]] | None:
        """The lines of a 1-day report (None: GitHub has no report for the day)."""
        what = f"GitHub Copilot {name} report for {scope.label}, {day}"
        for _ in range(LINK_ATTEMPTS):
            links = self._links(client, scope, name, day, what)
            if links is None:
                return None
            try:
                return [line for i, link in enumerate(links, 1)
                        for line in _download(downloads, link, f"{what}, part {i}")]
            except _LinkExpired:
                continue  # signed links expire: ask for fresh ones
        raise ProviderError(f"{what}: the download links expired {LINK_ATTEMPTS} times in a "
                            "row")

    def _links(self, client: GitHubClient, scope: Scope, name: str, day: date,
               what: str) -> list[str] | None:
        response = client.get(scope.reports(name), what, params={"day": day.isoformat()},
                              allow=(204, 403, 404, 422))
        status = response.status_code
        if status in (403, 404):
            text = error_text(response).lower()
            if any(word in text for word in ("disabled", "policy", "not enabled")):
                where = ("Organization settings" if scope.kind == "org"
                         else "Enterprise settings → AI controls")
                raise MetricsDisabled(METRICS_DISABLED.format(
                    kind="organization" if scope.kind == "org" else "enterprise", where=where,
                    everywhere="" if scope.kind == "org" else ", \"enabled everywhere\""))
            if status == 403:
                raise AuthExpired(METRICS_FORBIDDEN.format(what=what))
            return None  # no report for this day (yet)
        if status in (204, 422):
            return None
        body = _json(response, what)
        links = body.get("download_links") if isinstance(body, dict) else None
        if not isinstance(links, list) or not all(isinstance(u, str) for u in links):
            raise ProviderError(f"{what}: the answer has no download_links list")
        reported = body.get("report_day")
        if reported is not None and str(reported) != day.isoformat():
            raise ProviderError(f"{what}: GitHub sent the report of {reported}")
        for link in links:
            if urlsplit(link).scheme not in ("http", "https"):
                raise ProviderError(f"{what}: a download link is not an http(s) URL")
        return links

    # --- cost -----------------------------------------------------------------------------
    def _billing(self, client: GitHubClient, scope: Scope, day: date,
                 logins: list[str]) -> Billing:
        """The day's AI-credit items in total and per user; BillingUnavailable when refused."""
        billing = Billing(self._billing_items(client, scope, day, None))
        if billing.total:  # nothing billed that day: nobody's share needs asking for
            for login in logins:
                billing.users[login] = self._billing_items(client, scope, day, login)
        return billing

    def _billing_items(self, client: GitHubClient, scope: Scope, day: date,
                       user: str | None) -> list[dict[str, Any]]:
        what = f"GitHub AI-credit billing of {scope.label}, {day}" + (
            f", user {user}" if user else "")
        params: dict[str, Any] = {"year": day.year, "month": day.month, "day": day.day}
        if user:
            params["user"] = user
        response = client.get(scope.billing, what, params=params, allow=(403, 404))
        if response.status_code == 403:
            raise BillingUnavailable(BILLING_CLASSIC)
        if response.status_code == 404:
            raise BillingUnavailable(BILLING_ENTERPRISE if scope.kind == "org" else
                                     f"{what}: not found (check the enterprise slug)")
        body = _json(response, what)
        items = body.get("usageItems") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ProviderError(f"{what}: the answer has no usageItems list")
        return [_billing_item(item, what) for item in items]

    def snapshots(self, account: AccountConfig) -> Iterator[Snapshot]:
        """Whether billing answers (Status shows why not): probed on yesterday's total."""
        scope = scope_of(account.settings)
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        try:
            self._billing_items(self._client(account), scope, yesterday, None)
        except BillingUnavailable as exc:
            yield Snapshot("billing", {"access": "none", "cost_basis": "ai_credits",
                                       "warning": str(exc)})
            return
        yield Snapshot("billing", {"access": "ok", "cost_basis": "billing"})

    # --- seats ----------------------------------------------------------------------------
    def seats(self, account: AccountConfig) -> Iterator[Seat]:
        scope = scope_of(account.settings)
        what = f"GitHub Copilot seats of {scope.label}"
        for _, items in self._client(account).pages(
                scope.seats, {"per_page": SEATS_PER_PAGE}, what, items_key="seats",
                not_found=f"{what}: {scope.kind} {scope.slug} not found (or the token cannot "
                          "see it)"):
            for item in items:
                seat = _seat(item, what)
                if seat is not None:
                    yield seat

    # --- credentials and transport --------------------------------------------------------
    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        if _app_credentials(credentials):
            return []
        return super().check_credentials(credentials)

    def _client(self, account: AccountConfig) -> GitHubClient:
        creds = account.credentials
        app = _app_credentials(creds)
        credentials = (GitHubCredentials(app_id=app[0], app_private_key=app[1],
                                         app_installation_id=app[2]) if app
                       else GitHubCredentials(token=(creds.get("token") or "").strip()))
        return GitHubClient(credentials, api_url=account.base_url or self.default_base_url,
                            proxy_url=account.proxy_url,
                            min_interval=account.min_request_interval,
                            api_version=API_VERSION)


def _app_credentials(creds: Mapping[str, str]) -> tuple[str, str, str] | None:
    values = tuple(creds.get(k) or "" for k in ("app_id", "app_private_key",
                                                "app_installation_id"))
    return values if all(values) else None  # type: ignore[return-value]


# --- downloads -------------------------------------------------------------------------------

class _LinkExpired(Exception):
    pass


def _download(session: requests.Session, link: str, what: str) -> list[dict[str, Any]]:
    """One NDJSON part (the signed URL stays out of every message: it authorizes)."""
    response = send(session, "GET", link, what)
    if response.status_code in (401, 403, 404, 410):
        raise _LinkExpired()
    raise_for_status(response, what, auth_statuses=())
    out = []
    for n, raw in enumerate(response.content.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise ProviderError(f"{what}: line {n} is not JSON") from None
        if not isinstance(line, dict):
            raise ProviderError(f"{what}: line {n} is not a JSON object")
        out.append(line)
    return out


def _json(response: requests.Response, what: str) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise ProviderError(f"{what}: expected JSON") from None


# --- normalization (pure functions) ----------------------------------------------------------

def _noon(day: date) -> datetime:
    # Noon UTC keeps a whole-UTC-day report on its calendar day from UTC-11 to UTC+11.
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _count(value: Any, name: str, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value < 0 \
            or value != int(value):
        raise ProviderError(f"{what}: {name} is not a count ({value!r})")
    return int(value)


def _counters(item: Mapping[str, Any], what: str) -> dict[str, int]:
    return {k: _count(item[k], k, what) for k in COUNTERS if k in item}


def _breakdown(items: Any, key: str, what: str) -> dict[str, dict[str, int]]:
    """`[{key: name, <counters>}, …]` → {name: counters}, rows of one name added up."""
    out: dict[str, dict[str, int]] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or not item.get(key):
            continue
        into = out.setdefault(str(item[key]), {})
        for name, n in _counters(item, what).items():
            into[name] = into.get(name, 0) + n
    return out


def _token_usage(block: Any, what: str) -> tuple[int, int]:
    usage = block.get("token_usage") if isinstance(block, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    return (_count(usage.get("prompt_tokens_sum"), "prompt_tokens_sum", what),
            _count(usage.get("output_tokens_sum"), "output_tokens_sum", what))


def _plain(value: Any) -> Any:
    """JSON-ready copy: Decimals from the parser become exact strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


KNOWN_FIELDS = {
    *COUNTERS, *FLAGS, "report_start_day", "report_end_day", "day", "enterprise_id",
    "organization_id", "user_id", "user_login", "ai_credits_used", "ai_adoption_phase",
    "totals_by_ide", "totals_by_feature", "totals_by_language_feature",
    "totals_by_language_model", "totals_by_model_feature", "totals_by_cli",
    "totals_by_copilot_app", "totals_by_3rd_party_agent", "etl_id", "day_partition",
    "entity_id_partition"}


def user_record(line: Mapping[str, Any], day: date, what: str) -> UsageRecord:
    """One users-1-day line → one record: counts in extras, CLI/app tokens in the columns."""
    line_day = str(line.get("day") or day.isoformat())
    if line_day != day.isoformat():
        raise ProviderError(f"{what}: a line of {line_day} in the report of {day}")
    login = str(line.get("user_login") or "").strip().lower()
    user_id = line.get("user_id")
    if not login:
        raise ProviderError(f"{what}: a line without user_login")
    if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, int)):
        raise ProviderError(f"{what}: user {login}: user_id is not a number")
    credits = line.get("ai_credits_used")
    if credits is not None and (isinstance(credits, bool) or not isinstance(
            credits, int | Decimal) or credits < 0):
        raise ProviderError(f"{what}: user {login}: ai_credits_used is not a number")
    cli_in, cli_out = _token_usage(line.get("totals_by_cli"), what)
    app_in, app_out = _token_usage(line.get("totals_by_copilot_app"), what)
    extras: dict[str, Any] = {
        **_counters(line, what),
        **{k: bool(line[k]) for k in FLAGS if k in line},
        "user_id": user_id,
        "features": _breakdown(line.get("totals_by_feature"), "feature", what),
        "ides": _breakdown(line.get("totals_by_ide"), "ide", what),
        "models": _breakdown(line.get("totals_by_model_feature"), "model", what),
        "languages": _breakdown(line.get("totals_by_language_feature"), "language", what),
    }
    if credits is not None:  # missing means unknown, never 0
        extras["ai_credits_used"] = str(Decimal(credits))
    for key, name in (("ai_adoption_phase", "adoption_phase"), ("totals_by_cli", "cli"),
                      ("totals_by_copilot_app", "copilot_app"),
                      ("totals_by_3rd_party_agent", "third_party_agents")):
        if line.get(key) is not None:
            extras[name] = _plain(line[key])
    versions = {str(i["ide"]): _plain({k: i[k] for k in ("last_known_ide_version",
                                                         "last_known_plugin_version") if k in i})
                for i in line.get("totals_by_ide") or () if isinstance(i, dict) and i.get("ide")}
    if any(versions.values()):
        extras["ide_versions"] = versions
    unknown = {k: _plain(v) for k, v in line.items() if k not in KNOWN_FIELDS}
    if unknown:  # fields GitHub added since: kept, not guessed at
        extras["other"] = unknown
    key = f"{day.isoformat()}|user:{user_id}" if user_id is not None else \
        f"{day.isoformat()}|login:{login}"
    return UsageRecord(event_key=key, occurred_at=_noon(day), tool=CopilotProvider.tool,
                       actor=login, raw_model="copilot", input_tokens=cli_in + app_in,
                       output_tokens=cli_out + app_out, extras=extras)


def membership(line: Mapping[str, Any], day: date, what: str) -> TeamMembership:
    login = str(line.get("user_login") or "").strip().lower()
    team = line.get("team_id")
    if not login or team is None or not line.get("slug"):
        raise ProviderError(f"{what}: a line without user_login, team_id or slug")
    user_id = line.get("user_id")
    return TeamMembership(day=day, user_id=user_id if isinstance(user_id, int) else None,
                          login=login, team_id=str(team), slug=str(line["slug"]))


def _money(value: Any, name: str, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ProviderError(f"{what}: {name} is not a number")
    return Decimal(value)


def _billing_item(item: Any, what: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ProviderError(f"{what}: a usage item is not an object")
    out: dict[str, Any] = {k: str(item.get(k) or "") for k in ("product", "sku", "model",
                                                               "unitType")}
    for name in ("grossQuantity", "grossAmount", "discountAmount", "netQuantity",
                 "netAmount"):
        out[name] = _money(item.get(name, 0), name, what)
    return out


def _item_key(item: Mapping[str, Any]) -> tuple[str, str, str]:
    # SKUs come as display names or snake_case ids ("Copilot AI Credits", copilot_ai_credit):
    # one spelling per SKU.
    sku = re.sub(r"[^a-z0-9]+", "", item["sku"].lower()).removesuffix("s")
    return item["product"].strip().lower(), sku, item["model"]


def _sum_items(items: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    return (sum((i["grossAmount"] for i in items), Decimal(0)),
            sum((i["netAmount"] for i in items), Decimal(0)))


def _by_model(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"product": i["product"], "sku": i["sku"], "model": i["model"],
             "credits": str(i["grossQuantity"]), "usage_value_usd": str(i["grossAmount"]),
             "billed_usd": str(i["netAmount"])} for i in items]


def _usd(value: Decimal) -> Decimal:
    return value.quantize(MONEY)


def priced(records: list[UsageRecord], billing: Billing | None, scope: Scope,
           day: date) -> list[UsageRecord]:
    """The day's records with their cost, plus organization-level spend without a user."""
    out = []
    for r in records:
        credits = r.extras.get("ai_credits_used")
        if billing is None:
            cost = _usd(Decimal(credits) * CREDIT_USD) if credits is not None else None
            out.append(replace(r, cost_usd=cost, extras={**r.extras, "cost_basis": "ai_credits"}))
            continue
        items = billing.users.get(r.actor, [])
        gross, net = _sum_items(items)
        if not items and credits is not None and Decimal(credits) > 0:
            # Credits consumed but no per-user rows (some plans only report totals): the
            # spend is in the organization's record; this person's figure is not available.
            out.append(replace(r, cost_usd=None, extras={**r.extras, "cost_basis": "billing"}))
            continue
        out.append(replace(r, cost_usd=_usd(gross), extras={
            **r.extras, "cost_basis": "billing", "billed_usd": str(_usd(net)),
            "by_model": _by_model(items)}))
    if billing is None:
        return out
    rest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for item in billing.total:
        into = rest.setdefault(_item_key(item), {**item, "grossQuantity": Decimal(0),
                                                 "grossAmount": Decimal(0),
                                                 "netAmount": Decimal(0)})
        for name in ("grossQuantity", "grossAmount", "netAmount"):
            into[name] += item[name]
    for items in billing.users.values():
        for item in items:
            into = rest.get(_item_key(item))
            if into is not None:
                for name in ("grossQuantity", "grossAmount", "netAmount"):
                    into[name] -= item[name]
    left = [i for i in rest.values() if i["grossAmount"] or i["netAmount"]]
    if left:
        gross, net = _sum_items(left)
        out.append(UsageRecord(
            event_key=f"{day.isoformat()}|{scope.label}", occurred_at=_noon(day),
            tool=CopilotProvider.tool, actor=scope.label, raw_model="copilot",
            kind="org_spend", cost_usd=_usd(max(gross, Decimal(0))),
            extras={"cost_basis": "billing", "billed_usd": str(_usd(net)),
                    "by_model": _by_model(left)}))
    return out


def _time(value: Any, name: str, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ProviderError(f"{what}: {name} is not a time ({value!r})") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _seat(item: Mapping[str, Any], what: str) -> Seat | None:
    assignee = item.get("assignee")
    if not isinstance(assignee, dict) or not assignee.get("login"):
        return None  # a seat without a user (pending invitation): nothing to attribute
    team = item.get("assigning_team")
    pending = item.get("pending_cancellation_date")
    try:
        pending_day = date.fromisoformat(str(pending)[:10]) if pending else None
    except ValueError:
        raise ProviderError(f"{what}: pending_cancellation_date is not a day") from None
    user_id = assignee.get("id")
    return Seat(
        login=str(assignee["login"]).strip().lower(),
        user_id=user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None,
        plan=str(item["plan_type"]) if item.get("plan_type") else None,
        created_at=_time(item.get("created_at"), "created_at", what),
        last_activity_at=_time(item.get("last_activity_at"), "last_activity_at", what),
        last_activity_editor=(str(item["last_activity_editor"])
                              if item.get("last_activity_editor") else None),
        last_authenticated_at=_time(item.get("last_authenticated_at"),
                                    "last_authenticated_at", what),
        pending_cancellation_date=pending_day,
        assigning_team=(str(team.get("slug") or team.get("name") or "")
                        if isinstance(team, dict) else None) or None)
