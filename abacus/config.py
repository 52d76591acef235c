"""Typed settings read from the environment (and an optional `.env` file).

Every variable is listed once in `FIELDS` with its default and meaning; the README's
configuration table is generated from the same list (`python -m abacus.config`), so the two
cannot drift. A bad value stops start-up with one line naming the variable and the value.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from .providers.litellm import DEFAULT_URL as LITELLM_PRICES_URL

# Alembic revisions ship beside the package (the container image copies them too).
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Request bodies of ordinary forms (MAX_CONTENT_LENGTH); web/limits.py allows more only for
# the GitHub webhook and admins' CSV uploads.
FORM_LIMIT = 2 * 1024 * 1024

ENVIRONMENTS = ("development", "test", "production")
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_Number = TypeVar("_Number", int, float)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Field:
    name: str
    default: str
    meaning: str


# The documented settings as data (README and .env.example are checked against it), one
# entry per variable: the repetition is the table's rows.
FIELDS: tuple[Field, ...] = (
    Field("ABACUS_ENV", "development if DATABASE_URL is unset, else production",
          "`development`, `test` or `production`. Production refuses a missing SECRET_KEY."),
    Field("SECRET_KEY", "generated into `instance/secret_key` outside production",
          "Signs sessions and CSRF tokens. Production requires at least 32 random characters "
          "(placeholders and repetitive keys are refused)."),
    Field("DATABASE_URL", "embedded PostgreSQL under `instance/pg`",
          "PostgreSQL URL (`postgresql://user:pass@host:5432/db`). Unset: start or reuse the "
          "embedded server (needs the `embedded` extra)."),
    Field("REDIS_URL", "embedded Redis under `instance/`",
          "Redis URL for the job queue. Unset: start or reuse the embedded server."),
    Field("ABACUS_TIMEZONE", "UTC",
          "IANA time zone that decides day boundaries (e.g. `Europe/Berlin`). After changing "
          "it run `flask abacus rollups rebuild`."),
    Field("ABACUS_INSTANCE_PATH", "`./instance`",
          "Folder for the generated secret key and the embedded engines' data."),
    Field("ALLOWED_DOMAINS", "none: nobody can sign in (`make run` sets `example.com`)",
          "Comma-separated e-mail domains allowed to sign in."),
    Field("ABACUS_ADMINS", "(none)", "Comma-separated e-mails that get the admin role."),
    Field("ABACUS_FINANCE", "(none)",
          "Comma-separated e-mails that get the finance role at sign-in (every figure and "
          "export, no admin actions). An admin listed here stays an admin."),
    Field("ABACUS_DEV_LOGIN", "0 (`make run` sets 1)",
          "1 enables the password-less development sign-in at `/auth/dev-login`. Never in "
          "production."),
    Field("GOOGLE_CLIENT_ID", "(none)",
          "Google OAuth client id: enables \"Sign in with Google\" (OpenID Connect)."),
    Field("GOOGLE_CLIENT_SECRET", "(none)", "Google OAuth client secret."),
    Field("OIDC_DISCOVERY_URL", "(none)",
          "Any other OpenID Connect provider (Okta, Keycloak, Authentik…) by its discovery "
          "URL (`…/.well-known/openid-configuration`)."),
    Field("OIDC_CLIENT_ID", "(none)", "Client id at that OIDC provider."),
    Field("OIDC_CLIENT_SECRET", "(none)", "Client secret at that OIDC provider."),
    Field("OIDC_PROVIDER_NAME", "Single sign-on", "Button label for that OIDC provider."),
    Field("ABACUS_SESSION_MAX_AGE_HOURS", "168 (a week)",
          "Absolute lifetime of a sign-in: after this many hours the person signs in again, "
          "however active."),
    Field("ABACUS_SESSION_IDLE_HOURS", "24",
          "A sign-in ends after this many hours without a request."),
    Field("ABACUS_MEMBER_VISIBILITY", "all",
          "`all`: members see everyone's rows. `self`: members see totals over everyone but "
          "only their own per-person rows (no filter, unmapped identities or others' seats); "
          "team leads also see the people of their teams' subtrees."),
    Field("ABACUS_MIN_GROUP_SIZE", "5",
          "Members and leads limited by `self` see no aggregate over fewer than this many "
          "people unless all of them are in their own scope (it is replaced by a notice)."),
    Field("ABACUS_ACCESS_LOG_DAYS", "365",
          "Days the access log (person pages opened, exports downloaded, API calls) is kept; "
          "a daily job deletes older entries."),
    Field("ABACUS_PROXY_COUNT", "0",
          "How many reverse proxies sit in front of the web process; their `X-Forwarded-*` "
          "headers are trusted only then (scheme, host, client address)."),
    Field("ABACUS_MAX_UPLOAD_MB", "1024",
          "Largest Cursor CSV upload (`/admin/upload`, admins only) in MB. Every other request "
          "body is limited to 2 MB, GitHub webhook deliveries to 25 MB."),
    Field("ABACUS_OTLP_MAX_BODY_MB", "8",
          "Largest OTLP/HTTP request body (`/otlp/v1/metrics`, `/otlp/v1/logs`) in MB, "
          "after gzip is inflated."),
    Field("ABACUS_OTLP_MAX_QUEUED", "5000",
          "Telemetry batches that may wait for a worker; beyond it exporters get 429 with "
          "`Retry-After` and retry later."),
    Field("ABACUS_LOG_FORMAT", "text", "`text`, or `json` for one JSON object per log line."),
    Field("SENTRY_DSN", "(none)",
          "Report errors to Sentry (needs the `sentry` extra, which the image has)."),
    Field("METRICS_TOKEN", "(none: /metrics is off)",
          "Bearer token that unlocks Prometheus metrics at `/metrics` (production: at least 32 "
          "random characters)."),
    Field("CRON_SECRET", "(none: /cron/* is off)",
          "Bearer token for `POST /cron/sync/<source>` (schedules driven from outside; "
          "production: at least 32 random characters)."),
    Field("HOST", "127.0.0.1", "Address the web process listens on (`make run`)."),
    Field("PORT", "5000", "Port the web process listens on (`make run`)."),
    Field("ABACUS_ENCRYPTION_KEY", "derived from SECRET_KEY",
          "Fernet key(s) that encrypt stored credentials, comma-separated: the first encrypts, "
          "all decrypt (rotation). Set it in production, so SECRET_KEY can change without "
          "locking out credentials. Make one with `python -c 'from cryptography.fernet import "
          "Fernet; print(Fernet.generate_key().decode())'`."),
    Field("ANTHROPIC_ADMIN_KEYS", "(none)",
          "Anthropic Admin API keys, comma-separated, each `key` or `name=key`. Each becomes a "
          "Claude Code account at start; a bare key is named `anthropic-<fingerprint>`."),
    Field("CURSOR_ADMIN_KEYS", "(none)",
          "Cursor team Admin API keys, same format; accounts named `cursor-<fingerprint>` "
          "unless named."),
    Field("OPENAI_ADMIN_KEYS", "(none)",
          "OpenAI Admin keys (`sk-admin-…`), same format; each becomes an OpenAI organization "
          "usage and costs account, named `openai-<fingerprint>` unless named."),
    Field("COPILOT_ACCOUNTS", "(none)",
          "GitHub Copilot accounts, comma-separated, each `name=org:ORG:TOKEN` or "
          "`name=enterprise:SLUG:TOKEN` (`name=` optional: then `copilot-<org>`). The token "
          "needs read:org (metrics, seats) and, for billed figures, manage_billing:copilot "
          "(a classic token)."),
    Field("OPENROUTER_MANAGEMENT_KEYS", "(none)",
          "OpenRouter management keys (openrouter.ai/settings/management-keys; an "
          "organization's for per-member data), same format; accounts named "
          "`openrouter-<fingerprint>` unless named."),
    Field("ANTHROPIC_BASE_URL", "https://api.anthropic.com",
          "Anthropic API base URL (an account's own `base_url` setting wins)."),
    Field("CURSOR_BASE_URL", "https://api.cursor.com", "Cursor Admin API base URL."),
    Field("CURSOR_DASHBOARD_BASE_URL", "https://cursor.com",
          "cursor.com dashboard base URL used with seat session cookies."),
    Field("OPENAI_BASE_URL", "https://api.openai.com/v1",
          "OpenAI Admin API base URL (usage, costs, users, projects)."),
    Field("CODEX_BASE_URL", "https://api.chatgpt.com/v1/analytics/codex",
          "Codex Analytics API base URL (ChatGPT Enterprise workspaces)."),
    Field("COPILOT_BASE_URL", "https://api.github.com",
          "GitHub REST API URL for Copilot accounts (an account's own `base_url` wins)."),
    Field("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1",
          "OpenRouter API base URL (an account's own `base_url` setting wins)."),
    Field("CURSOR_MIN_REQUEST_INTERVAL", "3",
          "Seconds between requests to Cursor (its Admin API allows 20 per minute)."),
    Field("ALERT_WEBHOOK_URL", "(none)",
          "When set, account alerts (revoked key, expired cookie, repeated failures) are "
          "POSTed here as JSON with a Slack-compatible `text` field."),
    Field("ABACUS_ALERT_URLS", "(none)",
          "Comma-separated Apprise URLs (Slack, Teams, Discord, `mailto://`, `json://`…) for "
          "budget alerts without their own `--notify` URLs, and for account alerts."),
    Field("ABACUS_PUBLIC_URL", "(none)",
          "This site's address (`https://abacus.example.com`): alerts link to its pages."),
    Field("ABACUS_SCHEDULE_BUDGETS", "`10 * * * *` (hourly)",
          "Cron (UTC) for `flask abacus budgets evaluate` (budget alerts and anomalies)."),
    Field("ABACUS_ANOMALY_FACTOR", "3",
          "A person's daily spend on a tool is a spike at this many times their 14-day median."),
    Field("ABACUS_ANOMALY_FLOOR_USD", "20",
          "…and only above this many dollars that day (small days never open incidents)."),
    Field("ABACUS_ANOMALY_HARD_LIMIT_USD", "200",
          "Today's spend (day not complete) opens an incident at once above this."),
    Field("ABACUS_ANOMALY_Z", "3",
          "A person's day on a tool is an outlier this many standard deviations above the "
          "other active people's (at least 5 of them)."),
    Field("ABACUS_ANOMALY_MODEL_FACTOR", "5",
          "First use of a model costing this many times per token the person's usual one."),
    Field("ABACUS_SCHEDULE_CURSOR", "`0 * * * *` (hourly)", "Cron (UTC) for Cursor team syncs."),
    Field("ABACUS_SCHEDULE_CLAUDE_CODE", "`0 */6 * * *`", "Cron (UTC) for Claude Code syncs."),
    Field("ABACUS_SCHEDULE_CURSOR_SESSION", "`30 */2 * * *`",
          "Cron (UTC) for Cursor seat (session cookie) syncs."),
    Field("ABACUS_SCHEDULE_OPENAI", "`20 */6 * * *`",
          "Cron (UTC) for OpenAI organization usage and costs syncs."),
    Field("ABACUS_SCHEDULE_CODEX", "`50 */6 * * *`",
          "Cron (UTC) for Codex Analytics syncs (the data lags up to 12 hours)."),
    Field("ABACUS_SCHEDULE_COPILOT", "`20 */6 * * *`",
          "Cron (UTC) for GitHub Copilot syncs (GitHub publishes each day's report about two "
          "days later)."),
    Field("ABACUS_SCHEDULE_OPENROUTER", "`20 */6 * * *`",
          "Cron (UTC) for OpenRouter syncs (its activity covers whole UTC days)."),
    Field("ABACUS_SCHEDULE_BACKFILL", "`15 */6 * * *`",
          "Cron (UTC) for history backfills; runs until each account's backfill is complete."),
    Field("ABACUS_BACKFILL_FROM", "2025-01-01",
          "Oldest day (YYYY-MM-DD) backfills reach for, unless `backfill --from` says otherwise."),
    Field("ABACUS_IMPORT_EARLIEST", "2020-01-01",
          "Oldest day (YYYY-MM-DD) a CSV import accepts; older rows are refused as typos "
          "unless `import cursor-csv --allow-before DAY` says otherwise."),
    Field("ABACUS_BACKFILL_EMPTY_DAYS", "7",
          "A backfill ends early after this many empty days in a row (history ran out)."),
    Field("GITHUB_WEBHOOK_SECRET", "(none: the webhook answers 503)",
          "Secret of the GitHub push webhook (`POST /webhooks/github`); every delivery's "
          "`X-Hub-Signature-256` is checked against it."),
    Field("GITHUB_TOKEN", "(none)",
          "GitHub token (fine-grained: Contents read) for commit backfill and line stats."),
    Field("GITHUB_APP_ID", "(none)",
          "GitHub App id; with GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID it is used "
          "instead of GITHUB_TOKEN."),
    Field("GITHUB_APP_PRIVATE_KEY", "(none)",
          "The GitHub App's private key (PEM; `\\n` escapes allowed)."),
    Field("GITHUB_APP_INSTALLATION_ID", "(none)", "The GitHub App's installation id."),
    Field("GITHUB_ORG", "(none)",
          "Organization whose repositories are backfilled (archived ones are skipped)."),
    Field("GITHUB_REPOS", "(none)",
          "Comma-separated `owner/name` repositories to backfill, with or instead of "
          "GITHUB_ORG."),
    Field("GITHUB_API_URL", "https://api.github.com",
          "GitHub REST API URL (GitHub Enterprise: `https://HOST/api/v3`)."),
    Field("GITHUB_BACKFILL_DAYS", "90",
          "How far back the scheduled commit backfill reaches for new repositories."),
    Field("ABACUS_SCHEDULE_GITHUB", "`40 * * * *` (hourly)",
          "Cron (UTC) for the GitHub job: line stats for webhook commits, commits a missed "
          "webhook left out, and backfills still pending."),
    Field("ABACUS_PRICING_URL", "LiteLLM's `model_prices_and_context_window.json` on GitHub",
          "Price table `flask abacus pricing update` and the weekly price job read (LiteLLM's "
          "format)."),
    Field("ABACUS_PRICING_AUTO_UPDATE", "0",
          "1 runs `pricing update` weekly (`ABACUS_SCHEDULE_PRICING`): changed prices are "
          "stored in force from that day."),
    Field("ABACUS_SCHEDULE_PRICING", "`0 5 * * 1` (Mondays)",
          "Cron (UTC) for the price update job, when ABACUS_PRICING_AUTO_UPDATE=1."),
    Field("TEST_DATABASE_URL", "embedded PostgreSQL",
          "Tests only: server on which `make test` creates a throw-away database."),
    Field("TEST_REDIS_URL", "embedded Redis",
          "Tests only: a Redis database `make test` may empty (e.g. `redis://127.0.0.1:6379/15`)."),
)


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected 1/0 (or true/false), got {raw!r}")


def _parse_number(name: str, raw: str, kind: Callable[[str], _Number], expected: str,
                  lo: _Number, hi: _Number) -> _Number:
    """`raw` read as `kind` (int or float) and checked to lie in lo..hi; `expected` says what
    a value that does not parse should have been."""
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected {expected}, got {raw!r}") from None
    if not lo <= value <= hi:
        shown = [f"{n:g}" if isinstance(n, float) else str(n) for n in (lo, hi, value)]
        raise ConfigError(f"{name}: expected a number from {shown[0]} to {shown[1]}, "
                          f"got {shown[2]}")
    return value


def _parse_int(name: str, raw: str, lo: int, hi: int) -> int:
    return _parse_number(name, raw, int, "a whole number", lo, hi)


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")
    return value


def _parse_float(name: str, raw: str, lo: float, hi: float) -> float:
    return _parse_number(name, raw, float, "a number of seconds", float(lo), float(hi))


def _parse_cron(name: str, raw: str) -> str:
    from crontab import CronTab

    try:
        CronTab(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {raw!r} is not a cron expression ({exc})") from None
    return raw


def _parse_day(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a day as YYYY-MM-DD, got {raw!r}") from None


def parse_keys(name: str, raw: str, prefix: str) -> tuple[tuple[str, str], ...]:
    """`key1,name=key2` → ((name, key), …); a bare key is named `<prefix>-<fingerprint>`.

    Names come from the key itself, never from its position, so reordering or adding keys
    never renames an account. Errors name the entry by position, never show the key.
    """
    out: list[tuple[str, str]] = []
    for i, part in enumerate((p.strip() for p in raw.split(",")), start=1):
        if not part:
            continue
        label, sep, key = part.partition("=")
        if not sep:
            label, key = "", part
        label, key = label.strip(), key.strip()
        if not key:
            raise ConfigError(f"{name}: entry {i} has a name but no key")
        if sep and not label:
            raise ConfigError(f"{name}: entry {i} has '=' but no name before it")
        if label and not _NAME_RE.fullmatch(label):
            raise ConfigError(f"{name}: entry {i}: name {label!r} may only use letters, digits, "
                              "'.', '_' and '-' (at most 64)")
        if not label:
            label = f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        if any(label == n for n, _ in out):
            raise ConfigError(f"{name}: the name {label!r} is used twice")
        out.append((label, key))
    return tuple(out)


_SLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def parse_copilot_accounts(name: str, raw: str) -> tuple[tuple[str, str, str, str], ...]:
    """`name=org:acme:TOKEN,enterprise:big:TOKEN` → ((name, "org"|"enterprise", slug,
    token), …); an unnamed entry is `copilot-<slug>`. Errors never show the token."""
    out: list[tuple[str, str, str, str]] = []
    for i, part in enumerate((p.strip() for p in raw.split(",")), start=1):
        if not part:
            continue
        label, sep, rest = part.partition("=")
        if not sep or ":" in label:
            label, rest = "", part
        kind, _, rest = rest.strip().partition(":")
        slug, _, token = rest.partition(":")
        label, kind, slug, token = label.strip(), kind.strip(), slug.strip(), token.strip()
        if kind not in ("org", "enterprise"):
            raise ConfigError(f"{name}: entry {i}: expected name=org:ORG:TOKEN or "
                              "name=enterprise:SLUG:TOKEN")
        if not _SLUG_RE.fullmatch(slug):
            raise ConfigError(f"{name}: entry {i}: {slug!r} is not a GitHub {kind} name")
        if not token:
            raise ConfigError(f"{name}: entry {i} has no token")
        label = label or f"copilot-{slug.lower()}"
        if not _NAME_RE.fullmatch(label):
            raise ConfigError(f"{name}: entry {i}: name {label!r} may only use letters, digits, "
                              "'.', '_' and '-' (at most 64)")
        if any(label == n for n, *_ in out):
            raise ConfigError(f"{name}: the name {label!r} is used twice")
        out.append((label, kind, slug, token))
    return tuple(out)


def _check_url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in schemes:
        raise ConfigError(f"{name}: expected a URL starting with {' or '.join(schemes)}://")
    return raw


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str = field(repr=False)
    database_url: str | None
    redis_url: str | None
    timezone: str
    instance_path: Path
    allowed_domains: tuple[str, ...]
    admins: tuple[str, ...]
    dev_login: bool
    host: str
    port: int
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    anthropic_admin_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    cursor_admin_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    openai_admin_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    copilot_accounts: tuple[tuple[str, str, str, str], ...] = field(default=(), repr=False)
    copilot_base_url: str = "https://api.github.com"
    schedule_copilot: str = "20 */6 * * *"
    openrouter_management_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    schedule_openrouter: str = "20 */6 * * *"
    anthropic_base_url: str = "https://api.anthropic.com"
    cursor_base_url: str = "https://api.cursor.com"
    cursor_dashboard_base_url: str = "https://cursor.com"
    openai_base_url: str = "https://api.openai.com/v1"
    codex_base_url: str = "https://api.chatgpt.com/v1/analytics/codex"
    cursor_min_request_interval: float = 3.0
    alert_webhook_url: str | None = field(default=None, repr=False)
    alert_urls: tuple[str, ...] = field(default=(), repr=False)
    public_url: str | None = None
    schedule_budgets: str = "10 * * * *"
    anomaly_factor: float = 3.0
    anomaly_floor_usd: float = 20.0
    anomaly_hard_limit_usd: float = 200.0
    anomaly_model_factor: float = 5.0
    anomaly_z: float = 3.0
    schedule_cursor: str = "0 * * * *"
    schedule_claude_code: str = "0 */6 * * *"
    schedule_cursor_session: str = "30 */2 * * *"
    schedule_openai: str = "20 */6 * * *"
    schedule_codex: str = "50 */6 * * *"
    schedule_backfill: str = "15 */6 * * *"
    backfill_from: date = date(2025, 1, 1)
    backfill_empty_days: int = 7
    import_earliest: date = date(2020, 1, 1)
    google_client_id: str | None = None
    google_client_secret: str | None = field(default=None, repr=False)
    oidc_discovery_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_provider_name: str = "Single sign-on"
    member_visibility: str = "all"
    finance: tuple[str, ...] = ()
    min_group_size: int = 5
    access_log_days: int = 365
    session_max_age_hours: int = 168
    session_idle_hours: int = 24
    proxy_count: int = 0
    max_upload_mb: int = 1024
    otlp_max_body_mb: int = 8
    otlp_max_queued: int = 5000
    log_format: str = "text"
    sentry_dsn: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)
    cron_secret: str | None = field(default=None, repr=False)
    github_webhook_secret: str | None = field(default=None, repr=False)
    github_token: str | None = field(default=None, repr=False)
    github_app_id: str | None = None
    github_app_private_key: str | None = field(default=None, repr=False)
    github_app_installation_id: str | None = None
    github_org: str | None = None
    github_repos: tuple[str, ...] = ()
    github_api_url: str = "https://api.github.com"
    github_backfill_days: int = 90
    schedule_github: str = "40 * * * *"
    pricing_url: str = LITELLM_PRICES_URL
    pricing_auto_update: bool = False
    schedule_pricing: str = "0 5 * * 1"

    @property
    def sign_in_configured(self) -> bool:
        google = bool(self.google_client_id and self.google_client_secret)
        return google or bool(self.oidc_discovery_url and self.oidc_client_id)

    @property
    def github_api_configured(self) -> bool:
        """A token, or all three GitHub App values: the REST backfill can run."""
        app = self.github_app_id and self.github_app_private_key \
            and self.github_app_installation_id
        return bool(self.github_token or app)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def load(cls, overrides: Mapping[str, str] | None = None,
             read_dotenv: bool = True) -> Settings:
        """Environment, then `.env` for what the environment leaves unset, then overrides."""
        env: dict[str, str] = {}
        path = Path.cwd() / ".env"
        if read_dotenv and path.is_file():
            env.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        env.update(os.environ)
        env.update(overrides or {})
        return cls.from_mapping(env)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str:
            return env.get(name, "").strip()

        database_url = get("DATABASE_URL") or None
        if database_url:
            database_url = _check_url("DATABASE_URL", database_url,
                                      ("postgresql", "postgres", "postgresql+psycopg2"))
        redis_url = get("REDIS_URL") or None
        if redis_url:
            _check_url("REDIS_URL", redis_url, ("redis", "rediss", "unix"))

        abacus_env = get("ABACUS_ENV") or ("production" if database_url else "development")
        if abacus_env not in ENVIRONMENTS:
            raise ConfigError(f"ABACUS_ENV: expected one of {', '.join(ENVIRONMENTS)}, "
                              f"got {abacus_env!r}")

        timezone = get("ABACUS_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"ABACUS_TIMEZONE: {timezone!r} is not a known IANA time zone "
                              "(e.g. UTC, Europe/Berlin)") from None

        instance_path = Path(get("ABACUS_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
        dev_login = _parse_bool("ABACUS_DEV_LOGIN", get("ABACUS_DEV_LOGIN"))
        if dev_login and abacus_env == "production":
            raise ConfigError("ABACUS_DEV_LOGIN: the development sign-in cannot be enabled "
                              "when ABACUS_ENV=production")

        secret_key = get("SECRET_KEY")
        if not secret_key:
            if abacus_env == "production":
                raise ConfigError("SECRET_KEY: required in production (set a long random "
                                  "string, e.g. `python -c 'import secrets; "
                                  "print(secrets.token_hex(32))'`)")
            secret_key = _instance_secret(instance_path)
        elif abacus_env == "production":
            _check_strong("SECRET_KEY", secret_key)

        settings = cls(
            env=abacus_env,
            secret_key=secret_key,
            database_url=database_url,
            redis_url=redis_url,
            timezone=timezone,
            instance_path=instance_path,
            allowed_domains=_parse_list(get("ALLOWED_DOMAINS")),
            admins=_parse_list(get("ABACUS_ADMINS")),
            dev_login=dev_login,
            host=get("HOST") or "127.0.0.1",
            port=_parse_int("PORT", get("PORT") or "5000", 1, 65535),
            encryption_keys=_parse_fernet_keys("ABACUS_ENCRYPTION_KEY",
                                               get("ABACUS_ENCRYPTION_KEY")),
            anthropic_admin_keys=parse_keys("ANTHROPIC_ADMIN_KEYS", get("ANTHROPIC_ADMIN_KEYS"),
                                            "anthropic"),
            cursor_admin_keys=parse_keys("CURSOR_ADMIN_KEYS", get("CURSOR_ADMIN_KEYS"),
                                         "cursor"),
            openai_admin_keys=parse_keys("OPENAI_ADMIN_KEYS", get("OPENAI_ADMIN_KEYS"),
                                         "openai"),
            openai_base_url=_base_url("OPENAI_BASE_URL", get("OPENAI_BASE_URL"),
                                      "https://api.openai.com/v1"),
            codex_base_url=_base_url("CODEX_BASE_URL", get("CODEX_BASE_URL"),
                                     "https://api.chatgpt.com/v1/analytics/codex"),
            copilot_accounts=parse_copilot_accounts("COPILOT_ACCOUNTS",
                                                    get("COPILOT_ACCOUNTS")),
            copilot_base_url=_base_url("COPILOT_BASE_URL", get("COPILOT_BASE_URL"),
                                       "https://api.github.com"),
            schedule_copilot=_parse_cron("ABACUS_SCHEDULE_COPILOT",
                                         get("ABACUS_SCHEDULE_COPILOT") or "20 */6 * * *"),
            openrouter_management_keys=parse_keys("OPENROUTER_MANAGEMENT_KEYS",
                                                  get("OPENROUTER_MANAGEMENT_KEYS"),
                                                  "openrouter"),
            openrouter_base_url=_base_url("OPENROUTER_BASE_URL", get("OPENROUTER_BASE_URL"),
                                          "https://openrouter.ai/api/v1"),
            schedule_openrouter=_parse_cron("ABACUS_SCHEDULE_OPENROUTER",
                                            get("ABACUS_SCHEDULE_OPENROUTER") or "20 */6 * * *"),
            anthropic_base_url=_base_url("ANTHROPIC_BASE_URL", get("ANTHROPIC_BASE_URL"),
                                         "https://api.anthropic.com"),
            cursor_base_url=_base_url("CURSOR_BASE_URL", get("CURSOR_BASE_URL"),
                                      "https://api.cursor.com"),
            cursor_dashboard_base_url=_base_url("CURSOR_DASHBOARD_BASE_URL",
                                                get("CURSOR_DASHBOARD_BASE_URL"),
                                                "https://cursor.com"),
            cursor_min_request_interval=_parse_float(
                "CURSOR_MIN_REQUEST_INTERVAL", get("CURSOR_MIN_REQUEST_INTERVAL") or "3", 0, 600),
            alert_webhook_url=(_check_url("ALERT_WEBHOOK_URL", get("ALERT_WEBHOOK_URL"),
                                          ("http", "https"))
                               if get("ALERT_WEBHOOK_URL") else None),
            alert_urls=_parse_list(get("ABACUS_ALERT_URLS")),
            public_url=(_check_url("ABACUS_PUBLIC_URL", get("ABACUS_PUBLIC_URL"),
                                   ("http", "https")).rstrip("/")
                        if get("ABACUS_PUBLIC_URL") else None),
            schedule_budgets=_parse_cron("ABACUS_SCHEDULE_BUDGETS",
                                         get("ABACUS_SCHEDULE_BUDGETS") or "10 * * * *"),
            anomaly_factor=_parse_float("ABACUS_ANOMALY_FACTOR",
                                        get("ABACUS_ANOMALY_FACTOR") or "3", 1, 1000),
            anomaly_floor_usd=_parse_float("ABACUS_ANOMALY_FLOOR_USD",
                                           get("ABACUS_ANOMALY_FLOOR_USD") or "20", 0, 1e9),
            anomaly_hard_limit_usd=_parse_float(
                "ABACUS_ANOMALY_HARD_LIMIT_USD", get("ABACUS_ANOMALY_HARD_LIMIT_USD") or "200",
                0, 1e9),
            anomaly_z=_parse_float("ABACUS_ANOMALY_Z", get("ABACUS_ANOMALY_Z") or "3", 1, 100),
            anomaly_model_factor=_parse_float("ABACUS_ANOMALY_MODEL_FACTOR",
                                              get("ABACUS_ANOMALY_MODEL_FACTOR") or "5", 1, 1e6),
            schedule_cursor=_parse_cron("ABACUS_SCHEDULE_CURSOR",
                                        get("ABACUS_SCHEDULE_CURSOR") or "0 * * * *"),
            schedule_claude_code=_parse_cron("ABACUS_SCHEDULE_CLAUDE_CODE",
                                             get("ABACUS_SCHEDULE_CLAUDE_CODE") or "0 */6 * * *"),
            schedule_cursor_session=_parse_cron(
                "ABACUS_SCHEDULE_CURSOR_SESSION",
                get("ABACUS_SCHEDULE_CURSOR_SESSION") or "30 */2 * * *"),
            schedule_openai=_parse_cron("ABACUS_SCHEDULE_OPENAI",
                                        get("ABACUS_SCHEDULE_OPENAI") or "20 */6 * * *"),
            schedule_codex=_parse_cron("ABACUS_SCHEDULE_CODEX",
                                       get("ABACUS_SCHEDULE_CODEX") or "50 */6 * * *"),
            schedule_backfill=_parse_cron("ABACUS_SCHEDULE_BACKFILL",
                                          get("ABACUS_SCHEDULE_BACKFILL") or "15 */6 * * *"),
            backfill_from=_parse_day("ABACUS_BACKFILL_FROM",
                                     get("ABACUS_BACKFILL_FROM") or "2025-01-01"),
            import_earliest=_parse_day("ABACUS_IMPORT_EARLIEST",
                                       get("ABACUS_IMPORT_EARLIEST") or "2020-01-01"),
            backfill_empty_days=_parse_int("ABACUS_BACKFILL_EMPTY_DAYS",
                                           get("ABACUS_BACKFILL_EMPTY_DAYS") or "7", 1, 3650),
            google_client_id=get("GOOGLE_CLIENT_ID") or None,
            google_client_secret=get("GOOGLE_CLIENT_SECRET") or None,
            oidc_discovery_url=(_check_url("OIDC_DISCOVERY_URL", get("OIDC_DISCOVERY_URL"),
                                           ("http", "https"))
                                if get("OIDC_DISCOVERY_URL") else None),
            oidc_client_id=get("OIDC_CLIENT_ID") or None,
            oidc_client_secret=get("OIDC_CLIENT_SECRET") or None,
            oidc_provider_name=get("OIDC_PROVIDER_NAME") or "Single sign-on",
            member_visibility=_choice("ABACUS_MEMBER_VISIBILITY",
                                      get("ABACUS_MEMBER_VISIBILITY") or "all", ("all", "self")),
            finance=_parse_list(get("ABACUS_FINANCE")),
            min_group_size=_parse_int("ABACUS_MIN_GROUP_SIZE",
                                      get("ABACUS_MIN_GROUP_SIZE") or "5", 1, 1000),
            access_log_days=_parse_int("ABACUS_ACCESS_LOG_DAYS",
                                       get("ABACUS_ACCESS_LOG_DAYS") or "365", 1, 3660 * 3),
            session_max_age_hours=_parse_int(
                "ABACUS_SESSION_MAX_AGE_HOURS", get("ABACUS_SESSION_MAX_AGE_HOURS") or "168", 1,
                24 * 366),
            session_idle_hours=_parse_int("ABACUS_SESSION_IDLE_HOURS",
                                          get("ABACUS_SESSION_IDLE_HOURS") or "24", 1, 24 * 366),
            proxy_count=_parse_int("ABACUS_PROXY_COUNT", get("ABACUS_PROXY_COUNT") or "0", 0, 5),
            max_upload_mb=_parse_int("ABACUS_MAX_UPLOAD_MB",
                                     get("ABACUS_MAX_UPLOAD_MB") or "1024", 1, 100 * 1024),
            otlp_max_body_mb=_parse_int("ABACUS_OTLP_MAX_BODY_MB",
                                        get("ABACUS_OTLP_MAX_BODY_MB") or "8", 1, 1024),
            otlp_max_queued=_parse_int("ABACUS_OTLP_MAX_QUEUED",
                                       get("ABACUS_OTLP_MAX_QUEUED") or "5000", 1, 10_000_000),
            log_format=_choice("ABACUS_LOG_FORMAT", get("ABACUS_LOG_FORMAT") or "text",
                               ("text", "json")),
            sentry_dsn=get("SENTRY_DSN") or None,
            metrics_token=get("METRICS_TOKEN") or None,
            cron_secret=get("CRON_SECRET") or None,
            github_webhook_secret=get("GITHUB_WEBHOOK_SECRET") or None,
            github_token=get("GITHUB_TOKEN") or None,
            github_app_id=get("GITHUB_APP_ID") or None,
            github_app_private_key=get("GITHUB_APP_PRIVATE_KEY") or None,
            github_app_installation_id=get("GITHUB_APP_INSTALLATION_ID") or None,
            github_org=get("GITHUB_ORG") or None,
            github_repos=_parse_repos("GITHUB_REPOS", get("GITHUB_REPOS")),
            github_api_url=_base_url("GITHUB_API_URL", get("GITHUB_API_URL"),
                                     "https://api.github.com"),
            github_backfill_days=_parse_int("GITHUB_BACKFILL_DAYS",
                                            get("GITHUB_BACKFILL_DAYS") or "90", 1, 3650),
            schedule_github=_parse_cron("ABACUS_SCHEDULE_GITHUB",
                                        get("ABACUS_SCHEDULE_GITHUB") or "40 * * * *"),
            pricing_url=(_check_url("ABACUS_PRICING_URL", get("ABACUS_PRICING_URL"),
                                    ("http", "https"))
                         if get("ABACUS_PRICING_URL") else LITELLM_PRICES_URL),
            pricing_auto_update=_parse_bool("ABACUS_PRICING_AUTO_UPDATE",
                                            get("ABACUS_PRICING_AUTO_UPDATE") or "0"),
            schedule_pricing=_parse_cron("ABACUS_SCHEDULE_PRICING",
                                         get("ABACUS_SCHEDULE_PRICING") or "0 5 * * 1"),
        )
        if abacus_env == "production":
            _check_production(settings)
        return settings


_REPO_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")


def _parse_repos(name: str, raw: str) -> tuple[str, ...]:
    repos = tuple(part.strip() for part in raw.split(",") if part.strip())
    for repo in repos:
        if not _REPO_RE.fullmatch(repo):
            raise ConfigError(f"{name}: {repo!r} is not a repository as owner/name")
    return repos


def _base_url(name: str, raw: str, default: str) -> str:
    return _check_url(name, raw, ("http", "https")).rstrip("/") if raw else default


# Values copied from docs and examples: anyone who read them could forge sessions.
_PLACEHOLDERS = ("change-me", "changeme", "change_me", "replace-me", "replaceme", "your-secret",
                 "secret-key", "secretkey", "example", "placeholder", "password", "default")
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 80  # a random 32-character hex string estimates at 91-125


def estimated_bits(value: str) -> float:
    """Entropy estimate: length × Shannon entropy of the characters it uses. It cannot tell a
    long phrase from a random string, but it refuses short, repetitive and one-symbol keys."""
    counts = [value.count(ch) for ch in set(value)]
    per_char = -sum(c / len(value) * math.log2(c / len(value)) for c in counts)
    return per_char * len(value)


def _check_strong(name: str, value: str) -> None:
    """Refuse a secret an attacker could guess; the message says why, never the value."""
    make = "make one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDERS):
        raise ConfigError(f"{name}: looks like a placeholder from an example; {make}")
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{name}: too short for production (at least {MIN_SECRET_LENGTH} "
                          f"characters, got {len(value)}); {make}")
    if estimated_bits(value) < MIN_SECRET_BITS:
        raise ConfigError(f"{name}: too little randomness for production (repeated or few "
                          f"distinct characters); {make}")


def _parse_fernet_keys(name: str, raw: str) -> tuple[str, ...]:
    """Fernet keys checked at start, not at the first credential read hours later."""
    from cryptography.fernet import Fernet

    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for i, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(f"{name}: key {i} is not a Fernet key (32 url-safe base64-encoded "
                              "bytes; make one with `python -c 'from cryptography.fernet import "
                              "Fernet; print(Fernet.generate_key().decode())'`)") from None
    return keys


def _check_production(settings: Settings) -> None:
    """A production instance nobody can sign in to, or with guessable secrets, is a
    misconfiguration: refuse to start."""
    for name, value in (("METRICS_TOKEN", settings.metrics_token),
                        ("CRON_SECRET", settings.cron_secret)):
        if value:
            _check_strong(name, value)
    if not settings.sign_in_configured:
        raise ConfigError("sign-in: production needs a sign-in provider (GOOGLE_CLIENT_ID and "
                          "GOOGLE_CLIENT_SECRET, or OIDC_DISCOVERY_URL and OIDC_CLIENT_ID)")
    if not settings.allowed_domains:
        raise ConfigError("ALLOWED_DOMAINS: production needs at least one e-mail domain that "
                          "may sign in")


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg2 driver: SQLAlchemy 2.1 would pick psycopg 3 for plain postgresql://."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg2://{rest}"
    return url


def _instance_secret(instance_path: Path) -> str:
    """A per-installation key kept under instance/, so sessions survive restarts."""
    path = instance_path / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Write-then-rename so a process starting at the same moment never reads half a key.
    tmp = path.with_name(f".secret_key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    try:
        os.link(tmp, path)  # fails if another process won the race; then use its key
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        tmp.unlink()
    return key


def markdown_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    rows += [f"| `{f.name}` | {f.default} | {f.meaning} |" for f in FIELDS]
    return "\n".join(rows)


# Variables a container deployment sets; the rest keep their defaults.
_ENV_EXAMPLE_VALUES = {
    "ABACUS_ENV": "production",
    "SECRET_KEY": "change-me-to-a-long-random-string",
    "DATABASE_URL": "postgresql://abacus:abacus@postgres:5432/abacus",
    "REDIS_URL": "redis://redis:6379/0",
    "ALLOWED_DOMAINS": "example.com",
    "ABACUS_ADMINS": "you@example.com",
    "ABACUS_PROXY_COUNT": "1",
}
_NOT_FOR_DEPLOYMENTS = ("TEST_DATABASE_URL", "TEST_REDIS_URL", "HOST", "PORT",
                        "ABACUS_DEV_LOGIN", "ABACUS_INSTANCE_PATH")


def env_example() -> str:
    """`.env.example`: every deployment variable with its meaning; set ones uncommented."""
    lines = ["# Abacus configuration for compose.yaml: copy to .env and fill in.",
             "# Generated by `python -m abacus.config --env-example`; a test keeps it current.",
             ""]
    for f in FIELDS:
        if f.name in _NOT_FOR_DEPLOYMENTS:
            continue
        meaning = f.meaning.replace("`", "")
        lines.append(f"# {meaning} (default: {f.default.replace('`', '')})")
        value = _ENV_EXAMPLE_VALUES.get(f.name)
        lines.append(f"{f.name}={value}" if value is not None else f"# {f.name}=")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    # Tools that print the README table / the .env.example file.
    print(env_example() if "--env-example" in sys.argv else markdown_table())  # noqa: T201
