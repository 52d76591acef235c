"""SQLAlchemy models. Money is NUMERIC, tokens BIGINT, times timestamptz (UTC).

Only `usage.ingest` writes UsageEvent, UsageDaily and ChangeLog.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import BIT, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

Money = Numeric(14, 6)
MoneySum = Numeric(18, 6)
Tokens = BigInteger

ACCOUNT_STATUSES = ("active", "auth_expired", "rate_limited", "error", "disabled")
# provider: as reported; estimated: tokens × the price table; unpriced: no price known (cost
# unknown, not $0); not_charged: the provider says it charged nothing ($0, never estimated).
COST_SOURCES = ("provider", "estimated", "unpriced", "not_charged")
RUN_STATUSES = ("running", "success", "partial", "failed", "interrupted")
BACKFILL_STATUSES = ("pending", "running", "complete")
# admin: everything; finance: every figure and export, no admin actions; member: their own
# rows and aggregates. A team lead is a member (or finance) who leads a team (TeamMembership.lead).
ROLES = ("admin", "finance", "member")
TEAM_SOURCES = ("manual", "csv", "github", "cursor")
TOKEN_KINDS = ("api", "ingest")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now_col(**kw) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), **kw)


class Account(db.Model):
    """One provider credential (an org, a team, a seat) that syncs on its own."""

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint(_in("status", ACCOUNT_STATUSES), name="status_valid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), unique=True)
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    settings: Mapped[dict] = mapped_column(JSONB, server_default="{}", default=dict)
    status: Mapped[str] = mapped_column(String(32), server_default="active", default="active")
    status_detail: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # When a rate-limited account may be polled again (None: whenever its schedule says).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col(onupdate=func.now())

    def __repr__(self) -> str:  # never shows credentials
        return f"<Account {self.provider}:{self.name}>"


class UsageEvent(db.Model):
    """One provider record as given, keyed by the provider's stable id for it."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("account_id", "event_key", name="uq_usage_events_account_key"),
        CheckConstraint(_in("cost_source", COST_SOURCES), name="cost_source_valid"),
        Index("ix_usage_events_account_day", "account_id", "day"),
        # Copilot's per-person-day rows, and one person's records (raw listing, its CSV).
        Index("ix_usage_events_copilot_day", "day", postgresql_where=text("tool = 'copilot'")),
        Index("ix_usage_events_person_day", text("coalesce(email, actor)"), "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # No foreign key: its per-row check cost bulk imports a tenth of their time. Ingest holds
    # a key-share lock on the account instead, and a trigger (migration 0017) deletes an
    # account's events with it.
    account_id: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(64))
    event_key: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    day: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    raw_model: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, server_default="")
    input_tokens: Mapped[int] = mapped_column(Tokens, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Tokens, server_default="0")
    cache_write_tokens: Mapped[int] = mapped_column(Tokens, server_default="0")
    cache_read_tokens: Mapped[int] = mapped_column(Tokens, server_default="0")
    cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    cost_source: Mapped[str] = mapped_column(String(16))
    extras: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    first_seen_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()
    # The run that last wrote this event. No foreign key on purpose: a per-row constraint
    # check would slow bulk imports, and runs are never deleted.
    last_run_id: Mapped[int | None] = mapped_column(Integer)


class ChangeLog(db.Model):
    """One row per field a later sync or import changed on a stored event."""

    __tablename__ = "change_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("usage_events.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = _now_col()


class RollupSums:
    """The additive figures every rollup keeps (one home for the three rollup tables)."""

    events: Mapped[int] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(Tokens)
    output_tokens: Mapped[int] = mapped_column(Tokens)
    cache_write_tokens: Mapped[int] = mapped_column(Tokens)
    cache_read_tokens: Mapped[int] = mapped_column(Tokens)
    cost_usd: Mapped[Decimal] = mapped_column(MoneySum)
    estimated_cost_usd: Mapped[Decimal] = mapped_column(MoneySum)
    unpriced_events: Mapped[int] = mapped_column(BigInteger)
    not_charged_events: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # The part of cost_usd a seat subscription already pays for (Cursor's included usage,
    # Copilot's pooled credits): `ingest.INCLUDED_USD` says which events and how much.
    included_usd: Mapped[Decimal] = mapped_column(MoneySum, server_default="0")


class UsageDaily(RollupSums, db.Model):
    """Rollup of usage_events per (account, day, tool, actor, email, model).

    Rebuilt by `ingest` for the (account, day) pairs a batch changed, in the same transaction,
    so pages read a table whose size does not grow with the number of raw events.
    """

    __tablename__ = "usage_daily"
    __table_args__ = (
        Index("ix_usage_daily_day", "day"),
        Index("ix_usage_daily_account_day", "account_id", "day"),
        # Covering every column a team scope sums: the Overview's favourite model of each
        # top person and a team's rows over a year (its members' spans) are index-only
        # scans, not one heap page per row.
        Index("ix_usage_daily_email_day", "email", "day",
              postgresql_include=["account_id", "tool", "model", "events", "input_tokens",
                                  "output_tokens", "cache_write_tokens", "cache_read_tokens",
                                  "cost_usd", "estimated_cost_usd", "unpriced_events",
                                  "not_charged_events"]),
        # With the e-mail index, `email = X OR (email IS NULL AND actor = X)` is two index
        # scans (unmapped rows are few).
        Index("ix_usage_daily_unmapped_actor_day", "actor", "day",
              postgresql_where=text("email IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    # No foreign key: this is a cache rebuilt from usage_events (which has one), and a per-row
    # constraint check would slow every refresh.
    account_id: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)


class UsageDayTotals(RollupSums, db.Model):
    """Team-wide rollup per (day, account, tool, model): no person dimension, so it stays tiny
    (days × accounts × models rows) and team totals, charts and lifetime numbers read it
    instead of usage_daily. Rebuilt by `ingest.refresh_daily` together with usage_daily."""

    __tablename__ = "usage_day_totals"
    __table_args__ = (Index("ix_usage_day_totals_day", "day"),)

    # Each rollup spells out its primary key in full (like usage_person_daily): it is the
    # table's grain, and a shared mixin would hide it and reorder the key's columns.
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tool: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(Text, primary_key=True)


class UsagePersonDaily(RollupSums, db.Model):
    """Rollup per (day, account, tool, person) where person = coalesce(email, actor): what
    per-person pages need (people counts, the pivot, active people) without the model
    dimension, so a day range reads about half the rows of usage_daily. Rebuilt by
    `ingest.refresh_daily` together with the other rollups."""

    __tablename__ = "usage_person_daily"
    __table_args__ = (Index("ix_usage_person_daily_day", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tool: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(Text, primary_key=True)
    mapped: Mapped[bool] = mapped_column(Boolean)  # some of it carries a person's e-mail


class IdentityMapping(db.Model):
    """A provider identity (API key name, Cursor user, GitHub id) → a person's e-mail."""

    __tablename__ = "identity_mappings"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str] = mapped_column(String(255), index=True)
    assigned_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col(onupdate=func.now())


class Bot(db.Model):
    """A bot or service account (a CI key, a shared automation address): its usage is kept
    and shown apart, and it is never counted as a person. Keyed like the rollups name people:
    the mapped e-mail, else the provider identity (`coalesce(email, actor)`)."""

    __tablename__ = "bots"

    person: Mapped[str] = mapped_column(Text, primary_key=True)
    marked_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now_col()


class SyncState(db.Model):
    __tablename__ = "sync_state"
    __table_args__ = (
        CheckConstraint(_in("backfill_status", BACKFILL_STATUSES), name="backfill_status_valid"),
    )

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    synced_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set while an incremental run re-reads the overlap before synced_through: the end of the
    # last overlap window stored, where a run that stopped there goes on (engine.sync_account).
    overlap_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # First day the incremental sync covered; backfill walks back from the day before it.
    synced_from: Mapped[date | None] = mapped_column(Date)
    cursor: Mapped[dict | None] = mapped_column(JSONB)
    backfill_status: Mapped[str] = mapped_column(String(16), server_default="pending")
    backfill_oldest_day: Mapped[date | None] = mapped_column(Date)
    backfill_target_day: Mapped[date | None] = mapped_column(Date)
    backfill_empty_windows: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = _now_col(onupdate=func.now())


class AccountSnapshot(db.Model):
    """The latest non-usage fact about an account: plan summary, spend limit, invoice…"""

    __tablename__ = "account_snapshots"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    data: Mapped[dict] = mapped_column(JSONB)
    fetched_at: Mapped[datetime] = _now_col()


class BilledCostLine(db.Model):
    """A provider's own bill (OpenAI's costs endpoint): dollars per UTC day, project and line
    item, exactly as reported. Not usage: nobody's tokens, no person. Kept beside the usage
    records so the estimate per person can be shown against what was charged. Only
    `usage.billing` writes it; a sync replaces the lines of the days it fetched."""

    __tablename__ = "billed_costs"
    __table_args__ = (
        UniqueConstraint("account_id", "day", "project_id", "line_item", "api_key_id",
                         name="uq_billed_costs_line"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)  # the provider's UTC day
    project_id: Mapped[str] = mapped_column(Text, server_default="")
    line_item: Mapped[str] = mapped_column(Text, server_default="")
    api_key_id: Mapped[str] = mapped_column(Text, server_default="")
    # Unbounded NUMERIC: the provider's amount to the last digit it sent (sums round to cents
    # only when shown).
    amount_usd: Mapped[Decimal] = mapped_column(Numeric)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric)
    quantity_unit: Mapped[str] = mapped_column(Text, server_default="")
    fetched_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()


class SyncRun(db.Model):
    """Every sync, backfill and import leaves one of these."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status_valid"),
        Index("ix_sync_runs_account_started", "account_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # sync | backfill | import
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"))
    source: Mapped[str | None] = mapped_column(Text)  # file name, provider endpoint, …
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = _now_col()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    fetched: Mapped[int] = mapped_column(BigInteger, server_default="0")
    inserted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated: Mapped[int] = mapped_column(BigInteger, server_default="0")
    unchanged: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rejected: Mapped[int] = mapped_column(BigInteger, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSONB, server_default="{}")


class User(UserMixin, db.Model):
    """Someone who signed in."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role_valid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), server_default="member")
    created_at: Mapped[datetime] = _now_col()
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # False: deactivated by an admin; cannot sign in, and every session of theirs has ended.
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UserSession(db.Model):
    """One signed-in browser. The cookie holds a random token; the row, keyed by its SHA-256,
    decides on every request whether the session still stands."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    created_at: Mapped[datetime] = _now_col()
    last_seen_at: Mapped[datetime] = _now_col()
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


PRICE_ROW_SOURCES = ("updated", "override")
Rate = Numeric(12, 6)  # USD per 1M tokens


class ModelPrice(db.Model):
    """One effective-dated price of a canonical model (USD per 1M tokens), in force from
    `valid_from` (a day in the org time zone) until the model's next row of the same source.

    The shipped table (usage/data/pricing.json) is not stored: it is every model's base, in
    force from FAR_PAST. `updated` rows come from `flask abacus pricing update`; `override`
    rows are set by admins and win over shipped and updated prices from their `valid_from`
    on (see usage/prices.py for how the price of a day is decided).
    """

    __tablename__ = "model_prices"
    __table_args__ = (
        UniqueConstraint("model", "valid_from", "source"),
        CheckConstraint(_in("source", PRICE_ROW_SOURCES), name="source_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))  # canonical name
    valid_from: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))
    input: Mapped[Decimal] = mapped_column(Rate)
    output: Mapped[Decimal] = mapped_column(Rate)
    cache_read: Mapped[Decimal | None] = mapped_column(Rate)  # None: no such tier (input price)
    cache_write_5m: Mapped[Decimal | None] = mapped_column(Rate)  # None: as cache_read
    cache_write_1h: Mapped[Decimal | None] = mapped_column(Rate)  # None: 2x input
    long_context_threshold: Mapped[int | None] = mapped_column(BigInteger)
    long_input: Mapped[Decimal | None] = mapped_column(Rate)
    long_output: Mapped[Decimal | None] = mapped_column(Rate)
    long_cache_read: Mapped[Decimal | None] = mapped_column(Rate)
    long_cache_write_5m: Mapped[Decimal | None] = mapped_column(Rate)
    long_cache_write_1h: Mapped[Decimal | None] = mapped_column(Rate)
    fast_multiplier: Mapped[Decimal | None] = mapped_column(Numeric(8, 4))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now_col()


REPO_BACKFILL_STATUSES = ("pending", "running", "complete", "failed")
COMMIT_SOURCES = ("webhook", "api")


class Repository(db.Model):
    """A repository whose default-branch commits Abacus stores (GitHub for now)."""

    __tablename__ = "repositories"
    __table_args__ = (
        UniqueConstraint("source", "full_name"),
        CheckConstraint(_in("backfill_status", REPO_BACKFILL_STATUSES),
                        name="backfill_status_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32), server_default="github")
    full_name: Mapped[str] = mapped_column(String(255))  # owner/name
    external_id: Mapped[int | None] = mapped_column(BigInteger)
    default_branch: Mapped[str | None] = mapped_column(String(255))
    html_url: Mapped[str | None] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, server_default="false")
    archived: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # History from the REST API: complete only when every page down to backfill_from was read.
    backfill_status: Mapped[str] = mapped_column(String(16), server_default="pending")
    backfill_from: Mapped[date | None] = mapped_column(Date)
    synced_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    parked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col(onupdate=func.now())


class Commit(db.Model):
    """One commit on a repository's default branch, with its primary AI attribution."""

    __tablename__ = "commits"
    __table_args__ = (
        UniqueConstraint("repository_id", "sha"),
        CheckConstraint(_in("source", COMMIT_SOURCES), name="source_valid"),
        Index("ix_commits_repo_committed", "repository_id", "committed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"))
    sha: Mapped[str] = mapped_column(String(64))
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    message: Mapped[str] = mapped_column(Text, server_default="")
    author_name: Mapped[str | None] = mapped_column(String(255))
    author_email: Mapped[str | None] = mapped_column(String(255))
    author_login: Mapped[str | None] = mapped_column(String(255), index=True)
    author_github_id: Mapped[int | None] = mapped_column(BigInteger)
    committer_name: Mapped[str | None] = mapped_column(String(255))
    committer_email: Mapped[str | None] = mapped_column(String(255))
    person: Mapped[str | None] = mapped_column(String(255), index=True)  # resolved e-mail
    additions: Mapped[int | None] = mapped_column(Integer)  # NULL = not known yet
    deletions: Mapped[int | None] = mapped_column(Integer)
    ai_tool: Mapped[str | None] = mapped_column(String(32))  # primary tool; NULL = human
    ai_model: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # webhook | api (first seen through)
    html_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col(onupdate=func.now())


class CommitAttribution(db.Model):
    """Every AI tool found on a commit, with the signal that matched (for audit)."""

    __tablename__ = "commit_attributions"

    commit_id: Mapped[int] = mapped_column(
        ForeignKey("commits.id", ondelete="CASCADE"), primary_key=True)
    tool: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    model: Mapped[str | None] = mapped_column(String(64))
    signal: Mapped[str] = mapped_column(String(16))  # co_author | author | committer | message
    evidence: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(db.Model):
    """GitHub deliveries already handled: a redelivery (same GUID) changes nothing."""

    __tablename__ = "webhook_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    repository: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(32))  # stored | ignored | queued | ping
    commits: Mapped[int] = mapped_column(Integer, server_default="0")
    received_at: Mapped[datetime] = _now_col(index=True)


class Person(db.Model):
    """A person as the rollups group usage (coalesce(email, actor)), numbered so that sets of
    people can be stored as bitmaps (bit `id` set = this person). Ids are never reused or
    deleted: a bitmap written long ago still names the same people."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person: Mapped[str] = mapped_column(Text, unique=True)


class UsageTeamDay(RollupSums, db.Model):
    """A team's usage per (day, account, tool, model): its subtree's members' usage_daily rows
    of their member days, summed, and who they were (a bitmap over `people.id`, like
    `usage_day_people`), so a team-scoped page reads a few thousand rows a year instead of
    every member's rows. A person in two teams of one subtree counts once for the parent.

    Kept by `ingest`: rebuilt for an account's days with the other rollups; on commit, a
    few people's changed memberships shift just their usage in or out, and a moved team (or
    a large re-org) rebuilds the teams concerned and their ancestors."""

    __tablename__ = "usage_team_days"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"),
                                         primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    tool: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(Text, primary_key=True)
    people: Mapped[str] = mapped_column(BIT(varying=True))

    # session.info keys: teams whose rows the session's uncommitted changes made stale, and
    # how many flushes changed memberships or the tree (readers' memos start over)
    CHANGED_TEAMS = "abacus.changed_teams"
    TEAM_CHANGES = "abacus.team_changes"

    @classmethod
    def stale_teams(cls) -> set[int]:
        """Teams whose rows this session's uncommitted membership or tree changes made stale
        (read them another way until commit, when `ingest` rebuilds them)."""
        return db.session.info.get(cls.CHANGED_TEAMS, set())


class UsageDayPeople(db.Model):
    """Who was active per (day, account, tool, model): a bitmap over `people.id`.

    Distinct people cannot be summed across days, tools or accounts, but bitmaps can be
    OR-ed: people in any range, per tool, per model or per week is bit_count(bit_or(...)) over
    a few hundred rows, instead of hashing every person-day of the range. Rows are per
    account, so concurrent syncs of different accounts never write the same row. Rebuilt by
    `ingest.refresh_daily` together with the other rollups."""

    __tablename__ = "usage_day_people"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # A foreign key (unlike the larger rollups): few rows, so the check costs nothing, and
    # removing an account removes its rows.
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    tool: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(Text, primary_key=True)
    # Bit i set = person id i was active; length = the highest id when written, plus one
    # (readers pad to a common length before OR-ing).
    people: Mapped[str] = mapped_column(BIT(varying=True))


class UsagePersonBlock(RollupSums, db.Model):
    """usage_person_daily summed over aligned blocks of 2, 4, … 256 days (`level` 1…8; a
    level-k block starts on a day whose number since 1970-01-01 is a multiple of 2**k).

    Any range is a handful of such blocks plus a few single days (see
    `analytics.common.split_range`), so per-person sums over 30 days read about a quarter of
    the per-day rows, and over a year a thirtieth. `days` marks the block's active days (bit
    i = start + i), so days active still merge across tools and accounts. Rebuilt by
    `ingest.refresh_daily` for the blocks holding the days it refreshes."""

    __tablename__ = "usage_person_blocks"

    LEVELS = 8  # blocks of 2, 4, … 2**LEVELS days
    EPOCH = date(1970, 1, 1)  # day 0 of the alignment

    @classmethod
    def block_start(cls, day: date, level: int) -> date:
        """The first day of the level-`level` block holding `day`."""
        n = day.toordinal() - cls.EPOCH.toordinal()
        return date.fromordinal(cls.EPOCH.toordinal() + (n >> level << level))

    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[date] = mapped_column(Date, primary_key=True)
    # A foreign key so removing an account removes its blocks (and TRUNCATE … CASCADE of
    # accounts empties this table too).
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    tool: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(Text, primary_key=True)
    mapped: Mapped[bool] = mapped_column(Boolean)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    days: Mapped[str] = mapped_column(BIT(varying=True))


class Upload(db.Model):
    """A file uploaded through the web, kept until its import job has read it.

    In PostgreSQL, not on the web's disk: the worker may run in another container. The bytes
    are in `upload_chunks`; the job deletes both when it ends, and `uploads.sweep` removes
    what a killed worker or an unrun job left behind."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random hex, in the job
    filename: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = _now_col()


class UploadChunk(db.Model):
    """One piece of an upload's bytes (`uploads.CHUNK_SIZE`), `seq` 0, 1, … in file order."""

    __tablename__ = "upload_chunks"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Seat(db.Model):
    """A provider seat as last listed (GitHub Copilot): one row per account and assignee.

    Replaced whole by each sync's seat list (`sync.seats.store_seats`); `seat_history` keeps
    every day's list."""

    __tablename__ = "seats"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    login: Mapped[str] = mapped_column(String(255), primary_key=True)  # lower-cased
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    plan: Mapped[str | None] = mapped_column(String(32))
    seat_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_editor: Mapped[str | None] = mapped_column(Text)
    last_authenticated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pending_cancellation_date: Mapped[date | None] = mapped_column(Date)
    assigning_team: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = _now_col()
    fetched_at: Mapped[datetime] = _now_col()


class SeatHistory(db.Model):
    """Every day's seat list per account (the last list read that UTC day)."""

    __tablename__ = "seat_history"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    login: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    plan: Mapped[str | None] = mapped_column(String(32))
    seat_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_editor: Mapped[str | None] = mapped_column(Text)
    last_authenticated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pending_cancellation_date: Mapped[date | None] = mapped_column(Date)
    assigning_team: Mapped[str | None] = mapped_column(Text)


class TeamMember(db.Model):
    """Who was in which team on a day, as a provider reports it (GitHub's user-teams report):
    a team source for per-team views. A user in two teams has two rows."""

    __tablename__ = "team_members"
    __table_args__ = (Index("ix_team_members_login_day", "login", "day"),)

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(255), primary_key=True)  # lower-cased
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    slug: Mapped[str] = mapped_column(Text)


SEAT_SOURCES = ("csv", "manual")


class SeatAssignment(db.Model):
    """A seat entered by an admin (CSV upload or form) for a tool without a seat API
    (Claude Team/Enterprise, ChatGPT seats…), in force on the days valid_from..valid_to
    (inclusive, org time zone; valid_to None: still assigned).

    `holder` is a person's e-mail or, when nobody is mapped, the provider identity. A plan
    change is a second row starting the day after the first one ends. Seats read from a
    provider (Copilot `seats`, Cursor members and seat accounts) are not copied here: the
    `abacus.seats` package reads them where they are stored."""

    __tablename__ = "seat_assignments"
    __table_args__ = (
        UniqueConstraint("holder", "tool", "valid_from", name="uq_seat_assignments_start"),
        CheckConstraint(_in("source", SEAT_SOURCES), name="source_valid"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="range_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(255), index=True)
    tool: Mapped[str] = mapped_column(String(64))
    plan: Mapped[str] = mapped_column(String(64))
    monthly_usd: Mapped[Decimal | None] = mapped_column(Money)  # None: the plan's price
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), server_default="csv")
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col(onupdate=func.now())


class SeatPlanPrice(db.Model):
    """An admin's price for a seat plan (USD per seat per month), in force from `valid_from`
    until the next row for the same (tool, plan, account). `account_id` None: every account;
    a row for one account wins over it. Without a row the shipped list (seats/plans.py)
    holds."""

    __tablename__ = "seat_plan_prices"
    __table_args__ = (
        UniqueConstraint("tool", "plan", "account_id", "valid_from",
                         name="uq_seat_plan_prices_start", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tool: Mapped[str] = mapped_column(String(64))
    plan: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"))
    valid_from: Mapped[date] = mapped_column(Date)
    monthly_usd: Mapped[Decimal] = mapped_column(Money)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now_col()


class SeatLeave(db.Model):
    """A person on leave over leave_from..leave_to (inclusive; None: until further notice):
    their seats are left out of the idle list while on leave."""

    __tablename__ = "seat_leaves"

    holder: Mapped[str] = mapped_column(String(255), primary_key=True)
    leave_from: Mapped[date] = mapped_column(Date, primary_key=True)
    leave_to: Mapped[date | None] = mapped_column(Date)


class Budget(db.Model):
    """A spending cap in USD on a scope (org, person, tool, account, or a combination) per
    calendar month or quarter in the org time zone. `notify_encrypted` holds the budget's own
    Apprise URLs, Fernet-encrypted like account credentials (they carry tokens)."""

    __tablename__ = "budgets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    scope: Mapped[dict] = mapped_column(JSONB, server_default="{}")  # {} = the whole org
    period: Mapped[str] = mapped_column(String(16))  # month | quarter
    amount_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    counts: Mapped[str] = mapped_column(String(16), server_default="usage")
    thresholds: Mapped[list] = mapped_column(JSONB)
    ends_on: Mapped[date | None] = mapped_column(Date)
    notify_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now_col()


class BudgetNotification(db.Model):
    """One row per (budget, period, kind, threshold) ever notified: re-runs, revisions that dip
    below and re-cross, and repeated syncs find the row and send nothing."""

    __tablename__ = "budget_notifications"
    __table_args__ = (UniqueConstraint("budget_id", "period_start", "kind", "threshold"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    budget_id: Mapped[int] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))  # threshold | forecast
    threshold: Mapped[int] = mapped_column(Integer)
    spent_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    forecast_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    delivered: Mapped[int] = mapped_column(Integer, server_default="0")  # channels that took it
    message: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = _now_col()


class Incident(db.Model):
    """A detected anomaly (spike or expensive new model) of one person and tool: open →
    acknowledged (by whom, note) → resolved. A new detection of the same person, tool and
    kind while one is not resolved extends it instead of opening another."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # spike | outlier | new_model
    person: Mapped[str] = mapped_column(Text)
    tool: Mapped[str] = mapped_column(String(64))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    spend_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    baseline_usd: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    opened_at: Mapped[datetime] = _now_col()
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(255))


class Team(db.Model):
    """A team in the org chart: a tree through `parent_id`, with an optional cost-centre code.
    Teams come from a CSV (HR export), GitHub teams, Cursor billing groups or manual edits;
    `source` + `external_id` let a re-import find the team it made before."""

    __tablename__ = "teams"
    __table_args__ = (CheckConstraint(_in("source", TEAM_SOURCES), name="team_source_valid"),
                      CheckConstraint("parent_id IS NULL OR parent_id <> id",
                                      name="team_not_own_parent"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"),
                                                  index=True)
    cost_centre: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), server_default="manual")
    external_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now_col()


class TeamMembership(db.Model):
    """A person (lower-cased e-mail) in a team over valid_from..valid_to, both days in the org
    time zone and inclusive (valid_to None: still in it). Effective-dated, so last quarter's
    chargeback stays right after a re-org. `share` (0 < share <= 1) is this membership's part
    of the person's cost on a day they are in several teams; None: equal shares."""

    __tablename__ = "team_memberships"
    __table_args__ = (
        UniqueConstraint("team_id", "person", "valid_from"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="membership_dates"),
        CheckConstraint("share IS NULL OR (share > 0 AND share <= 1)", name="membership_share"),
        CheckConstraint(_in("source", TEAM_SOURCES), name="membership_source_valid"),
        Index("ix_team_memberships_person", "person", "valid_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"),
                                         index=True)
    person: Mapped[str] = mapped_column(String(255))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    lead: Mapped[bool] = mapped_column(Boolean, server_default="false")
    share: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    source: Mapped[str] = mapped_column(String(16), server_default="manual")
    created_at: Mapped[datetime] = _now_col()


class AccessToken(db.Model):
    """A bearer token for a machine: `api` tokens read the JSON API with `role` (and, for a
    member token, `email`'s rows); `ingest` tokens may only post telemetry. Only the SHA-256
    of the token is kept; it is shown once when created. A name is unique among live tokens
    of a kind, so a revoked name can be reused."""

    __tablename__ = "access_tokens"
    __table_args__ = (
        CheckConstraint(_in("kind", TOKEN_KINDS), name="token_kind_valid"),
        Index("uq_access_tokens_live_name", "kind", "name", unique=True,
              postgresql_where=text("revoked_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    role: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now_col()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccessLogEntry(db.Model):
    """Who opened whose person page or downloaded which export, and when (kept for
    ABACUS_ACCESS_LOG_DAYS). `viewer` is the signed-in e-mail or `token:NAME`."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = _now_col(index=True)
    viewer: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))  # person_page | export | api
    target: Mapped[str] = mapped_column(Text)  # the person's e-mail, or the export's path


class TelemetrySeries(db.Model):
    """The last point seen of one cumulative OTLP series (resource + scope + metric +
    attributes, hashed): what turns a running total into deltas. A point whose start time
    changed or whose value dropped is a restart (counted from zero); one no later than
    `time_ns` was seen before (a re-sent batch) and adds nothing."""

    __tablename__ = "telemetry_series"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    start_ns: Mapped[int] = mapped_column(BigInteger)
    time_ns: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[Decimal] = mapped_column(Numeric)
    updated_at: Mapped[datetime] = _now_col(onupdate=func.now())


class TelemetryIntake(db.Model):
    """What each ingest token has delivered: the Status page's "last telemetry received"."""

    __tablename__ = "telemetry_intake"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("access_tokens.id", ondelete="CASCADE"), primary_key=True)
    last_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requests: Mapped[int] = mapped_column(BigInteger, server_default="0")
    points: Mapped[int] = mapped_column(BigInteger, server_default="0")  # points and events
