"""Model-name normalization and cost estimation.

Pure module (no Flask, no database): `canonical_model` runs once per ingested row and
`PriceBook.estimate` once per row that has no provider-reported cost. Prices are USD per
million tokens as `Decimal`; they ship in `abacus/usage/data/pricing.json`, which
`scripts/build_pricing.py` generates from the LiteLLM catalog (never edit it by hand).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

SHIPPED_PRICES_PATH = Path(__file__).resolve().parent / "data" / "pricing.json"

# Families recognised without a `claude` prefix ("4-sonnet", "sonnet-4.5"); with the prefix any
# word is a family, so a new Anthropic family needs no code change. `fable` and `mythos` are in
# the catalog.
ANTHROPIC_FAMILIES = frozenset({"sonnet", "opus", "haiku", "fable", "mythos"})

# Cursor's API says `default` where its CSV says `auto`: one model. A literal `unknown` stays
# `unknown` (not `auto`) so that canonical_model("") == "unknown" is a fixed point and a missing
# model is never priced at Cursor's Auto rates.
_ALIASES = {"default": "auto", "auto": "auto"}

# Effort/mode tokens that do not change the per-token price (Cursor, Claude Code, Bedrock).
_MODIFIERS = frozenset({"thinking", "high", "medium", "low", "xhigh", "fast", "max", "latest"})
# Dates (20250929), Bedrock versions (v1 of "v1:0", v2) and context tags (200k, 1m).
_MODIFIER_RE = re.compile(r"[0-9]{8}|v[0-9]{1,3}|[0-9]{1,4}[km]")
_VERSION_RE = re.compile(r"[0-9]{1,2}")
_FAMILY_RE = re.compile(r"[a-z]+")
_TOKEN_SPLIT_RE = re.compile(r"[-._\s]+")
_MONTH_DAY = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
# (characters matched, characters dropped, pattern) for each date shape at the end of an id.
_DATE_SUFFIXES = (
    (9, 9, re.compile(r"-[0-9]{8}")),  # -20240806
    (11, 11, re.compile(r"-[0-9]{4}-[0-9]{2}-[0-9]{2}")),  # -2024-08-06
    # OpenAI's older month-day pins: gpt-3.5-turbo-0125, gpt-4-0613, grok-4-0709.
    (5, 5, re.compile("-" + _MONTH_DAY)),
    # Gemini previews: gemini-2.5-pro-preview-05-06. A letter must come before it, so a
    # version such as "x-1-2" is never read as a date; "-09-2025" (month-year) is no month-day.
    (7, 6, re.compile(r"[a-z]-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])")),
)
# Effort and speed tokens tools append to non-Anthropic ids (Cursor's `gpt-5-high`,
# `gpt-5.1-codex-high-fast`; `-preview` for a model later released under its own name): the
# per-token price is the base model's. The raw name keeps the suffix, so a fast/priority
# multiplier can still read it. `latest` stays (`codex-mini-latest`, `gpt-5-chat-latest` are
# models), and so does `max` after `codex` (`gpt-5.1-codex-max` is a model).
_SUFFIX_MODIFIERS = frozenset({"minimal", "low", "medium", "high", "xhigh", "fast", "thinking",
                               "max", "preview"})
_DISPLAY_RE = re.compile(r"([a-z]+)-([0-9]{1,2}(?:\.[0-9]{1,2})?)")

# Routing prefixes that name a provider, not a model ("openai/gpt-4o", Gemini's "models/...").
_PROVIDER_PREFIXES = frozenset({
    "openai", "azure", "azure_ai", "anthropic", "bedrock", "gemini", "google", "models",
    "vertex_ai", "openrouter", "xai",
})

# Dated ids whose price differs from the undated alias, so the date must stay (LiteLLM catalog:
# gpt-4o-2024-05-13 is $5/$15, gpt-4o is $2.50/$10). scripts/build_pricing.py warns when a
# new dated id disagrees with its alias: add it here.
KEEP_DATED = frozenset({"gpt-4o-2024-05-13", "gpt-3.5-turbo-1106"})

# Price classes (`UsageRecord.kind`) that scale every per-token rate of an estimate: OpenAI's
# Batch API bills half the list prices (openai.com/api/pricing, "Batch API: save 50%").
PRICE_FACTORS: dict[str, Decimal] = {"batch": Decimal("0.5")}

_PER_MILLION = Decimal(1_000_000)
_MICRO_USD = Decimal("0.000001")


def _strip_bracket_suffix(s: str) -> str:
    """Drop trailing " (T)", " (Thinking)", "[1m]" ... (all of them, for idempotence)."""
    while s.endswith((")", "]")):
        cut = s.rfind("(" if s[-1] == ")" else "[")
        if cut <= 0:  # a fully parenthesised name is kept rather than emptied
            break
        s = s[:cut].rstrip()
    return s


def _anthropic(s: str) -> str | None:
    """`<family>-<maj>[.<min>]` for any Anthropic-shaped id, else None."""
    start = s.find("claude")
    any_family = start >= 0
    if any_family:  # drop "anthropic.", "us.anthropic.", "vertex_ai/" ... before "claude"
        s = s[start:]
    # Vertex pins versions with "@20250929"; Bedrock ends in ":0" ("-v1:0").
    s = s.split("@", 1)[0].split(":", 1)[0]
    tokens = _TOKEN_SPLIT_RE.split(s)
    if any_family:
        if tokens[0] != "claude":
            return None
        tokens = tokens[1:]

    def is_family(tok: str) -> bool:
        if any_family:
            return tok not in _MODIFIERS and _FAMILY_RE.fullmatch(tok) is not None
        return tok in ANTHROPIC_FAMILIES

    version: list[str] = []
    i = 0
    while i < len(tokens) and len(version) < 2 and _VERSION_RE.fullmatch(tokens[i]):
        version.append(tokens[i])
        i += 1
    if version:  # version first: "claude-3-5-sonnet", "4.5-opus"
        if i == len(tokens) or not is_family(tokens[i]):
            return None
        family = tokens[i]
        i += 1
    else:  # family first: "claude-sonnet-4-5", "sonnet-4.5"
        if not tokens or not is_family(tokens[0]):
            return None
        family = tokens[0]
        i = 1
        while i < len(tokens) and len(version) < 2 and _VERSION_RE.fullmatch(tokens[i]):
            version.append(tokens[i])
            i += 1
        if not version:
            return None
    for tok in tokens[i:]:
        if tok not in _MODIFIERS and not _MODIFIER_RE.fullmatch(tok):
            return None  # an unknown token may be a different model: do not merge it
    # "claude-sonnet-4-0" is Anthropic's alias of Sonnet 4, not a model "4.0".
    if len(version) == 1 or version[1] == "0":
        return f"{family}-{version[0]}"
    return f"{family}-{version[0]}.{version[1]}"


def _canonical_once(s: str) -> str:
    s = _strip_bracket_suffix(s.strip().lower())
    if not s:
        return "unknown"
    if s in _ALIASES:
        return _ALIASES[s]
    while "/" in s:
        head, rest = s.split("/", 1)
        if head not in _PROVIDER_PREFIXES or not rest:
            break
        s = rest
    named = _anthropic(s)
    if named is not None:
        return named
    # An Anthropic id we could not parse keeps its words ("claude-mythos-preview" is a model).
    return _strip_suffixes(s, modifiers="claude" not in s)


def _strip_suffixes(s: str, *, modifiers: bool = True) -> str:
    """Drop trailing dates ("-20240806", "-2024-08-06", "-0125", "-05-06") and effort/speed
    tokens ("-high", "-fast", "-preview"), in any order, until none is left. Matching only
    the tail keeps this linear (a `$`-anchored search would rescan the whole string)."""
    stripped = True
    while stripped and s not in KEEP_DATED:
        stripped = False
        for width, drop, pattern in _DATE_SUFFIXES:
            if len(s) > width and pattern.fullmatch(s, len(s) - width):
                s = s[:-drop]
                stripped = True
                break
        else:
            if not modifiers:
                break
            head, dash, last = s.rpartition("-")
            if (dash and head and last in _SUFFIX_MODIFIERS
                    and not (last == "max" and head.endswith("codex"))):
                s = head
                stripped = True
    return s


@lru_cache(maxsize=4096)
def canonical_model(raw: str) -> str:
    """Canonical, lowercase model name: `sonnet-4.5`, `opus-4.1`, `gpt-4o`, `auto`, ...

    Thinking/effort variants fold into their base model (same price); callers keep the raw
    name separately. A bare version such as "4.5" is returned as is: guessing a family would
    misprice it. Non-Anthropic ids only lose provider prefixes, trailing dates and trailing
    effort/speed/preview tokens (`gpt-5.3-codex-xhigh-fast` -> `gpt-5.3-codex`).
    """
    cur = raw or ""
    # One pass normally reaches the fixed point; repeating guarantees idempotence for odd
    # inputs (e.g. a date strip exposing whitespace). Every step shortens the string or lands
    # on a canonical name, so this terminates; the bound is only a safety net.
    for _ in range(16):
        nxt = _canonical_once(cur)
        if nxt == cur:
            break
        cur = nxt
    return cur


def display_model(canonical: str) -> str:
    """Human label: `sonnet-4.5` -> "Sonnet 4.5", `auto` -> "Auto", others unchanged."""
    if canonical == "auto":
        return "Auto"
    m = _DISPLAY_RE.fullmatch(canonical)
    if m and m.group(1) in ANTHROPIC_FAMILIES:
        return f"{m.group(1).capitalize()} {m.group(2)}"
    return canonical


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens. `cache_write` is Anthropic's 5-minute write rate."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal
    source: str = "shipped"  # "shipped" | "override"


def _read_prices(path: Path) -> dict[str, Price]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    prices: dict[str, Price] = {}
    for model, entry in doc.items():
        if model.startswith("_"):  # _meta
            continue
        try:
            prices[model] = Price(
                input=Decimal(entry["input"]),
                output=Decimal(entry["output"]),
                cache_write=Decimal(entry["cache_write"]),
                cache_read=Decimal(entry["cache_read"]),
            )
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ValueError(f"{path}: bad price entry for {model!r}: {exc}") from exc
    return prices


@lru_cache(maxsize=1)
def _default_prices() -> dict[str, Price]:
    return _read_prices(SHIPPED_PRICES_PATH)


def load_shipped_prices(path: Path | None = None) -> dict[str, Price]:
    """Prices keyed by canonical model from pricing.json (the shipped file is read once)."""
    if path is None:
        return dict(_default_prices())  # a copy: callers must not mutate the cached table
    return _read_prices(path)


class PriceBook:
    """Shipped prices with admin overrides on top; estimates the cost of token counts."""

    def __init__(self, shipped: Mapping[str, Price],
                 overrides: Mapping[str, Price] | None = None) -> None:
        self._prices: dict[str, Price] = {**shipped, **(overrides or {})}
        # Per-token rates, computed once per model: estimate() then only multiplies and adds.
        self._per_token: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {}

    @classmethod
    def shipped(cls) -> PriceBook:
        return cls(_default_prices())

    def lookup(self, model: str) -> Price | None:
        """Price for a canonical model name; an override wins over the shipped price."""
        return self._prices.get(model)

    def estimate(self, model: str, input_tokens: int, output_tokens: int,
                 cache_write_tokens: int, cache_read_tokens: int) -> Decimal | None:
        """Cost in USD quantized to 6 places, or None when the model has no price (callers
        mark the row unpriced; it must never become $0)."""
        rates = self._per_token.get(model)
        if rates is None:
            price = self._prices.get(model)
            if price is None:
                return None  # not cached: unknown names are unbounded, priced ones are few
            # Dividing by 10**6 is exact in Decimal, so this equals (sum of n*P) / 1e6.
            rates = (price.input / _PER_MILLION, price.output / _PER_MILLION,
                     price.cache_write / _PER_MILLION, price.cache_read / _PER_MILLION)
            self._per_token[model] = rates
        cost = (input_tokens * rates[0] + output_tokens * rates[1]
                + cache_write_tokens * rates[2] + cache_read_tokens * rates[3])
        # Half-up, like PostgreSQL's round(): ingest estimates in SQL and the two must agree.
        return cost.quantize(_MICRO_USD, rounding=ROUND_HALF_UP)
