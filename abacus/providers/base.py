"""The provider contract: what every usage source hands the sync engine and `ingest`.

A provider is a pure adapter: an account's settings and credentials plus a time window in,
normalized records out. Nothing here (or in any provider module) touches the database, Flask
or RQ, so a provider can be tested against a fake HTTP server alone (see
`abacus.providers.testing`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

# extras keys with a meaning for pricing (see usage/ingest.cost_sql):
# the part of `cache_write_tokens` written with a 1-hour lifetime (priced at the 1-hour rate;
# the rest at the 5-minute rate), when the provider reports writes apart;
CACHE_WRITE_1H = "cache_write_1h_tokens"
# `fast` when the request ran in fast mode, and `priority` service tier, both priced with the
# model's fast multiplier.
SPEED, SERVICE_TIER = "speed", "service_tier"


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One provider record as given.

    `event_key` is the provider's stable id for the record (or a deterministic key built from
    its natural key); re-sending a record with the same key updates it instead of adding one.
    `cost_usd` is the provider's own figure; None means "not reported" and ingest estimates it
    from the price table (marked `estimated`, or `unpriced` when the model has no price).
    `not_charged`: the provider says nothing was charged (an errored request…): the cost is
    $0 and stored as `not_charged`, never estimated.
    """

    event_key: str
    occurred_at: datetime  # timezone-aware
    tool: str  # claude_code | cursor | …
    actor: str  # the provider's identity for who used it (e-mail, API key name, seat)
    raw_model: str
    email: str | None = None  # resolved person, when the provider says who it is
    kind: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: Decimal | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    not_charged: bool = False

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError(f"{self.event_key}: occurred_at must be timezone-aware")
        if self.not_charged and self.cost_usd != 0:
            raise ValueError(f"{self.event_key}: a not-charged record must cost $0")
        for name in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"{self.event_key}: {name} is negative")


# --- errors a provider raises (the sync engine maps them to account states) ---------------

class ProviderError(Exception):
    """The provider failed in a way retrying later may fix (5xx after retries, bad body…).

    Messages name the endpoint and the HTTP status, never a credential.
    """


class AuthExpired(ProviderError):
    """The credentials were refused (401/403, an expired session cookie, a logout page).

    The account is parked until its credentials change; polling it again would only repeat
    the refusal.
    """


class RateLimited(ProviderError):
    """Still rate limited after the session's own retries; `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# --- what a provider declares ------------------------------------------------------------

@dataclass(frozen=True)
class Capabilities:
    token_usage: bool = True
    actual_costs: bool = False  # costs the provider reports (else estimated from prices)
    usage_limits: bool = False  # plan limits, spend caps
    invoices: bool = False
    identities: bool = False  # can list who its actors are (API keys → people, members)
    billed_costs: bool = False  # reports its bill per day apart from usage (Page.costs)
    seats: bool = False  # can list the account's seats (`Provider.seats`)
    # One record per request (not per-day aggregates): estimates may then use per-request
    # tiers such as long-context rates. Aggregates stay at the base tier.
    per_request_events: bool = False


@dataclass(frozen=True)
class CredentialField:
    """One secret (or not) value an account of this provider needs."""

    name: str
    label: str
    secret: bool = True
    help: str = ""


@dataclass(frozen=True)
class AccountConfig:
    """What a provider sees of an account: no database row, just values."""

    name: str
    credentials: Mapping[str, str]
    base_url: str
    proxy_url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    min_request_interval: float = 0.0  # seconds between requests (documented rate limits)

    def __repr__(self) -> str:  # never shows credentials
        return f"AccountConfig(name={self.name!r}, base_url={self.base_url!r})"


@dataclass(frozen=True)
class Window:
    """A half-open UTC time range [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window {self.start.isoformat()} .. {self.end.isoformat()}")

    @property
    def days(self) -> list[date]:
        """The UTC days the window touches."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    def end_ms(self) -> int:
        """The last millisecond inside the window (APIs disagree on inclusive ends)."""
        return int(self.end.timestamp() * 1000) - 1


@dataclass(frozen=True, slots=True)
class BilledCost:
    """One line of the bill a provider reports apart from usage (OpenAI's costs endpoint):
    money charged on a UTC day for a project / line item, not attributable to people.

    Kept as the provider's bill beside the usage records (whose per-person costs may be
    estimates), so pages can show reported against estimated.
    """

    day: date
    amount_usd: Decimal
    project_id: str = ""
    line_item: str = ""
    api_key_id: str = ""
    quantity: Decimal | None = None
    quantity_unit: str = ""


@dataclass(frozen=True)
class TeamMembership:
    """A user in a team on a day (one per user and team: a user in two teams is two)."""

    day: date
    user_id: int | None
    login: str  # lower-cased
    team_id: str  # GitHub's team id as text (enterprise teams included)
    slug: str


@dataclass
class Page:
    """Records of one fetched page; `cursor` is the provider's resume point after it.

    `costs` is None for a page that says nothing about the bill; a list (even empty) is the
    whole bill of `costs_days` (UTC days the fetch covered completely): the stored bill of
    those days is replaced by it.
    `memberships`, when not None, is the complete user–team list of `membership_days`: the
    engine replaces what is stored for those days with it (an empty list clears them).
    """

    records: list[UsageRecord]
    cursor: dict[str, Any] | None = None
    costs: list[BilledCost] | None = None
    costs_days: list[date] = field(default_factory=list)
    memberships: list[TeamMembership] | None = None
    membership_days: list[date] = field(default_factory=list)


@dataclass(frozen=True)
class Seat:
    """One assigned seat as the provider lists it (times timezone-aware, UTC)."""

    login: str  # lower-cased; the identity key (identity_mappings external id)
    user_id: int | None = None
    plan: str | None = None
    created_at: datetime | None = None
    last_activity_at: datetime | None = None
    last_activity_editor: str | None = None
    last_authenticated_at: datetime | None = None
    pending_cancellation_date: date | None = None
    assigning_team: str | None = None


@dataclass(frozen=True)
class Identity:
    """A provider identity (API key name, member id) and the person behind it."""

    external_id: str
    email: str
    name: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """A non-usage fact about an account, stored as the latest value per (kind, key).

    Kinds in use: `summary` (plan and cycle), `hard_limit`, `invoice` (key = cycle start),
    `profile`, `session` (cookie expiry). `data` must be JSON-serializable (money as strings);
    a `warning` text in it raises an account alert once (e.g. a cookie about to expire).
    """

    kind: str
    data: dict[str, Any]
    key: str = ""


class Provider:
    """Base class for a usage source. Subclasses set the class attributes and `fetch`."""

    id: ClassVar[str]
    display_name: ClassVar[str]
    tool: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()
    default_base_url: ClassVar[str] = ""
    # The widest window one `fetch` call should cover; the engine splits ranges into these.
    window: ClassVar[timedelta] = timedelta(days=1)
    # How far back each incremental sync re-reads (providers revise recent data).
    overlap: ClassVar[timedelta] = timedelta(hours=1)
    # Seconds between requests the provider's documented rate limit asks for.
    min_request_interval: ClassVar[float] = 0.0
    # Default cron (UTC) for plugin providers; the built-ins take theirs from the environment.
    schedule: ClassVar[str] = "0 * * * *"
    # How far back the API keeps data (None: no documented floor). Syncs and backfills never
    # ask for days before it: the API would refuse them.
    history: ClassVar[timedelta | None] = None

    # identity_mappings.source its actors are looked up under (None: the provider's id).
    # Copilot shares "github" with commit authors: one mapping per GitHub login for both.
    identity_source: ClassVar[str | None] = None


    def fetch(self, account: AccountConfig, window: Window,
              cursor: dict[str, Any] | None = None) -> Iterator[Page]:
        """Yield the records inside `window`, page by page."""
        raise NotImplementedError

    def identities(self, account: AccountConfig) -> Iterator[Identity]:
        """Yield who the provider's actors are (only when `capabilities.identities`)."""
        return iter(())

    def snapshots(self, account: AccountConfig) -> Iterator[Snapshot]:
        """Yield limits, invoices, plan summaries… (only for providers that have them)."""
        return iter(())

    def seats(self, account: AccountConfig) -> Iterator[Seat]:
        """Yield every assigned seat, the complete list (only when `capabilities.seats`)."""
        return iter(())

    def prepare_credentials(self, credentials: Mapping[str, str]) -> dict[str, str]:
        """Tidy credentials as pasted (trim, extract a cookie value…) before storing them."""
        return {k: v.strip() for k, v in credentials.items()}

    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        """Problems with credentials as entered (empty list: they look usable)."""
        missing = [f.label for f in self.credential_fields if not credentials.get(f.name)]
        return [f"{label} is required" for label in missing]

    def check_settings(self, settings: Mapping[str, Any]) -> list[str]:
        """Problems with an account's settings (a required workspace id, a rate…)."""
        return []

    def history_floor(self, now: datetime) -> date | None:
        """The oldest UTC day the API still answers for (None: no documented floor)."""
        if self.history is None:
            return None
        # The floor is measured from now: midnight of the floor day itself is already older.
        return (now - self.history).date() + timedelta(days=1)
