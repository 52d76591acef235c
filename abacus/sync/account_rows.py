"""Admin → Accounts' rows: every provider account with its provider's name, whether it
needs credentials, and its settings as they may be shown (proxy passwords masked).

Reads only; `accounts` writes. Lives beside the sync engine because a row needs the provider
registry (display names, credential fields), which the read side (analytics) never imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select

from ..extensions import db
from ..models import Account
from ..providers import UnknownProvider, get_provider

PROBLEM_STATES = ("auth_expired", "rate_limited", "error")


@dataclass(frozen=True)
class AccountRow:
    id: int
    provider: str
    provider_label: str
    known_provider: bool  # False: a plugin that is not installed, or the demo account
    name: str
    status: str
    status_detail: str | None
    last_success_at: datetime | None
    last_error: str | None
    next_attempt_at: datetime | None
    credentials_set: bool
    needs_credentials: bool  # the provider asks for credentials
    settings: dict[str, str]  # shown values (proxy passwords masked)
    origin: str | None  # "env" (ANTHROPIC_/CURSOR_ADMIN_KEYS), "demo", or None (admin-added)

    @property
    def needs_attention(self) -> bool:
        if self.status == "disabled":
            return False
        return self.status in PROBLEM_STATES or (self.needs_credentials
                                                 and not self.credentials_set)


def mask_url(url: str) -> str:
    """A URL safe to show: a password in it (proxy credentials) becomes ••••."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:••••@{host}"))


def _shown_settings(settings: dict) -> dict[str, str]:
    shown = {}
    for key, value in sorted((settings or {}).items()):
        if key == "source" or value in (None, ""):
            continue
        if isinstance(value, list):
            shown[key] = ", ".join(map(str, value))
        else:
            shown[key] = mask_url(str(value)) if key.endswith("_url") else str(value)
    return shown


def _account_row(a: Account) -> AccountRow:
    try:
        provider = get_provider(a.provider)
        label, known, fields = provider.display_name, True, bool(provider.credential_fields)
    except UnknownProvider:
        label, known, fields = a.provider, False, False
    return AccountRow(
        id=a.id, provider=a.provider, provider_label=label, known_provider=known, name=a.name,
        status=a.status, status_detail=a.status_detail, last_success_at=a.last_success_at,
        last_error=a.last_error, next_attempt_at=a.next_attempt_at,
        credentials_set=a.credentials_encrypted is not None, needs_credentials=fields,
        settings=_shown_settings(a.settings), origin=(a.settings or {}).get("source"))


def account_rows() -> list[AccountRow]:
    """Every account, those needing attention first, then by provider and name."""
    rows = [_account_row(a) for a in db.session.execute(
        select(Account).order_by(Account.provider, Account.name)).scalars()]
    return sorted(rows, key=lambda r: (not r.needs_attention, r.status == "disabled"))


def account_row(account_id: int) -> AccountRow | None:
    account = db.session.get(Account, account_id)
    return _account_row(account) if account else None
