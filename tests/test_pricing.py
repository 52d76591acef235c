"""Model-name normalization, shipped prices and cost estimates (pure: no database)."""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abacus.usage.pricing import (
    SHIPPED_PRICES_PATH,
    Price,
    PriceBook,
    canonical_model,
    display_model,
    load_shipped_prices,
)

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "scripts" / "data" / "litellm_model_prices_and_context_window.json"


def _build_script():
    spec = importlib.util.spec_from_file_location("build_pricing", ROOT / "scripts" /
                                                  "build_pricing.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- canonical_model -------------------------------------------------------------------------

# The original's verified table (original-abacus.md §4.4), except that bare versions and
# `default`/`auto` deliberately differ (see test_bare_version_is_not_guessed).
ORIGINAL_TABLE = [
    ("claude-sonnet-4-20250514", "sonnet-4"),
    ("claude-opus-4-5-20251101", "opus-4.5"),
    ("claude-3-5-haiku-20241022", "haiku-3.5"),
    ("claude-3-7-sonnet-20250219", "sonnet-3.7"),
    ("claude-opus-4-1-20250805", "opus-4.1"),
    ("claude-haiku-4-5-20251001", "haiku-4.5"),
    ("claude-sonnet-4-5-20250929[1m]", "sonnet-4.5"),
    ("claude-4.5-sonnet-thinking", "sonnet-4.5"),
    ("claude-4.5-opus-high-thinking", "opus-4.5"),
    ("4-sonnet", "sonnet-4"),
    ("4.5-opus", "opus-4.5"),
    ("sonnet-4 (T)", "sonnet-4"),
    ("opus-4.5 (HT)", "opus-4.5"),
    ("sonnet-4 (Thinking)", "sonnet-4"),
    ("gpt-5", "gpt-5"),
    ("GPT-5-Codex", "gpt-5-codex"),
    ("o3", "o3"),
    ("gemini-2.5-pro", "gemini-2.5-pro"),
    ("composer-1", "composer-1"),
]

# The original's gaps (came out unchanged there) and the other shapes providers send.
GAPS_AND_SHAPES = [
    ("claude-sonnet-4", "sonnet-4"),  # undated
    ("claude-opus-4-5", "opus-4.5"),
    ("claude-sonnet-4-5", "sonnet-4.5"),
    ("claude-sonnet-4-5-thinking", "sonnet-4.5"),  # family-first thinking
    ("claude-opus-4-1-thinking", "opus-4.1"),
    ("claude-3-5-sonnet-20241022-thinking", "sonnet-3.5"),  # dated thinking
    ("claude-4.5-sonnet", "sonnet-4.5"),  # version first
    ("claude-4-sonnet", "sonnet-4"),
    ("claude-4-sonnet-thinking", "sonnet-4"),
    ("claude-4-opus-20250514", "opus-4"),
    ("sonnet-4.5", "sonnet-4.5"),
    ("3-7-sonnet-20250219", "sonnet-3.7"),
    ("claude-3-5-sonnet-latest", "sonnet-3.5"),
    ("claude-sonnet-4-0", "sonnet-4"),  # Anthropic's alias of Sonnet 4
    ("anthropic/claude-sonnet-4-5", "sonnet-4.5"),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "sonnet-4.5"),
    ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "sonnet-3.5"),
    ("vertex_ai/claude-sonnet-4-5@20250929", "sonnet-4.5"),
    ("claude-opus-4-7-thinking-high", "opus-4.7"),
    ("claude-4.6-sonnet-medium-thinking", "sonnet-4.6"),
    ("Claude Opus 5 (Auto Balanced)", "opus-5"),
    ("claude-fable-5", "fable-5"),  # a new family needs no code change
    ("  CLAUDE-SONNET-4-5-20250929  ", "sonnet-4.5"),
]

OTHER_VENDORS = [
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-11-20", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # priced differently from gpt-4o: kept
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4.1-2025-04-14", "gpt-4.1"),
    ("o3-2025-04-16", "o3"),
    ("gpt-5-2025-08-07", "gpt-5"),
    ("gpt-5-codex", "gpt-5-codex"),
    ("gpt-5.1-codex-max", "gpt-5.1-codex-max"),
    ("codex-mini-latest", "codex-mini-latest"),
    ("openai/gpt-4o", "gpt-4o"),
    ("gemini/gemini-2.5-pro", "gemini-2.5-pro"),
    ("models/gemini-2.5-flash", "gemini-2.5-flash"),
    ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
    ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash-preview-09-2025"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("composer-1.5", "composer-1.5"),
]


# Issue 13 "Names": effort and speed suffixes, month-day and OpenAI date suffixes, `-preview`,
# as Cursor, Codex and the vendors' APIs send them (cursor-dashboard.md §7, cursor.md).
SUFFIXED_NAMES = [
    ("gpt-5-high", "gpt-5"),
    ("gpt-5-fast", "gpt-5"),
    ("gpt-5-high-fast", "gpt-5"),
    ("gpt-5-minimal", "gpt-5"),
    ("gpt-5.5-medium", "gpt-5.5"),
    ("gpt-5.4-medium", "gpt-5.4"),
    ("gpt-5.1-codex-high-fast", "gpt-5.1-codex"),
    ("gpt-5.3-codex-xhigh-fast", "gpt-5.3-codex"),
    ("gpt-5.2-codex-low", "gpt-5.2-codex"),
    ("gpt-5.1-codex-max-xhigh", "gpt-5.1-codex-max"),  # codex-max is a model, not "max"
    ("gpt-5.1-codex-mini-medium", "gpt-5.1-codex-mini"),
    ("gpt-5.6-sol-xhigh", "gpt-5.6-sol"),
    ("gpt-5.6-luna-medium", "gpt-5.6-luna"),
    ("o3-mini-high", "o3-mini"),
    ("openai/gpt-5-2025-08-07-high", "gpt-5"),
    ("gemini-2.5-pro-preview-05-06", "gemini-2.5-pro"),
    ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"),
    ("gemini/gemini-3.1-pro-preview", "gemini-3.1-pro"),
    ("gemini-3.1-pro", "gemini-3.1-pro"),  # the same model without -preview
    ("gemini-3-flash-preview", "gemini-3-flash"),
    ("gemini-3-flash", "gemini-3-flash"),
    ("gemini-3-pro-preview", "gemini-3-pro"),
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ("gpt-3.5-turbo-1106", "gpt-3.5-turbo-1106"),  # priced apart from gpt-3.5-turbo: kept
    ("grok-4-0709", "grok-4"),
    ("xai/grok-code-fast-1-0825", "grok-code-fast-1"),
    ("claude-mythos-5", "mythos-5"),
    ("claude-mythos-5-1", "mythos-5.1"),
    ("claude-opus-5-5", "opus-5.5"),
    ("claude-sonnet-5-5-thinking-high", "sonnet-5.5"),
    ("claude-fable-5-1", "fable-5.1"),
    ("claude-mythos-preview", "claude-mythos-preview"),  # a model, not a suffix
]
# Names that look suffixed but are models or must not be guessed.
NOT_SUFFIXES = [
    ("codex-mini-latest", "codex-mini-latest"),
    ("gpt-5-chat-latest", "gpt-5-chat-latest"),
    ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash-preview-09-2025"),  # month-year
    ("gemini-3.1-pro-preview-customtools", "gemini-3.1-pro-preview-customtools"),
    ("gemini-1-5", "gemini-1-5"),  # a version, not a month-day
    ("claude-sonnet-4-5-high-experimental", "claude-sonnet-4-5-high-experimental"),
    ("fast", "fast"),
    ("-fast", "-fast"),
]


@pytest.mark.parametrize(("raw", "expected"), ORIGINAL_TABLE + GAPS_AND_SHAPES + OTHER_VENDORS
                         + SUFFIXED_NAMES + NOT_SUFFIXES)
def test_canonical_model(raw: str, expected: str) -> None:
    assert canonical_model(raw) == expected


# Real-world names that must come out priced: every model id of shared/data/coding-model-prices-
# subset.json, and the ids the contracts list (cursor-dashboard.md §7, cursor.md, anthropic.md).
PRICED_NAMES = [
    "claude-3-7-sonnet-20250219", "claude-3-haiku-20240307", "claude-3-opus-20240229",
    "claude-4-opus-20250514", "claude-4-sonnet-20250514", "claude-haiku-4-5",
    "claude-haiku-4-5-20251001", "claude-opus-4-1", "claude-opus-4-1-20250805",
    "claude-opus-4-20250514", "claude-opus-4-5", "claude-opus-4-5-20251101", "claude-opus-4-6",
    "claude-opus-4-6-20260205", "claude-opus-4-7", "claude-opus-4-7-20260416",
    "claude-opus-4-8", "claude-opus-5", "claude-sonnet-4-20250514", "claude-sonnet-4-5",
    "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-6",
    "claude-sonnet-5", "codex-mini-latest", "gemini-2.5-flash", "gemini-2.5-flash-lite",
    "gemini-2.5-pro", "gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash-lite",
    "gemini/gemini-2.5-pro", "gpt-4.1", "gpt-4.1-2025-04-14", "gpt-4.1-mini",
    "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", "gpt-4o",
    "gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20", "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18", "gpt-5", "gpt-5-2025-08-07", "gpt-5-chat", "gpt-5-chat-latest",
    "gpt-5-codex", "gpt-5-mini", "gpt-5-mini-2025-08-07", "gpt-5-nano",
    "gpt-5-nano-2025-08-07", "gpt-5-pro", "gpt-5-pro-2025-10-06", "gpt-5.1",
    "gpt-5.1-2025-11-13", "gpt-5.1-chat-latest", "gpt-5.1-codex", "gpt-5.1-codex-max",
    "gpt-5.1-codex-mini", "gpt-5.2", "gpt-5.2-2025-12-11", "gpt-5.2-chat-latest",
    "gpt-5.2-codex", "gpt-5.2-pro", "gpt-5.2-pro-2025-12-11", "gpt-5.3-chat-latest",
    "gpt-5.3-codex", "gpt-5.4", "gpt-5.4-2026-03-05", "gpt-5.4-mini",
    "gpt-5.4-mini-2026-03-17", "gpt-5.4-nano", "gpt-5.4-nano-2026-03-17", "gpt-5.4-pro",
    "gpt-5.4-pro-2026-03-05", "gpt-5.5", "gpt-5.5-2026-04-23", "gpt-5.5-pro",
    "gpt-5.5-pro-2026-04-23", "gpt-5.6", "gpt-5.6-luna", "gpt-5.6-sol", "gpt-5.6-terra", "o1",
    "o1-2024-12-17", "o3", "o3-2025-04-16", "o3-mini", "o3-mini-2025-01-31", "o3-pro",
    "o3-pro-2025-06-10", "o4-mini", "o4-mini-2025-04-16",
    # contracts: Cursor events and CSV rows, Claude Code Analytics
    "default", "auto", "composer-1", "claude-4-sonnet", "claude-4-sonnet-thinking",
    "claude-4-opus", "claude-4-opus-thinking", "claude-4.5-sonnet", "claude-4.5-sonnet-thinking",
    "claude-4.5-opus-high-thinking", "claude-4.6-sonnet", "claude-4.6-sonnet-medium",
    "claude-4.6-sonnet-medium-thinking", "claude-4.6-opus-high-thinking",
    "claude-opus-4-7-thinking-high", "claude-opus-4-7-high", "claude-opus-4-8-thinking-high",
    "claude-opus-5-thinking-high", "Claude Opus 5 (Auto Balanced)", "gpt-5-fast",
    "gpt-5.4-medium", "gpt-5.5-medium", "gpt-5.6-sol-high", "gpt-5.6-sol-xhigh",
    "gpt-5.6-luna-medium", "grok-4.6", "grok-4.7", "claude-3-opus",
    "claude-3.5-sonnet", "claude-3.7-sonnet", "claude-3.7-sonnet-thinking",
    "claude-3.7-sonnet-thinking-max", "claude-3-haiku-200k", "o3-mini",
    # issue 13's examples and the current families in LiteLLM 1.110.2
    "gpt-5-high", "gpt-5.1-codex-high-fast", "gpt-5.3-codex-xhigh-fast",
    "gemini-2.5-pro-preview-05-06", "gpt-3.5-turbo-0125", "claude-opus-5-5",
    "claude-sonnet-5-5", "claude-haiku-5-5", "claude-fable-5", "claude-fable-5-1",
    "claude-mythos-5", "claude-mythos-5-1", "claude-mythos-preview", "gpt-6-sol", "gpt-6-luna",
    "gpt-6-astra", "gpt-6.1-sol", "gpt-6.1-terra", "gemini-3.1-pro-preview", "gemini-3-flash",
    "gemini-3.5-flash", "gemini-3.8-flash", "gemini-3.1-flash-lite", "grok-code-fast-1",
]


@pytest.mark.parametrize("raw", PRICED_NAMES)
def test_real_world_names_are_priced(raw: str) -> None:
    assert PriceBook.shipped().lookup(canonical_model(raw)) is not None, canonical_model(raw)


@pytest.mark.parametrize("raw", ["default", "auto", "Auto", " DEFAULT "])
def test_default_and_auto_are_one_model(raw: str) -> None:
    assert canonical_model(raw) == "auto"


@pytest.mark.parametrize("raw", ["", "   ", "unknown", "Unknown"])
def test_missing_model_is_unknown_not_auto(raw: str) -> None:
    # Never priced at Cursor's Auto rates by accident.
    assert canonical_model(raw) == "unknown"


@pytest.mark.parametrize("raw", ["4", "4.5"])
def test_bare_version_is_not_guessed(raw: str) -> None:
    assert canonical_model(raw) == raw


def test_unknown_suffix_is_not_merged_into_a_claude_model() -> None:
    assert canonical_model("claude-sonnet-4-5-experimental") == "claude-sonnet-4-5-experimental"


@pytest.mark.parametrize(("canonical", "label"), [
    ("sonnet-4.5", "Sonnet 4.5"), ("opus-4", "Opus 4"), ("haiku-3.5", "Haiku 3.5"),
    ("auto", "Auto"), ("gpt-5", "gpt-5"), ("gemini-2.5-pro", "gemini-2.5-pro"),
])
def test_display_model(canonical: str, label: str) -> None:
    assert display_model(canonical) == label


@given(st.text(max_size=60))
def test_canonical_model_is_idempotent(raw: str) -> None:
    once = canonical_model(raw)
    assert canonical_model(once) == once


_families = st.sampled_from(["sonnet", "opus", "haiku", "fable"])
_versions = st.tuples(st.integers(1, 9).map(str), st.none() | st.integers(0, 9).map(str))


@given(
    family=_families,
    version=_versions,
    version_first=st.booleans(),
    sep=st.sampled_from(["-", "."]),
    prefix=st.sampled_from(["", "claude-", "anthropic/claude-", "anthropic.claude-",
                            "us.anthropic.claude-", "vertex_ai/claude-", "Claude-"]),
    date=st.sampled_from(["", "-20250929"]),
    modifier=st.sampled_from(["", "-thinking", "-high-thinking", "-latest", "-thinking-high"]),
    suffix=st.sampled_from(["", " (T)", " (HT)", " (Thinking)", "[1m]", "@20250929", "-v1:0"]),
)
def test_anthropic_shaped_ids_are_canonical(family: str, version: tuple[str, str | None],
                                            version_first: bool, sep: str, prefix: str,
                                            date: str, modifier: str, suffix: str) -> None:
    major, minor = version
    ver = major if minor is None else f"{major}{sep}{minor}"
    body = f"{ver}-{family}" if version_first else f"{family}-{ver}"
    raw = f"{prefix}{body}{date}{modifier}{suffix}"
    expected = f"{family}-{major}" if minor in (None, "0") else f"{family}-{major}.{minor}"
    assert canonical_model(raw) == expected
    assert canonical_model(expected) == expected


# --- shipped prices --------------------------------------------------------------------------

def _p(inp: str, out: str, write: str, read: str) -> tuple[Decimal, ...]:
    return Decimal(inp), Decimal(out), Decimal(write), Decimal(read)


@pytest.mark.parametrize(("model", "expected"), [
    # pricing.md §2 (Anthropic): input, output, 5-minute cache write, cache read
    ("opus-4.5", _p("5", "25", "6.25", "0.50")),
    ("opus-4.1", _p("15", "75", "18.75", "1.50")),
    ("opus-4", _p("15", "75", "18.75", "1.50")),
    ("sonnet-4.5", _p("3", "15", "3.75", "0.30")),
    ("sonnet-4", _p("3", "15", "3.75", "0.30")),
    ("sonnet-3.7", _p("3", "15", "3.75", "0.30")),
    ("haiku-4.5", _p("1", "5", "1.25", "0.10")),
    ("haiku-3.5", _p("0.80", "4", "1", "0.08")),
    ("haiku-3", _p("0.25", "1.25", "0.30", "0.03")),
    ("sonnet-3.5", _p("3", "15", "3.75", "0.30")),
    # pricing.md §3 (OpenAI; no cache-write charge, so the write rate is the input rate)
    ("gpt-5", _p("1.25", "10", "1.25", "0.125")),
    ("gpt-5-codex", _p("1.25", "10", "1.25", "0.125")),
    ("gpt-4.1", _p("2", "8", "2", "0.50")),
    ("gpt-4o", _p("2.50", "10", "2.50", "1.25")),
    ("gpt-4o-2024-05-13", _p("5", "15", "5", "5")),
    ("o3", _p("2", "8", "2", "0.50")),
    ("codex-mini-latest", _p("1.50", "6", "1.50", "0.375")),
    # pricing.md §4/§5
    ("gemini-2.5-pro", _p("1.25", "10", "1.25", "0.125")),
    ("auto", _p("1.25", "6", "1.25", "0.25")),
    # Cursor's model page (cursor.com/docs/models), by hand in scripts/build_pricing.py
    ("composer-1", _p("1.25", "10", "1.25", "0.125")),
    ("gemini-3-pro", _p("2", "12", "2", "0.2")),
    # LiteLLM 1.110.2 (pricing.md §2 "catalog-only"): Claude 5 and 5.5
    ("opus-5", _p("5", "25", "6.25", "0.50")),
    ("sonnet-5", _p("2", "10", "2.5", "0.2")),
    ("fable-5", _p("10", "50", "12.5", "1")),
    ("sonnet-5.5", _p("2", "10", "2.5", "0.1")),
    ("opus-5.5", _p("4", "20", "5", "0.2")),
    ("mythos-5", _p("10", "50", "12.5", "1")),
])
def test_shipped_prices(model: str, expected: tuple[Decimal, ...]) -> None:
    price = load_shipped_prices()[model]
    assert (price.input, price.output, price.cache_write, price.cache_read) == expected
    assert price.source == "shipped"


def _shipped_document() -> dict:
    return json.loads(SHIPPED_PRICES_PATH.read_text())


@pytest.mark.parametrize(("model", "one_hour"), [
    ("opus-4.5", "10"), ("opus-4.1", "30"), ("sonnet-4.5", "6"), ("sonnet-4", "6"),
    ("haiku-4.5", "2"), ("haiku-3.5", "1.6"), ("haiku-3", "0.5"), ("opus-3", "30"),
])
def test_one_hour_cache_write_is_shipped_from_pricing_md(model: str, one_hour: str) -> None:
    # pricing.md §2's 1h column; haiku-3 and opus-3 are the catalog's known errors ($6).
    assert Decimal(_shipped_document()[model]["cache_write_1h"]) == Decimal(one_hour)


@pytest.mark.parametrize(("model", "threshold", "inp", "out"), [
    ("sonnet-4.5", 200_000, "6", "22.5"),  # pricing.md §2, though the catalog lost the tier
    ("sonnet-4", 200_000, "6", "22.5"),
    ("gemini-2.5-pro", 200_000, "2.5", "15"),  # pricing.md §4
    ("gpt-5.5", 272_000, "10", "45"),  # catalog: GPT-5.4+ above 272K
    ("haiku-5.5", 100_000, "0.5", "2.5"),
])
def test_long_context_tier_is_shipped(model: str, threshold: int, inp: str, out: str) -> None:
    entry = _shipped_document()[model]
    assert (entry["long_context_threshold"], Decimal(entry["long_input"]),
            Decimal(entry["long_output"])) == (threshold, Decimal(inp), Decimal(out))
    price = load_shipped_prices()[model]  # and the loader reads it
    assert (price.long_threshold, price.long_input) == (threshold, Decimal(inp))


def test_extra_tiers_do_not_change_the_base_price() -> None:
    # The tiers are additive: the base rates stay what the vendor charges a plain request.
    doc, price = _shipped_document(), load_shipped_prices()["gpt-5.5"]
    assert "long_context_threshold" in doc["gpt-5.5"] and "fast_multiplier" in doc["gpt-5.5"]
    assert (price.input, price.output, price.cache_write, price.cache_read) == (
        Decimal(5), Decimal(30), Decimal(5), Decimal("0.5"))


def test_shipped_table_covers_the_current_families() -> None:
    prices = load_shipped_prices()
    for model in ("opus-5.5", "sonnet-5.5", "haiku-5.5", "fable-5", "fable-5.1", "mythos-5",
                  "mythos-5.1", "opus-5", "sonnet-5", "gpt-6-sol", "gpt-6-luna", "gpt-6-astra",
                  "gpt-5.6", "gpt-5.5", "gpt-5.3-codex", "gemini-3.1-pro", "gemini-3-flash",
                  "gemini-3.5-flash", "grok-code-fast-1", "auto", "composer-1"):
        assert model in prices, model


def test_shipped_prices_are_decimals_keyed_by_canonical_name() -> None:
    prices = load_shipped_prices()
    for model, price in prices.items():
        assert canonical_model(model) == model
        assert all(isinstance(v, Decimal) for v in
                   (price.input, price.output, price.cache_write, price.cache_read))


def test_load_shipped_prices_returns_a_copy() -> None:
    load_shipped_prices().pop("sonnet-4.5")
    assert "sonnet-4.5" in load_shipped_prices()


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"_meta": {}, "m-1": {"input": "1", "output": "2",
                                                     "cache_write": "3", "cache_read": "0.1"}}))
    assert load_shipped_prices(path) == {"m-1": Price(Decimal(1), Decimal(2), Decimal(3),
                                                      Decimal("0.1"))}


# --- PriceBook -------------------------------------------------------------------------------

def test_override_wins_over_shipped() -> None:
    override = Price(Decimal("2"), Decimal("9"), Decimal("2.5"), Decimal("0.2"), source="override")
    book = PriceBook(load_shipped_prices(), {"sonnet-4.5": override})
    assert book.lookup("sonnet-4.5") == override
    assert book.estimate("sonnet-4.5", 1_000_000, 0, 0, 0) == Decimal("2.000000")
    assert PriceBook.shipped().lookup("sonnet-4.5").input == Decimal("3")


def test_unknown_model_is_unpriced_not_zero() -> None:
    book = PriceBook.shipped()
    assert book.lookup("composer-2") is None  # no confirmed price in the contracts
    assert book.estimate("composer-2", 1000, 1000, 0, 0) is None


def test_estimate_is_exact_decimal() -> None:
    book = PriceBook.shipped()
    cost = book.estimate("sonnet-4.5", 1_000_000, 0, 0, 0)
    assert cost == Decimal("3.000000") and str(cost) == "3.000000"


def test_estimate_mixed_by_hand() -> None:
    # opus-4.5: 12,345 in * $5 + 6,789 out * $25 + 1,000 write * $6.25 + 250,000 read * $0.50
    #   = 61,725 + 169,725 + 6,250 + 125,000 = 362,700 (USD * 1e6 tokens) -> $0.362700
    assert PriceBook.shipped().estimate("opus-4.5", 12_345, 6_789, 1_000, 250_000) == \
        Decimal("0.362700")


def test_estimate_rounds_half_up_to_micro_dollars_like_postgresql() -> None:
    # gpt-5-nano input $0.05/M: 1 token = $0.00000005 -> 0.000000; 30 tokens = 0.0000015 ->
    # 0.000002; 10 tokens = 0.0000005 -> 0.000001 (half up, as PostgreSQL's round() does in
    # ingest's SQL estimate).
    book = PriceBook.shipped()
    assert book.estimate("gpt-5-nano", 1, 0, 0, 0) == Decimal("0.000000")
    assert book.estimate("gpt-5-nano", 30, 0, 0, 0) == Decimal("0.000002")
    assert book.estimate("gpt-5-nano", 10, 0, 0, 0) == Decimal("0.000001")


def test_estimate_large_counts_stay_exact() -> None:
    cost = PriceBook.shipped().estimate("gpt-4.1-nano", 0, 0, 0, 123_456_789_012)
    assert cost == Decimal("3086.419725")  # 123,456,789,012 * 0.025 / 1e6 = 3086.4197253


# --- the build script ------------------------------------------------------------------------

def test_committed_pricing_json_is_what_the_script_builds(tmp_path: Path) -> None:
    out = tmp_path / "pricing.json"
    _build_script().build(CATALOG, out)
    assert out.read_bytes() == SHIPPED_PRICES_PATH.read_bytes(), (
        "abacus/usage/data/pricing.json is stale or hand-edited: "
        "run python scripts/build_pricing.py")


def _catalog_with(tmp_path: Path, **entries: dict) -> Path:
    catalog = json.loads(CATALOG.read_text())
    catalog.update(entries)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def test_build_prefers_dated_key_on_conflict(tmp_path: Path, capsys) -> None:
    source = _catalog_with(tmp_path, **{"claude-opus-5-20270101": {
        "litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 7e-06,
        "output_cost_per_token": 3.5e-05}})
    doc = _build_script().build_document(source)
    assert doc["opus-5"]["input"] == "7"
    assert doc["opus-5"]["litellm_keys"] == ["claude-opus-5-20270101"]
    assert "warning: opus-5" in capsys.readouterr().err
    assert any(fix["kind"] == "conflicting_keys" for fix in doc["_meta"]["fixes"])


def test_build_fails_loudly_on_a_wrong_confirmed_price(tmp_path: Path, capsys) -> None:
    source = _catalog_with(tmp_path, **{"claude-sonnet-4-5-20250929": {
        "litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 4e-06,
        "output_cost_per_token": 1.5e-05, "cache_creation_input_token_cost": 3.75e-06,
        "cache_read_input_token_cost": 3e-07}})
    out = tmp_path / "pricing.json"
    script = _build_script()
    assert script.main(["--source", str(source), "--out", str(out)]) == 1
    assert "sonnet-4.5.input: built 4, expected 3" in capsys.readouterr().err
    assert not out.exists()
