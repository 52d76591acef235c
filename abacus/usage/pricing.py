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
from dataclasses import dataclass, replace
from datetime import date
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


# The shipped table is the base of every model's price history: it is in force from this day
# until an update or an override says otherwise.
FAR_PAST = date(1970, 1, 1)
PRICE_SOURCES = ("shipped", "updated", "override")
_TWO = Decimal(2)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens, in force from `valid_from` (see abacus/usage/prices.py).

    `cache_write` is the 5-minute write rate; `cache_write_1h` the 1-hour one (None: 2x input,
    Anthropic's rule). A `cache_write` or `cache_read` of None means the model has no such
    tier (an admin left it blank): those tokens, if any are reported, cost the input price.
    Above `long_threshold` input-side tokens (input + cache writes + cache reads) of ONE
    request the `long_*` rates apply; a missing long cache rate scales the base one by
    long_input / input. `fast_multiplier` multiplies every rate of a request made in
    fast / priority mode (None: the provider charges no premium that Abacus knows of).
    """

    input: Decimal
    output: Decimal
    cache_write: Decimal | None
    cache_read: Decimal | None
    source: str = "shipped"  # shipped | updated | override
    cache_write_1h: Decimal | None = None
    long_threshold: int | None = None
    long_input: Decimal | None = None
    long_output: Decimal | None = None
    long_cache_write: Decimal | None = None
    long_cache_write_1h: Decimal | None = None
    long_cache_read: Decimal | None = None
    fast_multiplier: Decimal | None = None
    valid_from: date = FAR_PAST

    @property
    def write_5m(self) -> Decimal:
        return self.cache_write if self.cache_write is not None else self.input

    @property
    def read(self) -> Decimal:
        return self.cache_read if self.cache_read is not None else self.input

    @property
    def write_1h(self) -> Decimal:
        return self.cache_write_1h if self.cache_write_1h is not None else _TWO * self.input

    def rates(self) -> Rates:
        """Every rate spelled out (defaults applied), as ingest's SQL and `estimate` use them."""
        long = None
        if self.long_threshold is not None and self.long_input is not None:
            scale = self.long_input / self.input if self.input else Decimal(1)
            long = (self.long_input,
                    self.long_output if self.long_output is not None else self.output,
                    _q(self.long_cache_write if self.long_cache_write is not None
                       else self.write_5m * scale),
                    _q(self.long_cache_write_1h if self.long_cache_write_1h is not None
                       else _TWO * self.long_input),
                    _q(self.long_cache_read if self.long_cache_read is not None
                       else self.read * scale))
        return Rates((self.input, self.output, self.write_5m, self.write_1h, self.read),
                     self.long_threshold if long else None, long,
                     self.fast_multiplier if self.fast_multiplier is not None else Decimal(1))

    def same_rates(self, other: Price) -> bool:
        """True when both charge the same for every request (source and dates aside)."""
        return self.rates() == other.rates()


@dataclass(frozen=True, slots=True)
class Rates:
    """(input, output, cache write 5m, cache write 1h, cache read) per 1M tokens, the
    long-context ones above `threshold`, and the fast-mode multiplier."""

    base: tuple[Decimal, Decimal, Decimal, Decimal, Decimal]
    threshold: int | None
    long: tuple[Decimal, Decimal, Decimal, Decimal, Decimal] | None
    fast: Decimal


def _q(value: Decimal) -> Decimal:
    return value.quantize(_MICRO_USD, rounding=ROUND_HALF_UP)


def estimate(price: Price, input_tokens: int, output_tokens: int, cache_write_tokens: int,
             cache_read_tokens: int, *, cache_write_1h_tokens: int = 0,
             per_request: bool = False, fast: bool = False) -> Decimal:
    """Cost in USD (6 places, half-up like PostgreSQL's round()) of one event.

    `cache_write_1h_tokens` is the 1-hour part of `cache_write_tokens`. Long-context rates
    apply only to `per_request` events: a per-day aggregate cannot know its requests' sizes
    and stays at the base tier. Must agree with ingest's SQL (`ingest.COST_SQL`).
    """
    r = price.rates()
    w1h = min(max(cache_write_1h_tokens, 0), cache_write_tokens)
    rates = r.base
    if (per_request and r.long is not None and r.threshold is not None
            and input_tokens + cache_write_tokens + cache_read_tokens > r.threshold):
        rates = r.long
    cost = (input_tokens * rates[0] + output_tokens * rates[1]
            + (cache_write_tokens - w1h) * rates[2] + w1h * rates[3]
            + cache_read_tokens * rates[4])
    if fast:
        cost *= r.fast
    return (cost / _PER_MILLION).quantize(_MICRO_USD, rounding=ROUND_HALF_UP)


# Optional fields of a pricing.json entry (USD per 1M tokens unless said otherwise).
_OPTIONAL_RATES = ("cache_write_1h", "long_input", "long_output", "long_cache_write",
                   "long_cache_write_1h", "long_cache_read", "fast_multiplier")


def _optional(entry: Mapping, name: str) -> Decimal | None:
    value = entry.get(name)
    return None if value is None else Decimal(str(value))


def _read_prices(path: Path) -> dict[str, Price]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    prices: dict[str, Price] = {}
    for model, entry in doc.items():
        if model.startswith("_"):  # _meta
            continue
        try:
            prices[model] = price_from_entry(entry)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"{path}: bad price entry for {model!r}: {exc}") from exc
    return prices


def price_from_entry(entry: Mapping, source: str = "shipped",
                     valid_from: date = FAR_PAST) -> Price:
    """A Price from one pricing.json entry: input, output, cache_write (5-minute),
    cache_read, and the optional tier fields (`_OPTIONAL_RATES`, `long_context_threshold`)."""
    threshold = entry.get("long_context_threshold")
    return Price(
        input=Decimal(str(entry["input"])), output=Decimal(str(entry["output"])),
        cache_write=Decimal(str(entry["cache_write"])),
        cache_read=Decimal(str(entry["cache_read"])), source=source,
        long_threshold=None if threshold is None else int(threshold), valid_from=valid_from,
        **{name: _optional(entry, name) for name in _OPTIONAL_RATES})


def price_entry(price: Price) -> dict[str, str | int]:
    """The pricing.json form of a Price (the inverse of `price_from_entry`): plain decimal
    strings, optional fields only when set."""
    out: dict[str, str | int] = {k: _fmt(getattr(price, k))
                                 for k in ("input", "output", "cache_write", "cache_read")}
    for name in _OPTIONAL_RATES:
        value = getattr(price, name)
        if value is not None:
            out[name] = _fmt(value)
    if price.long_threshold is not None:
        out["long_context_threshold"] = price.long_threshold
    return out


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")  # "f": never "1E+1" for ten dollars


# --- LiteLLM's catalog format -----------------------------------------------------------------

_LONG_FIELD_RE = re.compile(r"input_cost_per_token_above_([0-9]{1,5})k_tokens")


def _per_million(value: object) -> Decimal:
    """LiteLLM's USD per token (3e-06) as exact USD per 1M tokens (3)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"not a number: {value!r}")
    try:
        per_token = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"not a number: {value!r}") from None
    if not per_token.is_finite() or per_token < 0:
        raise ValueError(f"not a price: {value!r}")
    return (per_token * _PER_MILLION).normalize()


def price_from_litellm(entry: Mapping, source: str = "updated",
                       valid_from: date = FAR_PAST) -> Price:
    """A Price from one entry of LiteLLM's model_prices_and_context_window.json.

    Raises ValueError naming the field when a rate is missing or not a price. A missing cache
    write means the vendor charges none (OpenAI, Gemini): written tokens cost the input price.
    The long-context tier is the lowest `*_above_<N>k_tokens` one; fast mode is Anthropic's
    `provider_specific_entry.fast`, else the `*_priority` input rate over the base one.
    """
    def rate(name: str) -> Decimal | None:
        value = entry.get(name)
        if value is None:
            return None
        try:
            return _per_million(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    inp, out = rate("input_cost_per_token"), rate("output_cost_per_token")
    if inp is None or out is None:
        missing = "input_cost_per_token" if inp is None else "output_cost_per_token"
        raise ValueError(f"{missing} is missing")
    write, read = rate("cache_creation_input_token_cost"), rate("cache_read_input_token_cost")
    long_threshold = long = None
    tiers = sorted(int(m.group(1)) for k in entry if (m := _LONG_FIELD_RE.fullmatch(k)))
    if tiers:
        n = tiers[0]
        long_threshold = n * 1000
        sfx = f"_above_{n}k_tokens"
        long = (rate("input_cost_per_token" + sfx), rate("output_cost_per_token" + sfx),
                rate("cache_creation_input_token_cost" + sfx),
                rate("cache_creation_input_token_cost_above_1hr" + sfx),
                rate("cache_read_input_token_cost" + sfx))
    fast = None
    specific = entry.get("provider_specific_entry")
    if isinstance(specific, Mapping) and specific.get("fast") is not None:
        fast = Decimal(str(specific["fast"])).normalize()
    elif (priority := rate("input_cost_per_token_priority")) is not None and inp:
        fast = (priority / inp).normalize()
    if fast is not None and (not fast.is_finite() or fast < 1):
        raise ValueError(f"fast multiplier {fast} is not a premium")
    if fast == 1:
        fast = None  # same price in fast mode: nothing to multiply
    return Price(
        input=inp, output=out, cache_write=inp if write is None else write,
        cache_read=inp if read is None else read, source=source,
        cache_write_1h=rate("cache_creation_input_token_cost_above_1hr"),
        long_threshold=long_threshold,
        long_input=long[0] if long else None, long_output=long[1] if long else None,
        long_cache_write=long[2] if long else None, long_cache_write_1h=long[3] if long else None,
        long_cache_read=long[4] if long else None, fast_multiplier=fast, valid_from=valid_from)


@lru_cache(maxsize=1)
def _default_prices() -> dict[str, Price]:
    return _read_prices(SHIPPED_PRICES_PATH)


def load_shipped_prices(path: Path | None = None) -> dict[str, Price]:
    """Prices keyed by canonical model from pricing.json (the shipped file is read once)."""
    if path is None:
        return dict(_default_prices())  # a copy: callers must not mutate the cached table
    return _read_prices(path)


class PriceBook:
    """Shipped prices with admin overrides on top; estimates the cost of token counts.

    A single-day view (no effective dating): the demo and tests use it. Stored events are
    estimated in SQL by `ingest` from the whole price history (`prices.price_segments`).
    """

    def __init__(self, shipped: Mapping[str, Price],
                 overrides: Mapping[str, Price] | None = None) -> None:
        self._prices: dict[str, Price] = {**shipped, **(overrides or {})}

    @classmethod
    def shipped(cls) -> PriceBook:
        return cls(_default_prices())

    def lookup(self, model: str) -> Price | None:
        """Price for a canonical model name; an override wins over the shipped price."""
        return self._prices.get(model)

    def estimate(self, model: str, input_tokens: int, output_tokens: int,
                 cache_write_tokens: int, cache_read_tokens: int, *,
                 cache_write_1h_tokens: int = 0, per_request: bool = False,
                 fast: bool = False) -> Decimal | None:
        """Cost in USD quantized to 6 places, or None when the model has no price (callers
        mark the row unpriced; it must never become $0)."""
        price = self._prices.get(model)
        if price is None:
            return None
        return estimate(price, input_tokens, output_tokens, cache_write_tokens,
                        cache_read_tokens, cache_write_1h_tokens=cache_write_1h_tokens,
                        per_request=per_request, fast=fast)


# Known errors in LiteLLM's catalog, corrected wherever it is read (scripts/build_pricing.py
# and `pricing update`): USD per 1M tokens by catalog key. pricing.md §2: Anthropic's page
# says $0.50 and $30 for these 1-hour cache writes; the catalog says $6.
CATALOG_FIXES: dict[str, dict[str, Decimal]] = {
    "claude-3-haiku-20240307": {"cache_write_1h": Decimal("0.50")},
    "claude-3-opus-20240229": {"cache_write_1h": Decimal("30")},
}


def fix_catalog_price(key: str, price: Price) -> Price:
    """`price` read from catalog entry `key`, with the known catalog errors corrected."""
    fixes = CATALOG_FIXES.get(key)
    return replace(price, **fixes) if fixes else price


def shipped_litellm_keys(path: Path | None = None) -> dict[str, list[str]]:
    """The LiteLLM catalog keys each shipped model was built from (`litellm_keys`), so an
    update reads the same entry again."""
    doc = json.loads((path or SHIPPED_PRICES_PATH).read_text(encoding="utf-8"))
    return {m: list(e.get("litellm_keys") or []) for m, e in doc.items()
            if not m.startswith("_") and isinstance(e, dict)}
