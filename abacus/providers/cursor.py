"""Cursor team usage through the Admin API (`https://api.cursor.com`, team admin key).

One usage event per record from `POST /teams/filtered-usage-events`, members from
`GET /teams/members`, billing groups from `GET /teams/groups`. Contract:
shared/providers/cursor.md §1, §2, §4, §5.1.

Every event is stored, including request-priced and errored ones without `tokenUsage`: they
can still carry a charge, and dropping them (as the original Abacus did) under-reports spend.
The API has no event id; the key is (time, e-mail, model), built exactly as the CSV importer
builds it so an export and an API sync of one team never count an event twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from . import http
from .base import (
    # These names, and the class attributes below, mirror anthropic.py: each provider
    # declares the whole Provider contract (base.py) itself, so an adapter reads on its own.
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
from .cursor_events import cursor_event_key, event_cost

EVENTS_PATH = "/teams/filtered-usage-events"
MEMBERS_PATH = "/teams/members"
GROUPS_PATH = "/teams/groups"
PAGE_SIZE = 1000  # documented default is 10; 1000 is what working clients use

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# API field -> extras key, copied when the event has it.
_EXTRA_FIELDS = (
    ("maxMode", "max_mode"),
    ("requestsCosts", "requests_costs"),
    ("isTokenBasedCall", "is_token_based_call"),
    ("isChargeable", "is_chargeable"),
    ("isHeadless", "is_headless"),
    ("isFreeBugbot", "is_free_bugbot"),
)


class CursorProvider(Provider):
    id = "cursor"
    display_name = "Cursor (team Admin API)"
    tool = "cursor"
    capabilities = Capabilities(token_usage=True, actual_costs=True, identities=True,
                                per_request_events=True)
    credential_fields = (CredentialField("api_key", "Admin API key"),)
    default_base_url = "https://api.cursor.com"
    window = timedelta(days=1)
    overlap = timedelta(hours=6)
    min_request_interval = 3.0  # documented 20 requests/minute per team

    # --- usage -----------------------------------------------------------------------------

    def fetch(self, account: AccountConfig, window: Window,
              cursor: dict[str, Any] | None = None) -> Iterator[Page]:
        """Yield one Page per HTTP page, walking the window in ≤1-day chunks.

        A page's cursor is `{"start_ms": <chunk start>, "page": <next page or None>}`; None
        marks the chunk as finished, so a cursor the engine keeps after a complete window
        never makes a later fetch skip anything. A cursor naming one of this window's chunks
        resumes that chunk at its page; no chunk is ever skipped (re-fetching is idempotent,
        event keys are stable).
        """
        resume_ms, resume_page = _resume_point(cursor)
        with self._session(account) as session:
            url = _base_url(account, self.default_base_url) + EVENTS_PATH
            for chunk in self._chunks(window):
                start_ms = chunk.start_ms()
                page_no = resume_page if start_ms == resume_ms else 1
                while page_no is not None:
                    body = {"startDate": start_ms, "endDate": chunk.end_ms(),
                            "page": page_no, "pageSize": PAGE_SIZE}
                    data = http.request(session, "POST", url, f"Cursor {EVENTS_PATH}",
                                        json=body)
                    events, has_next = _events_page(data, page_no)
                    page_no = page_no + 1 if has_next else None
                    yield Page([event_record(event) for event in events],
                               {"start_ms": start_ms, "page": page_no})

    def _chunks(self, window: Window) -> list[Window]:
        """The window cut into consecutive half-open pieces no longer than `self.window`."""
        chunks, start = [], window.start
        while start < window.end:
            end = min(start + self.window, window.end)
            chunks.append(Window(start, end))
            start = end
        return chunks

    # --- identities ------------------------------------------------------------------------

    def identities(self, account: AccountConfig) -> Iterator[Identity]:
        """Every member, removed ones too (their past usage is still theirs).

        Each member is yielded under its lower-cased e-mail (the `actor` of its events) and,
        when the API gives one, under its numeric id.
        """
        with self._session(account) as session:
            url = _base_url(account, self.default_base_url) + MEMBERS_PATH
            data = http.request(session, "GET", url, f"Cursor {MEMBERS_PATH}")
        members = data.get("teamMembers") if isinstance(data, dict) else None
        if not isinstance(members, list):
            raise ProviderError(f"Cursor {MEMBERS_PATH}: response has no teamMembers list")
        for member in members:
            if not isinstance(member, dict):
                continue
            email = str(member.get("email") or "").strip().lower()
            if not email:
                continue  # nothing to map usage to
            name = member.get("name") or None
            yield Identity(external_id=email, email=email, name=name)
            if member.get("id") is not None:
                yield Identity(external_id=str(member["id"]), email=email, name=name)

    # --- billing groups --------------------------------------------------------------------

    def billing_groups(self, account: AccountConfig) -> list[BillingGroup]:
        """Every billing group (the "Unassigned" pseudo-group left out) with its current and
        former members (cursor.md §5.1). Members are joined on their lower-cased e-mail."""
        with self._session(account) as session:
            url = _base_url(account, self.default_base_url) + GROUPS_PATH
            data = http.request(session, "GET", url, f"Cursor {GROUPS_PATH}")
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list):
            raise ProviderError(f"Cursor {GROUPS_PATH}: response has no groups list")
        out = []
        for group in groups:
            if not isinstance(group, dict) or not group.get("id") or not group.get("name"):
                continue
            if group["id"] == UNASSIGNED_GROUP:
                continue
            members = []
            for key in ("currentMembers", "formerMembers"):
                for m in group.get(key) or []:
                    email = str((m or {}).get("email") or "").strip().lower()
                    if email:
                        members.append(GroupMember(email, _iso(m.get("joinedAt")),
                                                   _iso(m.get("leftAt"))))
            out.append(BillingGroup(str(group["id"]), str(group["name"]).strip(), members))
        return out

    # --- plumbing --------------------------------------------------------------------------

    def _session(self, account: AccountConfig) -> requests.Session:
        key = (account.credentials.get("api_key") or "").strip()
        if not key:
            raise AuthExpired("Cursor Admin API key is missing")
        session = http.make_session(proxy_url=account.proxy_url,
                                    min_interval=account.min_request_interval)
        session.auth = (key, "")  # HTTP Basic: the key as user name, empty password
        return session


UNASSIGNED_GROUP = "group_unassigned"


@dataclass(frozen=True)
class GroupMember:
    email: str  # lower-cased
    joined_at: datetime | None
    left_at: datetime | None  # None: still in the group


@dataclass(frozen=True)
class BillingGroup:
    id: str  # "group_…"
    name: str
    members: list[GroupMember]


def _iso(value: Any) -> datetime | None:
    """An ISO 8601 moment (`2026-03-02T10:15:00.000Z`) as UTC; None when missing or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _base_url(account: AccountConfig, default: str) -> str:
    return (account.base_url or default).rstrip("/")


def _resume_point(cursor: Mapping[str, Any] | None) -> tuple[int | None, int]:
    """(chunk start ms, page) an interrupted fetch stopped at; (None, 1) when there is none."""
    if not cursor or not cursor.get("page"):
        return None, 1
    try:
        start_ms, page = int(cursor["start_ms"]), int(cursor["page"])
    except (KeyError, TypeError, ValueError):
        return None, 1
    return (start_ms, page) if page >= 1 else (None, 1)


def _events_page(data: Any, page_no: int) -> tuple[list[dict[str, Any]], bool]:
    what = f"Cursor {EVENTS_PATH} page {page_no}"
    if not isinstance(data, dict) or not isinstance(data.get("usageEvents"), list):
        raise ProviderError(f"{what}: response has no usageEvents list")
    events = data["usageEvents"]
    pagination = data.get("pagination")
    has_next = bool(pagination.get("hasNextPage")) if isinstance(pagination, dict) else False
    if has_next and not events:
        # Asking for the next page would loop forever; fail so the next run retries.
        raise ProviderError(f"{what}: empty page that claims a next page")
    return events, has_next


# --- one event ---------------------------------------------------------------------------

def event_record(event: Mapping[str, Any]) -> UsageRecord:
    """Normalize one `usageEvents[]` item (shape: cursor.md §4)."""
    if not isinstance(event, Mapping):
        raise ProviderError(f"Cursor {EVENTS_PATH}: usage event is not an object")
    ms = _epoch_ms(event.get("timestamp"))
    email = str(event.get("userEmail") or "").strip().lower()
    model = str(event.get("model") or "").strip()
    usage = event.get("tokenUsage")
    usage = usage if isinstance(usage, Mapping) else {}
    charged, total = event.get("chargedCents"), usage.get("totalCents")
    fee = event.get("cursorTokenFee", event.get("cursorTokenFeeCents"))
    kind = str(event.get("kind") or event.get("kindLabel") or "")
    key = cursor_event_key(ms, email, model)

    extras: dict[str, Any] = {}
    if charged is not None:
        extras["charged_cents"] = charged
    if total is not None:
        extras["total_cents"] = total
    if fee is not None:
        extras["cursor_token_fee"] = fee
    for field, name in _EXTRA_FIELDS:
        if event.get(field) is not None:
            extras[name] = event[field]
    if usage.get("discountPercentOff") is not None:
        extras["discount_percent_off"] = usage["discountPercentOff"]
    cost = event_cost(kind, charged_cents=charged, total_cents=total,
                      discount_percent=usage.get("discountPercentOff"), token_fee_cents=fee,
                      free_bugbot=event.get("isFreeBugbot") is True,
                      what=f"Cursor {EVENTS_PATH}: event {key}")
    extras.update(cost.extras)

    try:
        return UsageRecord(
            event_key=key,
            occurred_at=_EPOCH + timedelta(milliseconds=ms),
            tool="cursor",
            actor=email or "unknown",
            email=email or None,
            raw_model=model,  # `default` stays as given: it is Cursor's Auto, pricing maps both
            kind=kind,
            input_tokens=_tokens(usage.get("inputTokens")),
            output_tokens=_tokens(usage.get("outputTokens")),
            cache_write_tokens=_tokens(usage.get("cacheWriteTokens")),
            cache_read_tokens=_tokens(usage.get("cacheReadTokens")),
            cost_usd=cost.cost_usd,  # cursor_events.event_cost: one rule for every source
            not_charged=cost.not_charged,
            extras=extras,
        )
    except ValueError as exc:  # negative token counts
        raise ProviderError(f"Cursor {EVENTS_PATH}: bad usage event {key}: {exc}") from None


def _epoch_ms(value: Any) -> int:
    """`timestamp` is epoch milliseconds sent as a string ("1750979225854")."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise ProviderError(f"Cursor {EVENTS_PATH}: usage event with timestamp "
                            f"{str(value)[:40]!r}") from None


def _tokens(value: Any) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise ProviderError(f"Cursor {EVENTS_PATH}: token count {str(value)[:40]!r}") from None

