"""Providers: pure adapters, one module per provider (credentials and a time window in,
normalized records and a next cursor out), the shared HTTP session (`http`), the contract
(`base`), test helpers for plugin authors (`testing`), and this registry of the built-in
adapters plus third-party ones from entry points.

May import: nothing of abacus outside providers, and no Flask, SQLAlchemy or RQ: a provider
can be tested against a fake HTTP server alone, and never touches the database.

A package adds a provider by declaring, in its pyproject.toml,

    [project.entry-points."abacus.providers"]
    my_tool = "my_package.module:MyProvider"

where `MyProvider` subclasses `abacus.providers.base.Provider` (see docs/adding-a-provider.md).
Built-ins win over a plugin that claims the same id.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import entry_points

from .base import Provider

ENTRY_POINT_GROUP = "abacus.providers"

# A declarative table (provider id → class), one row per built-in adapter.
BUILTINS: dict[str, str] = {
    "anthropic": "abacus.providers.anthropic:AnthropicProvider",
    "cursor": "abacus.providers.cursor:CursorProvider",
    "cursor_session": "abacus.providers.cursor_session:CursorSessionProvider",
    "openai": "abacus.providers.openai:OpenAIProvider",
    "codex": "abacus.providers.codex:CodexProvider",
    "copilot": "abacus.providers.copilot:CopilotProvider",
    "openrouter": "abacus.providers.openrouter:OpenRouterProvider",
}

log = logging.getLogger(__name__)


class UnknownProvider(LookupError):
    pass


def _load(target: str) -> type[Provider]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@cache
def providers() -> dict[str, Provider]:
    """Every available provider by id (built-ins, then plugins)."""
    found: dict[str, Provider] = {}
    for pid, target in BUILTINS.items():
        found[pid] = _load(target)()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:  # a broken plugin must not take the built-ins down
            log.exception("provider plugin %s could not be loaded", ep.value)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            log.error("provider plugin %s is not a Provider subclass", ep.value)
            continue
        if cls.id in found:
            log.warning("provider plugin %s ignored: id %r is taken", ep.value, cls.id)
            continue
        found[cls.id] = cls()
    return found


def get_provider(provider_id: str) -> Provider:
    """The provider with this id; `cursor-session` and `cursor_session` are the same."""
    pid = provider_id.replace("-", "_")
    try:
        return providers()[pid]
    except KeyError:
        known = ", ".join(sorted(providers()))
        raise UnknownProvider(f"unknown provider {provider_id!r} (known: {known})") from None


def identity_source(provider_id: str) -> str:
    """The identity_mappings source a provider's actors are mapped under (its id unless it
    shares another's, like Copilot's GitHub logins)."""
    try:
        provider = get_provider(provider_id)
    except UnknownProvider:  # an uninstalled plugin: its data keeps its own mappings
        return provider_id
    return provider.identity_source or provider.id


def providers_of_source(source: str) -> list[str]:
    """Every provider id whose actors are mapped under `source` (`source` itself included)."""
    return sorted({source, *(pid for pid, p in providers().items()
                             if (p.identity_source or pid) == source)})
