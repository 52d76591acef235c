#!/usr/bin/env python3
"""Build abacus/usage/data/pricing.json from the LiteLLM price catalog.

    python scripts/build_pricing.py [--source PATH] [--out PATH]

Keeps first-party Anthropic, OpenAI coding-model families (GPT-3.5 Turbo to GPT-6, o-series,
codex), Gemini 2.5/3.x and xAI Grok 4 / Grok Code chat models, keyed by canonical model name,
in USD per million tokens, plus Cursor's own models by hand. Known catalog errors and gaps are
fixed here (and listed in `_meta.fixes`), and the result is checked against the vendor prices
transcribed in shared/providers/pricing.md: a mismatch aborts without writing anything.
The output is deterministic, so tests/test_pricing.py can prove the committed file is current.

Every entry has `input`, `output`, `cache_write` (5-minute), `cache_read`. Where the catalog
has them, entries also carry the tiers `abacus.usage.pricing.price_from_entry` reads:
`cache_write_1h` (Anthropic 1-hour write), `long_context_threshold` with `long_*` rates above
it, and `fast_multiplier` (fast / priority mode).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from abacus.usage.pricing import (  # noqa: E402
    CATALOG_FIXES,
    canonical_model,
    fix_catalog_price,
    price_entry,
    price_from_litellm,
)

# A copy of shared/data/litellm_model_prices_and_context_window.json (sha256 in pricing.json),
# kept in the repo so the table can be rebuilt and checked from a clone alone.
DEFAULT_SOURCE = ROOT / "scripts" / "data" / "litellm_model_prices_and_context_window.json"
DEFAULT_OUT = ROOT / "abacus" / "usage" / "data" / "pricing.json"

MODES = frozenset({"chat", "responses"})
OPENAI_FAMILY_RE = re.compile(
    r"(?:gpt-4\.1|gpt-4o|gpt-5|gpt-6|o3|codex-mini)(?:[-.].*)?|gpt-3\.5-turbo(?:-[0-9]{4})?")
# Grok Code and the numbered Grok 4 releases Cursor offers (not the catalog's many beta,
# reasoning and multi-agent variants).
XAI_FAMILY_RE = re.compile(r"grok-code(?:-.*)?|grok-4(?:\.[0-9]+)?")
OPENAI_EXACT = frozenset({"o1", "o4-mini"})
GEMINI_EXACT = frozenset({"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"})
DATED_KEY_RE = re.compile(r"-(?:[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2})$")
FIELDS = ("input", "output", "cache_write", "cache_read")
# Shipped name -> LiteLLM field stem, for the long-context and priority tiers.
# (input, output, cache_write, cache_read) per 1M tokens.
Row = tuple[str, str, str, str]

# Missing from the catalog but still returned by Claude Code Analytics, Cursor and older
# exports: LiteLLM 1.110.2 dropped the first-party keys of the models Anthropic retired (only
# Bedrock/Vertex keys remain) and codex-mini-latest. Prices: pricing.md §2 (Anthropic's pricing
# page, with its 1-hour write column) and §3. Used only while the catalog lacks the model.
MANUAL_GAPS: dict[str, Row] = {
    "haiku-3.5": ("0.80", "4.00", "1.00", "0.08"),
    "sonnet-3.5": ("3", "15", "3.75", "0.30"),
    "sonnet-3.7": ("3", "15", "3.75", "0.30"),
    "sonnet-4": ("3", "15", "3.75", "0.30"),
    "opus-4": ("15", "75", "18.75", "1.50"),
    "opus-4.1": ("15", "75", "18.75", "1.50"),
    "opus-3": ("15", "75", "18.75", "1.50"),
    "haiku-3": ("0.25", "1.25", "0.30", "0.03"),
    # OpenAI: no cache-write charge, so the write rate is the input rate (see catalog_row).
    "codex-mini-latest": ("1.50", "6.00", "1.50", "0.375"),
    # Gemini 3 Pro (preview; 1.110.2 keeps only 3.1): Cursor's model page (cursor.com/docs/
    # models, "Model pricing": input $2, cache write $2, cache read $0.2, output $12).
    "gemini-3-pro": ("2", "12", "2", "0.2"),
}
# The 1-hour write of those manual rows (pricing.md §2's 1h column).
MANUAL_GAP_TIERS: dict[str, dict[str, Any]] = {
    "haiku-3.5": {"cache_write_1h": "1.6"}, "sonnet-3.5": {"cache_write_1h": "6"},
    "sonnet-3.7": {"cache_write_1h": "6"}, "sonnet-4": {"cache_write_1h": "6"},
    "opus-4": {"cache_write_1h": "30"}, "opus-4.1": {"cache_write_1h": "30"},
    "opus-3": {"cache_write_1h": "30"}, "haiku-3": {"cache_write_1h": "0.5"},
}
# Long-context tiers the catalog lacks (1.110.2 dropped Sonnet 4.5's): above 200K input tokens,
# input $6 and output $22.50 (pricing.md §2, confirmed); cache write $7.50 and read $0.60 from
# the catalog entry quoted in pricing.md §1. Used only while the model has no such tier.
_SONNET_LONG_CONTEXT = {"long_context_threshold": 200_000, "long_input": "6",
                        "long_output": "22.50", "long_cache_read": "0.60",
                        "long_cache_write": "7.50"}
LONG_CONTEXT_GAPS: dict[str, dict[str, Any]] = {
    "sonnet-4": _SONNET_LONG_CONTEXT, "sonnet-4.5": _SONNET_LONG_CONTEXT,
}

# Cursor's own models: not LiteLLM models, so always manual.
#   auto:       pricing.md §5 (Cursor pricing docs, in effect from 2025-09-15): input and cache
#               write $1.25, output $6, cache read $0.25.
#   composer-1: Cursor's model page (cursor.com/docs/models, "Model pricing" table; Composer 1
#               input $1.25, cache write $1.25, cache read $0.125, output $10), the same page
#               pricing.md §5 says Cursor bills named models from.
# Composer 1.5 / 2 / 2.5 have no price in the contracts (cursor.md, cursor-dashboard.md §7 list
# only their names), so they stay unpriced: Cursor reports their cost on charged rows, and an
# admin can set a price under Admin -> Pricing.
MANUAL_ALWAYS: dict[str, Row] = {
    "auto": ("1.25", "6.00", "1.25", "0.25"),
    "composer-1": ("1.25", "10.00", "1.25", "0.125"),
}

# 1-hour cache-write errors in the catalog (pricing.md §2: $0.50 and $30 on Anthropic's page):
# the correct rate is shipped, and the fix recorded while the catalog carries the error.
ONE_HOUR_FIXES = {key: str(fix["cache_write_1h"]) for key, fix in CATALOG_FIXES.items()}

# pricing.md §2 (Anthropic, confirmed against Anthropic's pricing page): (in, out, 5m write, read).
# The 1-hour write is 2x input for every one of them (EXPECTED_ONE_HOUR).
EXPECTED_ANTHROPIC: dict[str, Row] = {
    **dict.fromkeys(("opus-4.5", "opus-4.6", "opus-4.7", "opus-4.8"), ("5", "25", "6.25", "0.50")),
    **dict.fromkeys(("opus-4.1", "opus-4", "opus-3"), ("15", "75", "18.75", "1.50")),
    **dict.fromkeys(("sonnet-4.6", "sonnet-4.5", "sonnet-4", "sonnet-3.7"),
                    ("3", "15", "3.75", "0.30")),
    "haiku-4.5": ("1", "5", "1.25", "0.10"),
    "haiku-3.5": ("0.80", "4", "1", "0.08"),
    "haiku-3": ("0.25", "1.25", "0.30", "0.03"),
}
EXPECTED_ONE_HOUR = {name: str(Decimal(row[0]) * 2) for name, row in EXPECTED_ANTHROPIC.items()}
# pricing.md §2 (Sonnet 4/4.5 above 200K) and §4 (Gemini 2.5 Pro above 200K): input, output.
EXPECTED_LONG_CONTEXT: dict[str, tuple[int, str, str]] = {
    "sonnet-4.5": (200_000, "6", "22.50"), "sonnet-4": (200_000, "6", "22.50"),
    "gemini-2.5-pro": (200_000, "2.50", "15.00"),
}
# pricing.md §3/§4 (input, cached input, output). "—" in pricing.md means no cache discount,
# which we ship as cache_read == input.
EXPECTED_OTHER: dict[str, tuple[str, str, str]] = {
    "gpt-4.1": ("2.00", "0.50", "8.00"),
    "gpt-4.1-mini": ("0.40", "0.10", "1.60"),
    "gpt-4.1-nano": ("0.10", "0.025", "0.40"),
    "gpt-4o": ("2.50", "1.25", "10.00"),
    "gpt-4o-2024-05-13": ("5.00", "5.00", "15.00"),
    "gpt-4o-mini": ("0.15", "0.075", "0.60"),
    "o1": ("15.00", "7.50", "60.00"),
    "o3": ("2.00", "0.50", "8.00"),
    "o3-mini": ("1.10", "0.55", "4.40"),
    "o3-pro": ("20.00", "20.00", "80.00"),
    "o4-mini": ("1.10", "0.275", "4.40"),
    **dict.fromkeys(("gpt-5", "gpt-5.1", "gpt-5-codex", "gpt-5.1-codex", "gpt-5.1-codex-max"),
                    ("1.25", "0.125", "10.00")),
    **dict.fromkeys(("gpt-5-mini", "gpt-5.1-codex-mini"), ("0.25", "0.025", "2.00")),
    "gpt-5-nano": ("0.05", "0.005", "0.40"),
    "gpt-5-pro": ("15.00", "15.00", "120.00"),
    **dict.fromkeys(("gpt-5.2", "gpt-5.2-codex", "gpt-5.3-codex"), ("1.75", "0.175", "14.00")),
    "gpt-5.4": ("2.50", "0.25", "15.00"),
    "gpt-5.4-mini": ("0.75", "0.075", "4.50"),
    "gpt-5.4-nano": ("0.20", "0.02", "1.25"),
    "gpt-5.5": ("5.00", "0.50", "30.00"),
    "codex-mini-latest": ("1.50", "0.375", "6.00"),
    "gemini-2.5-pro": ("1.25", "0.125", "10.00"),
    "gemini-2.5-flash": ("0.30", "0.03", "2.50"),
    "gemini-2.5-flash-lite": ("0.10", "0.01", "0.40"),
}


class PriceCheckError(RuntimeError):
    """The built table disagrees with the confirmed vendor prices."""


def per_million(value: Any) -> Decimal:
    """LiteLLM's USD-per-token number as exact USD per 1M tokens (3e-06 -> Decimal('3'))."""
    per_token = value if isinstance(value, Decimal) else Decimal(str(value))
    return (per_token * 1_000_000).normalize()


def fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")  # "f": never "1E+1" for ten dollars


def select(key: str, entry: dict[str, Any]) -> str | None:
    """Canonical name if the catalog entry is one Abacus ships, else None."""
    if not isinstance(entry, dict) or entry.get("mode") not in MODES:
        return None
    provider = entry.get("litellm_provider")
    name = canonical_model(key)
    if provider == "anthropic":
        return name
    if provider == "openai" and (name in OPENAI_EXACT or OPENAI_FAMILY_RE.fullmatch(name)):
        return name
    if provider == "gemini" and (name in GEMINI_EXACT or name.startswith("gemini-3")):
        return name
    if provider == "xai" and XAI_FAMILY_RE.fullmatch(name):
        return name
    return None


def catalog_row(entry: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    inp = per_million(entry["input_cost_per_token"])
    out = per_million(entry["output_cost_per_token"])
    # OpenAI and Gemini do not charge a separate cache write: written tokens cost the input
    # price, which is what the missing field means.
    write = entry.get("cache_creation_input_token_cost")
    read = entry.get("cache_read_input_token_cost")
    return (inp, out, inp if write is None else per_million(write),
            inp if read is None else per_million(read))


def catalog_tiers(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The optional tier fields of a catalog entry (1-hour writes, long context, fast mode)
    in pricing.json's form, read by abacus.usage.pricing.price_from_entry; a known catalog
    error (CATALOG_FIXES: 1-hour writes) is corrected."""
    try:
        price = fix_catalog_price(key, price_from_litellm(entry))
    except ValueError:
        return {}
    return {k: v for k, v in price_entry(price).items() if k not in FIELDS}


def _preference(key: str) -> tuple[bool, str]:
    return (DATED_KEY_RE.search(key) is None, key)  # dated keys first, then by name


def build_document(source: Path) -> dict[str, Any]:
    raw = source.read_bytes()
    catalog = json.loads(raw, parse_float=Decimal)
    groups: dict[str, dict[str, tuple[Decimal, ...]]] = {}
    tiers: dict[str, dict[str, Any]] = {}
    for key, entry in catalog.items():
        name = select(key, entry)
        if name is not None:
            groups.setdefault(name, {})[key] = catalog_row(entry)
            tiers[key] = catalog_tiers(key, entry)

    fixes: list[dict[str, str]] = []
    models: dict[str, dict[str, Any]] = {}
    for name, rows in sorted(groups.items()):
        chosen = min(rows, key=_preference)
        agreeing = sorted(k for k, row in rows.items() if row == rows[chosen])
        if len(agreeing) < len(rows):
            others = sorted(set(rows) - set(agreeing))
            print(f"warning: {name}: catalog keys disagree; using {chosen}, ignoring "
                  f"{', '.join(others)} (a dated id with its own price belongs in "
                  "abacus.usage.pricing.KEEP_DATED)", file=sys.stderr)
            fixes.append({"model": name, "kind": "conflicting_keys", "used": chosen,
                          "ignored": ", ".join(others)})
        # Extra tiers from the chosen key, else from the first agreeing key that has them
        # (a dated key may lack what its alias carries).
        extra = next((tiers[k] for k in [chosen, *agreeing] if tiers[k]), {})
        models[name] = {
            **{field: fmt(v) for field, v in zip(FIELDS, rows[chosen], strict=True)},
            **extra, "source": "litellm", "litellm_keys": agreeing,
        }

    for key, correct in ONE_HOUR_FIXES.items():
        wrong = catalog.get(key, {}).get("cache_creation_input_token_cost_above_1hr")
        if wrong is not None and per_million(wrong) != Decimal(correct):
            fixes.append({
                "model": canonical_model(key), "kind": "catalog_error_fixed",
                "litellm_key": key, "field": "cache_creation_input_token_cost_above_1hr",
                "catalog": fmt(per_million(wrong)), "correct": fmt(Decimal(correct)),
                "note": "Anthropic pricing page (pricing.md section 2); the correct 1h rate "
                        "is shipped",
            })
        if canonical_model(key) in models:
            models[canonical_model(key)]["cache_write_1h"] = fmt(Decimal(correct))

    manual = {name: row for name, row in MANUAL_GAPS.items() if name not in models}
    for name in sorted(manual):
        fixes.append({"model": name, "kind": "missing_from_catalog_added",
                      "note": "vendor pricing page (pricing.md sections 2-3) or Cursor's "
                              "model page (see MANUAL_GAPS)"})
    for name, row in {**manual, **MANUAL_ALWAYS}.items():
        extra = _normalized(MANUAL_GAP_TIERS.get(name, {})) if name in manual else {}
        models[name] = {**{f: fmt(Decimal(v)) for f, v in zip(FIELDS, row, strict=True)},
                        **extra, "source": "manual", "litellm_keys": []}
    for name, tier in sorted(LONG_CONTEXT_GAPS.items()):
        if name in models and "long_context_threshold" not in models[name]:
            models[name].update(_normalized(tier))
            fixes.append({"model": name, "kind": "missing_tier_added", "field": "long_context",
                          "note": "pricing.md sections 1-2 (Sonnet 4/4.5 above 200K tokens)"})

    check(models)
    meta = {
        "source_file": source.name,
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "generated_by": "scripts/build_pricing.py",
        "units": "USD per 1M tokens",
        "cache_write_note": "Anthropic 5-minute write rate; the input price where the vendor "
                            "charges no separate write (OpenAI, Gemini). cache_write_1h: the "
                            "1-hour rate (absent: 2x input); long_*: rates above "
                            "long_context_threshold input tokens per request; "
                            "fast_multiplier: fast / priority mode",
        "fixes": fixes,
    }
    return {"_meta": meta, **models}


def _normalized(value: Any) -> Any:
    """Hand-written tier values in the shipped number format ("22.50" -> "22.5")."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    return fmt(Decimal(value)) if isinstance(value, str) else value


def check(models: dict[str, dict[str, Any]]) -> None:
    """Fail loudly if any confirmed price (pricing.md §2-§5) differs from the built table."""
    expected: dict[str, dict[str, str]] = {
        name: dict(zip(FIELDS, row, strict=True))
        for name, row in {**EXPECTED_ANTHROPIC, **MANUAL_ALWAYS}.items()
    }
    for name, (inp, read, out) in EXPECTED_OTHER.items():
        # No vendor cache-write charge: shipped as the input price (see catalog_row).
        expected[name] = {"input": inp, "output": out, "cache_write": inp, "cache_read": read}
    for name, rate in EXPECTED_ONE_HOUR.items():
        expected[name]["cache_write_1h"] = rate
    problems = []
    for name, want in sorted(expected.items()):
        got = models.get(name)
        if got is None:
            problems.append(f"{name}: missing")
            continue
        for field, value in want.items():
            if got.get(field) is None or Decimal(got[field]) != Decimal(value):
                problems.append(f"{name}.{field}: built {got.get(field)}, expected {value}")
    for name, (threshold, inp, out) in sorted(EXPECTED_LONG_CONTEXT.items()):
        got = models.get(name, {})
        built = (got.get("long_context_threshold"), got.get("long_input"),
                 got.get("long_output"))
        if built[0] != threshold or None in built[1:] or (Decimal(built[1]), Decimal(built[2])) \
                != (Decimal(inp), Decimal(out)):
            problems.append(f"{name}.long_context: built {built}, expected "
                            f"{(threshold, inp, out)}")
    if problems:
        raise PriceCheckError("price check failed:\n  " + "\n  ".join(problems))


def render(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def build(source: Path = DEFAULT_SOURCE, out: Path = DEFAULT_OUT) -> int:
    """Write the table to `out`; returns the number of models. Nothing is written on error."""
    document = build_document(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render(document))
    return len(document) - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="LiteLLM model_prices_and_context_window.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        count = build(args.source, args.out)
    except PriceCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {count} models to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
