"""Accounts: one provider credential each. Credentials are Fernet-encrypted at rest and only
decrypted into the `AccountConfig` handed to a provider; they never reach pages or logs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select, text

from . import locks
from .config import Settings
from .extensions import db
from .models import Account
from .providers import get_provider
from .providers.base import AccountConfig

BOOTSTRAP_LOCK = locks.ENV_ACCOUNTS  # pg_advisory_xact_lock namespace

# Settings an admin may set per account (`accounts add … --setting`, the admin page).
EDITABLE_SETTINGS = ("base_url", "proxy_url", "owner_email", "team_id", "min_request_interval")


class AccountError(ValueError):
    """A bad account request; the message names the account and the field."""


class CredentialsUnreadable(AccountError):
    pass


def _settings() -> Settings:
    return current_app.config["ABACUS"]


def _fernet() -> MultiFernet:
    settings = _settings()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"abacus credentials v1").derive(settings.secret_key.encode())
    keys = []
    for i, key in enumerate(settings.encryption_keys, start=1):
        try:
            keys.append(Fernet(key))
        except (ValueError, TypeError):
            raise AccountError(f"ABACUS_ENCRYPTION_KEY: key {i} is not a Fernet key "
                               "(32 url-safe base64-encoded bytes)") from None
    # The key derived from SECRET_KEY always decrypts too, so setting ABACUS_ENCRYPTION_KEY
    # later does not lock out credentials stored before.
    keys.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(keys)


def encrypt_credentials(credentials: Mapping[str, str]) -> bytes:
    return _fernet().encrypt(json.dumps(dict(credentials), sort_keys=True).encode())


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


def decrypt_credentials(account: Account) -> dict[str, str]:
    if not account.credentials_encrypted:
        return {}
    try:
        return json.loads(_fernet().decrypt(account.credentials_encrypted))
    except InvalidToken:
        raise CredentialsUnreadable(
            f"account {account.name!r}: stored credentials cannot be decrypted with the "
            "configured keys (was SECRET_KEY or ABACUS_ENCRYPTION_KEY changed?)") from None


def base_url(account: Account) -> str:
    explicit = (account.settings or {}).get("base_url")
    if explicit:
        return str(explicit).rstrip("/")
    settings = _settings()
    return {"anthropic": settings.anthropic_base_url,
            "cursor": settings.cursor_base_url,
            "cursor_session": settings.cursor_dashboard_base_url}.get(
        account.provider, get_provider(account.provider).default_base_url)


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
    return AccountConfig(name=account.name, credentials=decrypt_credentials(account),
                         base_url=base_url(account), proxy_url=settings.get("proxy_url"),
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
        if key in ("base_url", "proxy_url") and value and "://" not in str(value):
            raise AccountError(f"{key}: expected a URL like http://host:port, got {value!r}")
        out[key] = value
    return out


def add_account(provider_id: str, name: str, credentials: Mapping[str, str],
                settings: Mapping[str, Any] | None = None) -> Account:
    provider = get_provider(provider_id)
    problems = provider.check_credentials(credentials)
    if problems:
        raise AccountError(f"account {name!r}: " + "; ".join(problems))
    if db.session.execute(select(Account.id).where(Account.name == name)).first():
        raise AccountError(f"an account named {name!r} already exists")
    account = Account(provider=provider.id, name=name, settings=_check_settings(settings or {}),
                      credentials_encrypted=encrypt_credentials(credentials), status="active")
    db.session.add(account)
    db.session.flush()
    return account


def set_credentials(account: Account, credentials: Mapping[str, str]) -> None:
    """Replace credentials; an account parked for refused credentials becomes active again."""
    problems = get_provider(account.provider).check_credentials(credentials)
    if problems:
        raise AccountError(f"account {account.name!r}: " + "; ".join(problems))
    account.credentials_encrypted = encrypt_credentials(credentials)
    if account.status in ("auth_expired", "error", "rate_limited"):
        account.status = "active"
        account.status_detail = None
        account.next_attempt_at = None


def update_settings(account: Account, changes: Mapping[str, Any]) -> None:
    merged = dict(account.settings or {})
    for key, value in _check_settings(changes).items():
        if value in (None, ""):
            merged.pop(key, None)
        else:
            merged[key] = value
    account.settings = merged


def set_enabled(account: Account, enabled: bool) -> None:
    if enabled:
        if account.status == "disabled":
            account.status, account.status_detail = "active", None
    else:
        account.status, account.status_detail = "disabled", "disabled by an admin"


def ensure_env_accounts() -> list[Account]:
    """Upsert the accounts named by ANTHROPIC_ADMIN_KEYS / CURSOR_ADMIN_KEYS (idempotent).

    A key that changed under the same name replaces the stored one (and un-parks the
    account); accounts whose key left the variable are kept, with their history.
    """
    settings = _settings()
    touched = []
    # The web, worker and scheduler processes all do this at start: one at a time, so two of
    # them never insert the same account.
    db.session.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": BOOTSTRAP_LOCK})
    for provider_id, field, keys in (("anthropic", "admin_key", settings.anthropic_admin_keys),
                                     ("cursor", "api_key", settings.cursor_admin_keys)):
        for name, key in keys:
            account = db.session.execute(select(Account).where(Account.name == name)).scalar()
            if account is None:
                account = add_account(provider_id, name, {field: key}, {})
                account.settings = {"source": "env"}
            elif account.provider != provider_id:
                raise AccountError(f"{provider_id.upper()}_ADMIN_KEYS: the name {name!r} "
                                   f"belongs to a {account.provider} account")
            else:
                try:
                    current = decrypt_credentials(account).get(field)
                except CredentialsUnreadable:
                    current = None
                if current != key:
                    set_credentials(account, {field: key})
            touched.append(account)
    db.session.commit()
    return touched


def env_accounts_problem() -> str | None:
    """What would keep ANTHROPIC_ADMIN_KEYS / CURSOR_ADMIN_KEYS from loading, read-only (the
    Status page shows it instead of failing). The upsert itself runs at worker/scheduler start
    and at the sync entry points: a page view never writes."""
    settings = _settings()
    for provider_id, field, keys in (("anthropic", "admin_key", settings.anthropic_admin_keys),
                                     ("cursor", "api_key", settings.cursor_admin_keys)):
        for name, key in keys:
            provider = db.session.execute(
                select(Account.provider).where(Account.name == name)).scalar()
            if provider is not None and provider != provider_id:
                return (f"{provider_id.upper()}_ADMIN_KEYS: the name {name!r} "
                        f"belongs to a {provider} account")
            problems = get_provider(provider_id).check_credentials({field: key})
            if problems:
                return f"{provider_id.upper()}_ADMIN_KEYS: account {name!r}: " + \
                    "; ".join(problems)
    return None
