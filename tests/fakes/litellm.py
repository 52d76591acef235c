"""A fake host for LiteLLM's published price table (`model_prices_and_context_window.json`,
the format in /work/shared/providers/pricing.md §1): a `sample_spec` entry documenting the
fields, then model keys with USD-per-token rates. Tests edit `catalog` between requests
(a revised price upstream) or make the next answers fail with `fail_next`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .server import FakeServer, Reply, Request

PATH = "/BerriAI/litellm/main/model_prices_and_context_window.json"

SAMPLE_SPEC = {
    "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
    "mode": "one of: chat, embedding, completion, image_generation, …",
    "input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
    "cache_read_input_token_cost": 0.0, "cache_creation_input_token_cost": 0.0,
    "max_input_tokens": "max input tokens, if the provider specifies it",
}

# Entries shaped like the real catalog (values per token, floats as LiteLLM writes them).
# Price-table entries as data, one per model as LiteLLM publishes them: alike on purpose.
SONNET_45 = {
    "litellm_provider": "anthropic", "mode": "chat", "max_input_tokens": 200000,
    "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
    "cache_creation_input_token_cost": 3.75e-06,
    "cache_creation_input_token_cost_above_1hr": 6e-06,
    "cache_read_input_token_cost": 3e-07,
    "input_cost_per_token_above_200k_tokens": 6e-06,
    "output_cost_per_token_above_200k_tokens": 2.25e-05,
    "cache_creation_input_token_cost_above_200k_tokens": 7.5e-06,
    "cache_read_input_token_cost_above_200k_tokens": 6e-07,
}
HAIKU_45 = {
    "litellm_provider": "anthropic", "mode": "chat",
    "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06,
    "cache_creation_input_token_cost": 1.25e-06,
    "cache_creation_input_token_cost_above_1hr": 2e-06, "cache_read_input_token_cost": 1e-07,
}
GPT_5 = {
    "litellm_provider": "openai", "mode": "chat", "max_input_tokens": 272000,
    "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
    "cache_read_input_token_cost": 1.25e-07,
    "input_cost_per_token_priority": 2.5e-06, "output_cost_per_token_priority": 2e-05,
    "cache_read_input_token_cost_priority": 2.5e-07,
    "input_cost_per_token_batches": 6.25e-07, "output_cost_per_token_batches": 5e-06,
}
GPT_54 = {
    "litellm_provider": "openai", "mode": "chat", "max_input_tokens": 1050000,
    "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1.5e-05,
    "cache_read_input_token_cost": 2.5e-07,
    "input_cost_per_token_above_272k_tokens": 5e-06,
    "output_cost_per_token_above_272k_tokens": 2.25e-05,
    "cache_read_input_token_cost_above_272k_tokens": 5e-07,
    "input_cost_per_token_priority": 5e-06, "output_cost_per_token_priority": 3e-05,
}


def default_catalog() -> dict[str, Any]:
    """A small catalog: current prices for models Abacus ships, plus entries it must ignore
    (an embedding model, a Bedrock copy, a fine-tune)."""
    return {
        "sample_spec": SAMPLE_SPEC,
        "claude-sonnet-4-5": copy.deepcopy(SONNET_45),
        "claude-sonnet-4-5-20250929": copy.deepcopy(SONNET_45),
        "claude-haiku-4-5-20251001": copy.deepcopy(HAIKU_45),
        "gpt-5": copy.deepcopy(GPT_5),
        "gpt-5.4": copy.deepcopy(GPT_54),
        "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding",
                                   "input_cost_per_token": 2e-08, "output_cost_per_token": 0.0},
        "anthropic.claude-sonnet-4-5-20250929-v1:0": {
            **copy.deepcopy(SONNET_45), "litellm_provider": "bedrock",
            "input_cost_per_token": 3.3e-06},
        "ft:gpt-4o-mini-2024-07-18": {"litellm_provider": "openai", "mode": "chat",
                                      "input_cost_per_token": 3e-07,
                                      "output_cost_per_token": 1.2e-06},
    }


class FakeLiteLLM(FakeServer):
    """Serves `catalog` at PATH; `price_url` is the full URL for `--url`."""

    def __init__(self, catalog: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.catalog = default_catalog() if catalog is None else catalog
        self.route("GET", PATH, self._table)

    def _table(self, request: Request) -> Reply:
        # raw.githubusercontent.com answers text/plain for JSON files.
        return Reply(200, json.dumps(self.catalog), content_type="text/plain; charset=utf-8")

    @property
    def price_url(self) -> str:
        return self.url + PATH
