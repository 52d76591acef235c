"""LiteLLM's published price catalog (`model_prices_and_context_window.json`), fetched over
the shared HTTP session (timeouts, retries on 5xx/429 honouring Retry-After).

Only fetches and checks the shape: turning entries into Abacus prices is
`abacus.usage.pricing.price_from_litellm`, deciding what changed is `abacus.usage.price_updates`.
Errors name the host and path of the URL, never its query string (it may carry a token).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .base import ProviderError
from .http import json_body, make_session, raise_for_status, send

DEFAULT_URL = ("https://raw.githubusercontent.com/BerriAI/litellm/main/"
               "model_prices_and_context_window.json")


def describe_url(url: str) -> str:
    """`host/path` of a URL, for messages (no credentials, no query string)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def fetch_catalog(url: str = DEFAULT_URL) -> dict[str, Mapping[str, Any]]:
    """The catalog at `url`: model key -> entry (numbers as exact Decimals; the `sample_spec`
    documentation entry is dropped). Raises ProviderError with a clear message when the URL is
    not http(s), cannot be reached, answers an error, or is not a LiteLLM price table."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderError(f"price table URL {url.split('?', 1)[0]!r}: "
                            "not an http(s) URL")
    what = f"price table {describe_url(url)}"
    response = send(make_session(), "GET", url, what)
    raise_for_status(response, what, auth_statuses=())
    body = json_body(response, what)
    if not isinstance(body, dict):
        raise ProviderError(f"{what}: expected a JSON object of models, got "
                            f"{type(body).__name__}")
    catalog = {k: v for k, v in body.items()
               if k != "sample_spec" and isinstance(v, dict) and "input_cost_per_token" in v}
    if not catalog:
        raise ProviderError(f"{what}: no model has input_cost_per_token; "
                            "not a LiteLLM price table")
    return catalog
