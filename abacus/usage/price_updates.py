"""`flask abacus pricing update` and the weekly job: read LiteLLM's published price table,
say what would change against the prices in force today, and store the changes as `updated`
price rows in force from today (org time zone), re-estimating only today onwards.

Which catalog entries count: first-party chat models (Anthropic, OpenAI, Gemini, xAI; no
fine-tunes), by canonical name; a model Abacus ships is read from the catalog keys it was
built from. Models the catalog does not know keep their price. Re-running changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from ..extensions import db
from ..models import ModelPrice
from ..providers.litellm import DEFAULT_URL, describe_url, fetch_catalog
from .ingest import ReestimateResult, reestimate_model
from .prices import org_today, price_history, resolve, row_values
from .pricing import (
    Price,
    canonical_model,
    fix_catalog_price,
    price_from_litellm,
    shipped_litellm_keys,
)

FIRST_PARTY = frozenset({"anthropic", "openai", "gemini", "xai"})
MODES = frozenset({"chat", "responses"})
_DATED_RE = re.compile(r"-(?:[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2})$")
UPDATED_BY = "pricing update"


@dataclass(frozen=True)
class PriceChange:
    model: str
    key: str  # the LiteLLM catalog key read
    old: Price | None  # None: a new model
    new: Price
    override: bool = False  # an override is in force: estimates keep using it


@dataclass
class UpdateReport:
    url: str  # host and path only
    day: date  # the changes are in force from this day
    dry_run: bool
    new: list[PriceChange] = field(default_factory=list)
    changed: list[PriceChange] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "key: why" for unusable entries
    stored: int = 0
    reestimated: list[ReestimateResult] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(r.changed for r in self.reestimated)

    @property
    def days(self) -> int:
        return sum(r.days_refreshed for r in self.reestimated)

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "valid_from": self.day.isoformat(), "dry_run": self.dry_run,
                "new_models": [c.model for c in self.new],
                "changed_models": [c.model for c in self.changed],
                "skipped": self.skipped, "stored": self.stored,
                "reestimated_events": self.events, "reestimated_days": self.days}


def _candidates(catalog: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Canonical model -> its first-party chat catalog keys, the preferred key first."""
    out: dict[str, list[str]] = {}
    for key, entry in catalog.items():
        if (entry.get("mode") in MODES and entry.get("litellm_provider") in FIRST_PARTY
                and not key.startswith("ft:")):
            out.setdefault(canonical_model(key), []).append(key)
    for name, keys in out.items():
        keys.sort(key=lambda k: (k != name, _DATED_RE.search(k) is not None, k))
    return out


_LONG_FIELDS = ("long_threshold", "long_input", "long_output", "long_cache_write",
                "long_cache_write_1h", "long_cache_read")


def _keep_known_tiers(new: Price, old: Price | None) -> Price:
    """A catalog entry without a tier says nothing about it: the tier we have stays (the
    shipped table restores tiers a catalog release dropped, e.g. Sonnet 4.5's long context,
    from the vendors' pages in pricing.md)."""
    if old is None:
        return new
    kept: dict[str, Any] = {}
    if new.long_threshold is None and old.long_threshold is not None:
        kept.update({name: getattr(old, name) for name in _LONG_FIELDS})
    for name in ("cache_write_1h", "fast_multiplier"):
        if getattr(new, name) is None and getattr(old, name) is not None:
            kept[name] = getattr(old, name)
    return replace(new, **kept) if kept else new


def plan_update(catalog: Mapping[str, Mapping[str, Any]], day: date) -> UpdateReport:
    """What storing `catalog` on `day` would change (nothing is written)."""
    report = UpdateReport(url="", day=day, dry_run=True)
    candidates = _candidates(catalog)
    shipped_keys = shipped_litellm_keys()
    history = price_history()
    for model in sorted(set(candidates) | set(shipped_keys)):
        keys = [k for k in shipped_keys.get(model, []) if k in catalog] or candidates.get(model)
        if not keys:
            continue  # the catalog does not price it (e.g. Cursor's auto): keep ours
        rows = history.get(model, [])
        old = resolve([p for p in rows if p.source != "override"], day)
        read: list[tuple[str, Price]] = []
        for key in keys:
            try:
                read.append((key, _keep_known_tiers(fix_catalog_price(key, price_from_litellm(
                    catalog[key], source="updated", valid_from=day)), old)))
            except ValueError as exc:
                report.skipped.append(f"{key}: {exc}")
        if not read:
            continue
        # A shipped model was built from any of its agreeing keys: unchanged if one still is.
        if old is not None and any(old.same_rates(new) for _, new in read):
            continue
        key, new = read[0]
        now = resolve(rows, day)
        override = now is not None and now.source == "override"
        if old is None:
            report.new.append(PriceChange(model, key, None, new, override))
        else:
            report.changed.append(PriceChange(model, key, old, new, override))
    return report


def update_prices(url: str | None = None, dry_run: bool = False,
                  fetch: Callable[[str], Mapping[str, Mapping[str, Any]]] = fetch_catalog
                  ) -> UpdateReport:
    """Fetch the catalog at `url` (default LiteLLM's), store what changed as prices in force
    from today and re-estimate the affected models from today; `dry_run` stores nothing.
    Raises ProviderError (nothing stored) when the URL fails. Caller commits."""
    url = url or DEFAULT_URL
    catalog = fetch(url)
    report = plan_update(catalog, org_today())
    report.url, report.dry_run = describe_url(url), dry_run
    if dry_run:
        return report
    for change in report.new + report.changed:
        row = db.session.query(ModelPrice).filter_by(
            model=change.model, valid_from=report.day, source="updated").one_or_none()
        if row is None:
            row = ModelPrice(model=change.model, valid_from=report.day, source="updated")
            db.session.add(row)
        for name, value in row_values(change.new).items():
            setattr(row, name, value)
        row.note = f"LiteLLM {change.key}"
        row.created_by = UPDATED_BY
        report.stored += 1
    db.session.flush()
    for change in report.new + report.changed:
        result = reestimate_model(change.model, since=report.day)
        if result.examined:
            report.reestimated.append(result)
    return report
