"""Team sources read from a provider with an account's credentials (Cursor billing groups):
the fetch only, handed on as plain data to `abacus.teams`, which plans and stores teams."""

from __future__ import annotations

from ..providers import get_provider
from ..providers.base import ProviderError
from ..providers.cursor import BillingGroup
from .accounts import account_config, list_accounts


class GroupsUnavailable(RuntimeError):
    """An account's billing groups could not be read; the message names the account."""


def cursor_billing_groups() -> list[tuple[int, list[BillingGroup]]]:
    """(account id, its billing groups) for every enabled Cursor team account."""
    provider = get_provider("cursor")
    out = []
    for account in list_accounts("cursor"):
        if account.status == "disabled":
            continue
        try:
            out.append((account.id, provider.billing_groups(account_config(account))))
        except ProviderError as exc:  # its message carries status and endpoint, no secret
            raise GroupsUnavailable(f"Cursor account {account.name}: {exc}") from None
    return out
