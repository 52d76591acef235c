"""Accounts: one provider credential each. Credentials are Fernet-encrypted at rest and only
decrypted into the `AccountConfig` handed to a provider; they never reach pages or logs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select, text

from ..config import Settings
from ..extensions import LockSpace, db
from ..models import Account
from ..providers import get_provider
from ..providers.base import AccountConfig
from ..usage.exclusions import excluded_identities
from ..usage.ingest import rebuild_rollups

BOOTSTRAP_LOCK = LockSpace.ENV_ACCOUNTS  # pg_advisory_xact_lock namespace
log = logging.getLogger(__name__)

# A proxy URL's password lives in the encrypted credentials under this key; the stored setting
# keeps PROXY_MASK in its place, so every page that shows the setting shows it masked.
PROXY_SECRET = "_proxy_password"
PROXY_MASK = "****"
# Settings that decide where the stored credentials are sent.
DESTINATION_SETTINGS = ("base_url", "proxy_url")

# Settings an admin may set per account (`accounts add … --setting`, the admin page).
EDITABLE_SETTINGS = ("base_url", "proxy_url", "owner_email", "team_id", "min_request_interval",
                     "workspace_id", "usd_per_credit",
                     "org", "enterprise", "excluded")
# Settings naming which GitHub organization / enterprise a Copilot account reads.
SCOPE_SETTINGS = ("org", "enterprise")
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

# Accounts the environment names as `name=key` lists: (provider, credential field, variable,
# Settings attribute with its (name, key) pairs). Adding such a variable is one row here;
# COPILOT_ACCOUNTS, which also names an organization, is read in `_env_entries`.
ENV_KEY_SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("anthropic", "admin_key", "ANTHROPIC_ADMIN_KEYS", "anthropic_admin_keys"),
    ("cursor", "api_key", "CURSOR_ADMIN_KEYS", "cursor_admin_keys"),
    ("openai", "admin_key", "OPENAI_ADMIN_KEYS", "openai_admin_keys"),
    ("openrouter", "management_key", "OPENROUTER_MANAGEMENT_KEYS", "openrouter_management_keys"),
)
# Each provider's base URL setting (the account's own `base_url` wins).
ENV_BASE_URLS = {"anthropic": "anthropic_base_url", "cursor": "cursor_base_url",
                 "cursor_session": "cursor_dashboard_base_url",
                 "openai": "openai_base_url", "codex": "codex_base_url",
                 "copilot": "copilot_base_url", "openrouter": "openrouter_base_url"}


class AccountError(ValueError):
    """A bad account request; the message names the account and the field."""


class CredentialsUnreadable(AccountError):
    pass


def _settings() -> Settings:
    return current_app.config["ABACUS"]


def _derived_fernet() -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"abacus credentials v1").derive(_settings().secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _fernet() -> MultiFernet:
    settings = _settings()
    keys = []
    for i, key in enumerate(settings.encryption_keys, start=1):
        try:
            keys.append(Fernet(key))
        except (ValueError, TypeError):
            raise AccountError(f"ABACUS_ENCRYPTION_KEY: key {i} is not a Fernet key "
                               "(32 url-safe base64-encoded bytes)") from None
    # The key derived from SECRET_KEY always decrypts too, so setting ABACUS_ENCRYPTION_KEY
    # later does not lock out credentials stored before.
    keys.append(_derived_fernet())
    return MultiFernet(keys)


def derived_key_warning() -> str | None:
    """Why rotating SECRET_KEY would lock out stored credentials, if it would: some are
    readable only with the key derived from SECRET_KEY (no ABACUS_ENCRYPTION_KEY decrypts)."""
    explicit = [Fernet(k) for k in _fernet_keys_or_none()]
    derived = _derived_fernet()
    n = 0
    for token in db.session.execute(select(Account.credentials_encrypted).where(
            Account.credentials_encrypted.is_not(None))).scalars():
        if explicit:
            try:
                MultiFernet(explicit).decrypt(token)
                continue
            except InvalidToken:
                pass
        try:
            derived.decrypt(token)
        except InvalidToken:
            continue  # unreadable either way: decrypting it reports that
        n += 1
    if not n:
        return None
    step = ("run `flask abacus accounts rotate-key`" if explicit else
            "set ABACUS_ENCRYPTION_KEY and run `flask abacus accounts rotate-key`")
    return (f"{n} account(s) have credentials encrypted with a key derived from SECRET_KEY: "
            f"changing SECRET_KEY would make them unreadable; {step}")


def _fernet_keys_or_none() -> tuple[str, ...]:
    keys = []
    for key in _settings().encryption_keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            continue  # _fernet() names the bad key when credentials are read
        keys.append(key)
    return tuple(keys)


def encrypt_credentials(credentials: Mapping[str, str]) -> bytes:
    return _fernet().encrypt(json.dumps(dict(credentials), sort_keys=True).encode())


def decrypt_secrets(token: bytes, owner: str) -> dict[str, str]:
    """Decrypt what `encrypt_credentials` stored for something else than an account (a
    budget's alert URLs); `owner` names it in the error."""
    try:
        return json.loads(_fernet().decrypt(token))
    except InvalidToken:
        raise CredentialsUnreadable(
            f"{owner}: stored secrets cannot be decrypted with the configured keys "
            "(was SECRET_KEY or ABACUS_ENCRYPTION_KEY changed?)") from None


def rotate_credentials() -> int:
    """Re-encrypt every stored credential with the first ABACUS_ENCRYPTION_KEY (after adding a
    new key in front); then older keys can be removed. Returns how many were re-encrypted."""
    fernet = _fernet()
    n = 0
    for account in db.session.execute(
            select(Account).where(Account.credentials_encrypted.is_not(None))).scalars():
        try:
            account.credentials_encrypted = fernet.rotate(account.credentials_encrypted)
        except InvalidToken:
            raise CredentialsUnreadable(
                f"account {account.name!r}: stored credentials cannot be decrypted with the "
                "configured keys; keep the old key in ABACUS_ENCRYPTION_KEY while rotating"
            ) from None
        n += 1
    return n


def _read_secrets(account: Account) -> dict[str, str]:
    """Everything encrypted for the account: provider credentials and the proxy password."""
    if not account.credentials_encrypted:
        return {}
    try:
        return json.loads(_fernet().decrypt(account.credentials_encrypted))
    except InvalidToken:
        raise CredentialsUnreadable(
            f"account {account.name!r}: stored credentials cannot be decrypted with the "
            "configured keys (was SECRET_KEY or ABACUS_ENCRYPTION_KEY changed?)") from None


def decrypt_credentials(account: Account) -> dict[str, str]:
    """The provider's credentials (without the proxy password)."""
    return {k: v for k, v in _read_secrets(account).items() if k != PROXY_SECRET}


def _store_secrets(account: Account, credentials: Mapping[str, str],
                   proxy_password: str | None) -> None:
    secrets = dict(credentials)
    if proxy_password:
        secrets[PROXY_SECRET] = proxy_password
    account.credentials_encrypted = encrypt_credentials(secrets) if secrets else None


def split_proxy_url(url: str) -> tuple[str, str | None]:
    """`http://u:pw@host:1` → (`http://u:****@host:1`, `pw`); a URL without one is unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=f"{user}:{PROXY_MASK}@{hostport}")), password


def _with_proxy_password(url: str, password: str | None) -> str:
    parts = urlsplit(url)
    if parts.password != PROXY_MASK:
        return url  # no stored password, or one not moved out of the setting yet
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}:{password}@{hostport}" if password else f"{user}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def move_proxy_passwords() -> int:
    """Move proxy passwords still written in `settings.proxy_url` (stored before they were
    encrypted) into the encrypted credentials. Runs at start-up with the bootstrap, because an
    Alembic migration cannot: it has no encryption key. Returns how many moved."""
    moved = 0
    for account in db.session.execute(select(Account)).scalars():
        url = (account.settings or {}).get("proxy_url")
        if not url:
            continue
        masked, password = split_proxy_url(str(url))
        if password is None or password == PROXY_MASK:
            continue
        try:
            credentials = decrypt_credentials(account)
        except CredentialsUnreadable:
            log.warning("account %r: its proxy password stays unencrypted until its "
                        "credentials can be read again", account.name)
            continue
        _store_secrets(account, credentials, password)
        account.settings = {**account.settings, "proxy_url": masked}
        moved += 1
    return moved


def base_url(account: Account) -> str:
    explicit = (account.settings or {}).get("base_url")
    if explicit:
        return str(explicit).rstrip("/")
    attribute = ENV_BASE_URLS.get(account.provider)
    if attribute:
        return getattr(_settings(), attribute)
    return get_provider(account.provider).default_base_url


def min_request_interval(account: Account) -> float:
    explicit = (account.settings or {}).get("min_request_interval")
    if explicit is not None:
        return float(explicit)
    if account.provider in ("cursor", "cursor_session"):
        return _settings().cursor_min_request_interval
    return get_provider(account.provider).min_request_interval


def account_config(account: Account) -> AccountConfig:
    """Everything a provider needs to talk for this account (credentials decrypted)."""
    settings = dict(account.settings or {})
    secrets = _read_secrets(account)
    password = secrets.pop(PROXY_SECRET, None)
    proxy_url = settings.get("proxy_url")
    if proxy_url:
        proxy_url = _with_proxy_password(str(proxy_url), password)
        settings["proxy_url"] = proxy_url
    return AccountConfig(name=account.name, credentials=secrets,
                         base_url=base_url(account), proxy_url=proxy_url,
                         settings=settings, min_request_interval=min_request_interval(account))


def find_account(name: str, provider: str | None = None) -> Account:
    query = select(Account).where(Account.name == name)
    account = db.session.execute(query).scalar()
    if account is None or (provider and account.provider != provider.replace("-", "_")):
        raise AccountError(f"no {provider + ' ' if provider else ''}account named {name!r}")
    return account


def list_accounts(provider: str | None = None) -> list[Account]:
    query = select(Account).order_by(Account.provider, Account.name)
    if provider:
        query = query.where(Account.provider == provider.replace("-", "_"))
    return list(db.session.execute(query).scalars())


def _check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in settings.items():
        if key not in EDITABLE_SETTINGS:
            raise AccountError(f"unknown setting {key!r} (known: {', '.join(EDITABLE_SETTINGS)})")
        if key in DESTINATION_SETTINGS and value:
            value = check_url(key, str(value).strip())
        if key in SCOPE_SETTINGS and value:
            value = str(value).strip()
            if not _SLUG.fullmatch(value):
                raise AccountError(f"{key}: {value!r} is not a GitHub {key} name")
        if key == "excluded":
            value = parse_excluded(value)
        out[key] = value
    return out


def _check_scope(provider_id: str, settings: Mapping[str, Any]) -> None:
    """A Copilot account reads exactly one organization or enterprise; others read none."""
    given = [k for k in SCOPE_SETTINGS if settings.get(k)]
    if provider_id == "copilot" and len(given) != 1:
        raise AccountError("a copilot account needs --org ORG or --enterprise SLUG (one of "
                           "them)")
    if provider_id != "copilot" and given:
        raise AccountError(f"{given[0]}: only copilot accounts read an organization or "
                           "enterprise")


_EXCLUDED_RE = re.compile(r"[A-Za-z0-9_.@+:-]{1,200}")


def parse_excluded(value: Any) -> list[str]:
    """The `excluded` setting from a list or text (commas, spaces or lines between entries):
    identities whose usage is stored but left out of totals (a key hash, a member id, an
    e-mail). Sorted and lower-cased, so saving the same list twice changes nothing."""
    items = str(value or "").replace(",", " ").split() if not isinstance(value, list) \
        else [str(v).strip() for v in value]
    for item in items:
        if item and not _EXCLUDED_RE.fullmatch(item):
            raise AccountError(f"excluded: {item[:40]!r} is not a key hash, member id or "
                               "e-mail (letters, digits and . _ @ + : - only)")
    return sorted({item.lower() for item in items if item})


_URL_SCHEMES = {"base_url": ("http", "https"),
                "proxy_url": ("http", "https", "socks5", "socks5h", "socks4")}


def check_url(key: str, value: str) -> str:
    """A URL that names a host. The message never repeats the value: a proxy URL may hold a
    password."""
    problem = None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        problem = "its host or port is malformed"
    else:
        if parts.scheme not in _URL_SCHEMES[key]:
            problem = f"it must start with {' or '.join(_URL_SCHEMES[key])}://"
        elif not parts.hostname:
            problem = "it names no host"
        elif any(ch.isspace() for ch in value):
            problem = "it contains spaces"
    if problem:
        raise AccountError(f"{key}: expected a URL like http://host:port ({problem})")
    return value


def _check_provider_settings(provider_id: str, name: str, settings: Mapping[str, Any]) -> None:
    problems = get_provider(provider_id).check_settings(settings)
    if problems:
        raise AccountError(f"account {name!r}: " + "; ".join(problems))


def add_account(provider_id: str, name: str, credentials: Mapping[str, str],
                settings: Mapping[str, Any] | None = None) -> Account:
    provider = get_provider(provider_id)
    problems = provider.check_credentials(credentials)
    if problems:
        raise AccountError(f"account {name!r}: " + "; ".join(problems))
    if db.session.execute(select(Account.id).where(Account.name == name)).first():
        raise AccountError(f"an account named {name!r} already exists")
    checked = _check_settings(settings or {})
    _check_provider_settings(provider.id, name, checked)
    _check_scope(provider.id, checked)
    proxy_password = None
    if checked.get("proxy_url"):
        checked["proxy_url"], proxy_password = split_proxy_url(checked["proxy_url"])
    account = Account(provider=provider.id, name=name, settings=checked, status="active")
    _store_secrets(account, credentials, proxy_password)
    db.session.add(account)
    db.session.flush()
    return account


def set_credentials(account: Account, credentials: Mapping[str, str]) -> None:
    """Replace credentials; an account parked for refused credentials becomes active again."""
    problems = get_provider(account.provider).check_credentials(credentials)
    if problems:
        raise AccountError(f"account {account.name!r}: " + "; ".join(problems))
    try:
        proxy_password = _read_secrets(account).get(PROXY_SECRET)
    except CredentialsUnreadable:
        proxy_password = None  # lost with the old key; the proxy URL must be entered again
    _store_secrets(account, credentials, proxy_password)
    _unpark(account)


def _unpark(account: Account) -> None:
    if account.status in ("auth_expired", "error", "rate_limited"):
        account.status = "active"
        account.status_detail = None
        account.next_attempt_at = None


def update_settings(account: Account, changes: Mapping[str, Any],
                    credentials: Mapping[str, str] | None = None) -> None:
    """Apply setting changes. A new base URL or proxy receives the stored credentials, so it
    needs them entered again (`credentials`): otherwise whoever may edit settings could send
    the write-only credentials to a host they control and read them there."""
    merged = dict(account.settings or {})
    old_proxy = merged.get("proxy_url")
    proxy_password: str | None = None
    proxy_changed = moved = False
    old_excluded = excluded_identities(merged)
    for key, value in _check_settings(changes).items():
        if value in (None, "", []):
            if key == "proxy_url" and old_proxy:
                proxy_changed = True  # no proxy: the password goes with it
            merged.pop(key, None)
            continue
        if key == "proxy_url":
            value, proxy_password = split_proxy_url(value)
            proxy_changed = moved = True
        elif key == "base_url" and str(value).rstrip("/") != str(
                merged.get(key) or "").rstrip("/"):
            moved = True
        merged[key] = value
    _check_provider_settings(account.provider, account.name, merged)
    provider = get_provider(account.provider)
    if moved and provider.credential_fields and not credentials:
        what = " and ".join(k for k in DESTINATION_SETTINGS if k in changes and changes[k])
        raise AccountError(f"{what}: changing where account {account.name!r} sends its "
                           "requests needs its credentials entered again (stored ones are "
                           "never sent to a new address)")
    if credentials:
        problems = provider.check_credentials(credentials)
        if problems:
            raise AccountError(f"account {account.name!r}: " + "; ".join(problems))
        if not proxy_changed:
            try:
                proxy_password = _read_secrets(account).get(PROXY_SECRET)
            except CredentialsUnreadable:
                proxy_password = None
        _store_secrets(account, credentials, proxy_password)
        _unpark(account)
    elif proxy_changed:
        _store_secrets(account, decrypt_credentials(account), proxy_password)
    account.settings = merged
    if excluded_identities(merged) != old_excluded:
        set_excluded(account, excluded_identities(merged))


def set_excluded(account: Account, identities: list[str]) -> int:
    """Replace the account's excluded identities and rebuild its rollups, so every total
    follows at once (the stored usage itself is untouched). Returns the account's days."""
    settings = {k: v for k, v in (account.settings or {}).items() if k != "excluded"}
    excluded = parse_excluded(identities)
    if excluded:
        settings["excluded"] = excluded
    account.settings = settings
    db.session.flush()
    return rebuild_rollups(account.id)


def set_enabled(account: Account, enabled: bool) -> None:
    if enabled:
        if account.status == "disabled":
            account.status, account.status_detail = "active", None
    else:
        account.status, account.status_detail = "disabled", "disabled by an admin"


@dataclass(frozen=True)
class EnvAccount:
    """One account an environment variable names."""

    variable: str
    provider: str
    name: str
    credentials: dict[str, str]
    settings: dict[str, str]  # what the variable decides (Copilot: org or enterprise)


def _env_entries() -> list[EnvAccount]:
    settings = _settings()
    out = [EnvAccount(variable, pid, name, {field_: key}, {})
           for pid, field_, variable, attribute in ENV_KEY_SOURCES
           for name, key in getattr(settings, attribute)]
    out += [EnvAccount("COPILOT_ACCOUNTS", "copilot", name, {"token": token}, {kind: slug})
            for name, kind, slug, token in settings.copilot_accounts]
    return out


def ensure_env_accounts() -> list[Account]:
    """Upsert the accounts named by the *_ADMIN_KEYS variables and COPILOT_ACCOUNTS
    (`_env_entries`; idempotent).

    A key that changed under the same name replaces the stored one (and un-parks the
    account); accounts whose key left the variable are kept, with their history.
    """
    touched = []
    # The web, worker and scheduler processes all do this at start: one at a time, so two of
    # them never insert the same account.
    db.session.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": BOOTSTRAP_LOCK})
    for entry in _env_entries():
        account = db.session.execute(select(Account).where(Account.name == entry.name)).scalar()
        if account is None:
            account = add_account(entry.provider, entry.name, entry.credentials,
                                  entry.settings)
            account.settings = {"source": "env", **entry.settings}
        elif account.provider != entry.provider:
            raise AccountError(f"{entry.variable}: the name {entry.name!r} belongs to a "
                               f"{account.provider} account")
        else:
            try:
                current = decrypt_credentials(account)
            except CredentialsUnreadable:
                current = {}
            scope = {k: (account.settings or {}).get(k) for k in SCOPE_SETTINGS}
            wanted = {k: entry.settings.get(k) for k in SCOPE_SETTINGS}
            if any(current.get(k) != v for k, v in entry.credentials.items()) or (
                    scope != wanted and entry.settings):
                _drop_destination(account)
                account.settings = {**{k: v for k, v in (account.settings or {}).items()
                                       if k not in SCOPE_SETTINGS}, **entry.settings}
                set_credentials(account, entry.credentials)
        touched.append(account)
    moved = move_proxy_passwords()
    if moved:
        log.info("moved %d proxy password(s) into the encrypted credentials", moved)
    db.session.commit()
    return touched


def bootstrap_at_start() -> None:
    """What the worker and scheduler do when they start: the environment's accounts, proxy
    passwords moved into the encrypted credentials, and a warning when rotating SECRET_KEY
    would lock out stored credentials."""
    ensure_env_accounts()
    warning = derived_key_warning()
    if warning:
        log.warning("%s", warning)


def _drop_destination(account: Account) -> None:
    """The key from the environment goes to the configured API only: a base URL or proxy set
    on the account (perhaps together with other credentials) is dropped before it is stored."""
    settings = dict(account.settings or {})
    dropped = [k for k in DESTINATION_SETTINGS if settings.pop(k, None)]
    if dropped:
        account.settings = settings
        if "proxy_url" in dropped:
            account.credentials_encrypted = None  # its proxy password goes too
        log.warning("account %r: its key from the environment changed; its %s was reset to "
                    "the default", account.name, " and ".join(dropped))


def env_accounts_problem() -> str | None:
    """What would keep the *_ADMIN_KEYS / COPILOT_ACCOUNTS accounts (`_env_entries`) from
    loading, read-only (the Status page shows it instead of failing). The upsert itself runs
    at worker/scheduler start and at the sync entry points: a page view never writes."""
    for entry in _env_entries():
        provider = db.session.execute(
            select(Account.provider).where(Account.name == entry.name)).scalar()
        if provider is not None and provider != entry.provider:
            return (f"{entry.variable}: the name {entry.name!r} "
                    f"belongs to a {provider} account")
        problems = get_provider(entry.provider).check_credentials(entry.credentials)
        if problems:
            return f"{entry.variable}: account {entry.name!r}: " + "; ".join(problems)
    return None
